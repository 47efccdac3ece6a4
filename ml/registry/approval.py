"""Approvals that carry a proof: what `mlci model approve` records and what push/deploy verify.

A version counts as approved only when its `approval.status` tag says `approved` AND its
`approval.proof` tag holds a proof document that verifies:

    {"kind": "local-ed25519" | "jenkins-input",
     "statement": {...the exact facts approved...},
     "evidence": {...what vouches for the statement, per kind...}}

The statement (`Statement`) names the model, version, run id and source URI, the lineage facts
listed in `tags.APPROVED_FACTS`, who approved, when and why. Verification (`require_approved`)
compares it with the version as it is now (a proof copied from another version, or a fact changed
since, is refused), checks the `approval.by/at/reason` tags against it, then hands the evidence
to the proof kind (ml.registry.proofs): a signature by a trusted approver key, or a Jenkins input
answered by an approver, re-read through the Jenkins API. Every refusal is NotApproved (exit 3)
and says why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ml.config import Settings
from ml.errors import InputError, NotApproved
from ml.registry import tags as T

if TYPE_CHECKING:
    from ml.registry.client import ModelVersionInfo

STATEMENT_FORMAT = "mlci.approval/v1"
MAX_PROOF_CHARS = 5000  # MLflow's SQL store keeps model-version tag values in VARCHAR(5000)
MAX_REASON_CHARS = 1000


@dataclass(frozen=True)
class Statement:
    """The facts an approver approves; signed (local) or re-checked (Jenkins) at every use."""

    model: str
    version: str
    run_id: str
    source: str
    by: str
    at: str
    reason: str
    facts: dict[str, str] = field(default_factory=dict)
    decision: str = "approved"
    format: str = STATEMENT_FORMAT

    @classmethod
    def for_version(cls, info: ModelVersionInfo, by: str, at: str, reason: str | None) -> Statement:
        return cls(
            model=info.name,
            version=info.version,
            run_id=info.run_id,
            source=info.source,
            by=by,
            at=at,
            reason=reason or "",
            facts={k: info.tags[k] for k in T.APPROVED_FACTS if k in info.tags},
        )

    @classmethod
    def from_dict(cls, doc: Any) -> Statement:
        if not isinstance(doc, Mapping):
            raise ValueError("the statement is not a JSON object")
        names = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(doc) - names)
        if unknown:
            raise ValueError(f"unknown statement fields {unknown}")
        missing = sorted(
            f for f in ("model", "version", "run_id", "source", "by", "at") if f not in doc
        )
        if missing:
            raise ValueError(f"the statement lacks {missing}")
        if doc.get("format", STATEMENT_FORMAT) != STATEMENT_FORMAT:
            raise ValueError(f"unknown statement format {doc.get('format')!r}")
        facts = doc.get("facts", {})
        if not isinstance(facts, Mapping):
            raise ValueError("statement facts are not a JSON object")
        return cls(
            **{k: str(v) for k, v in doc.items() if k != "facts"},
            facts={str(k): str(v) for k, v in facts.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def canonical(self) -> bytes:
        """The bytes a signature covers: sorted keys, no spaces, UTF-8."""
        return json.dumps(
            self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")

    def describe(self) -> str:
        return f"{self.model!r} version {self.version}"


def proof_document(kind: str, statement: Statement, evidence: dict[str, Any]) -> str:
    """The `approval.proof` tag value; InputError when it would not fit in a tag."""
    text = json.dumps(
        {"kind": kind, "statement": statement.to_dict(), "evidence": evidence},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    if len(text) > MAX_PROOF_CHARS:
        raise InputError(
            f"the approval proof would be {len(text)} characters, more than a model-version "
            f"tag holds ({MAX_PROOF_CHARS}); shorten --reason"
        )
    return text


def check_reason(reason: str | None) -> None:
    if reason and len(reason) > MAX_REASON_CHARS:
        raise InputError(
            f"--reason is {len(reason)} characters; at most {MAX_REASON_CHARS} are recorded"
        )


def _what(info: ModelVersionInfo) -> str:
    return f"model {info.name!r} version {info.version}"


def _status_check(info: ModelVersionInfo) -> None:
    """The recorded decision (the tag) says approved; else the pre-proof messages."""
    if info.approval is not T.ApprovalStatus.APPROVED:
        extra = ""
        if info.approval is T.ApprovalStatus.REJECTED:
            extra = (
                f" (rejected by {info.tags.get(T.APPROVAL_BY, '?')} at "
                f"{info.tags.get(T.APPROVAL_AT, '?')}: "
                f"{info.tags.get(T.APPROVAL_REASON, '')})"
            )
        raise NotApproved(
            f"{_what(info)} is {info.approval}{extra}; "
            f"approve it first with `mlci model approve {info.version} --reason ...`"
        )


def read_proof(info: ModelVersionInfo) -> tuple[str, Statement, dict[str, Any]]:
    """(kind, statement, evidence) from the version's `approval.proof`; NotApproved if absent."""
    again = f"approve it with `mlci model approve {info.name} {info.version} --reason ...`"
    raw = info.tags.get(T.APPROVAL_PROOF)
    if not raw:
        raise NotApproved(
            f"{_what(info)} is tagged {T.APPROVAL_STATUS}=approved but has no "
            f"{T.APPROVAL_PROOF}: a bare tag is not an approval (anyone who can write the "
            f"model's tags can set it); {again}"
        )
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        kind = doc.get("kind")
        if not isinstance(kind, str):
            raise ValueError("no proof kind")
        statement = Statement.from_dict(doc.get("statement"))
        evidence = doc.get("evidence")
        if not isinstance(evidence, dict):
            raise ValueError("no evidence object")
    except ValueError as e:
        raise NotApproved(
            f"{T.APPROVAL_PROOF} of {_what(info)} is not a valid proof document ({e}); {again}"
        ) from None
    return kind, statement, evidence


def compare(statement: Statement, info: ModelVersionInfo) -> None:
    """Refuse when the statement is not about this version as it is now, or a tag disagrees."""
    expected = Statement.for_version(
        info,
        by=info.tags.get(T.APPROVAL_BY, ""),
        at=info.tags.get(T.APPROVAL_AT, ""),
        reason=info.tags.get(T.APPROVAL_REASON, ""),
    )
    identity = [
        f"{f} {getattr(statement, f)!r} (this version: {getattr(expected, f)!r})"
        for f in ("model", "version", "run_id", "source")
        if getattr(statement, f) != getattr(expected, f)
    ]
    if identity:
        raise NotApproved(
            f"the {T.APPROVAL_PROOF} on {_what(info)} approves {statement.describe()}, not this "
            f"version: {'; '.join(identity)}. A proof copied from another version does not count"
        )
    if statement.decision != "approved":
        raise NotApproved(
            f"the {T.APPROVAL_PROOF} on {_what(info)} records the decision "
            f"{statement.decision!r}, not 'approved'"
        )
    tagged = [
        f"{tag}={getattr(expected, f)!r} but the proof says {getattr(statement, f)!r}"
        for tag, f in (
            (T.APPROVAL_BY, "by"),
            (T.APPROVAL_AT, "at"),
            (T.APPROVAL_REASON, "reason"),
        )
        if getattr(statement, f) != getattr(expected, f)
    ]
    changed = [
        f"{k}={expected.facts.get(k)!r} but it was {statement.facts.get(k)!r} when approved"
        for k in sorted(set(statement.facts) | set(expected.facts))
        if statement.facts.get(k) != expected.facts.get(k)
    ]
    if tagged or changed:
        raise NotApproved(
            f"{_what(info)}: the tags disagree with what was approved: "
            f"{'; '.join(tagged + changed)}. The approval no longer matches the version; "
            f"approve it again"
        )


def require_approved(settings: Settings, info: ModelVersionInfo) -> ModelVersionInfo:
    """`info` when its approval is recorded AND proven; NotApproved (exit 3) naming why not.

    The one check `mlci model push`, `mlci deploy` and `mlci model promote` (every alias move
    with `require_approval`) rely on.
    """
    from ml.registry.proofs import verifier

    _status_check(info)
    kind, statement, evidence = read_proof(info)
    accepted = settings.approval.proofs
    if kind not in accepted:
        raise NotApproved(
            f"{_what(info)} was approved with a {kind!r} proof, which this project does not "
            f"accept (approval.proofs in mlci.yaml: {', '.join(accepted) or 'none'})"
        )
    compare(statement, info)
    verifier(kind, settings).verify(statement, evidence)
    return info
