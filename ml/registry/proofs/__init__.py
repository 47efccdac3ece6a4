"""Approval proof kinds: each says who vouches for an approval statement and how to check it.

A kind is a class with a `kind` name, built from the settings, that can

- `issue(statement) -> evidence` when `mlci model approve` records an approval, and
- `verify(statement, evidence)` every time push, deploy or promote relies on it, raising
  NotApproved (exit 3) with the reason when the evidence does not hold.

Shipped kinds:

- `local-ed25519`: evidence = public key + Ed25519 signature of the statement; trusted when
  the key is in approval.trusted_keys (or, with none listed, this machine's key outside CI).
- `jenkins-input`: evidence = build URL, input Id, submitter; trusted when the Jenkins API says
  an approver answered that build's input for this model version.

A GitLab or GitHub deployment approval fits the same shape (docs/registry.md): evidence = the
deployment or environment approval id, verified through that engine's API against its
configured approvers. Register a new kind in `KINDS`.
"""

from __future__ import annotations

from typing import Any, Protocol

from ml.config import Settings
from ml.registry.approval import Statement


class ProofKind(Protocol):
    kind: str

    def issue(self, statement: Statement) -> dict[str, Any]: ...

    def verify(self, statement: Statement, evidence: dict[str, Any]) -> None: ...


def _kinds() -> dict[str, type]:
    from ml.registry.proofs.jenkins import JenkinsInputProof
    from ml.registry.proofs.local import LocalKeyProof

    return {LocalKeyProof.kind: LocalKeyProof, JenkinsInputProof.kind: JenkinsInputProof}


KINDS = ("local-ed25519", "jenkins-input")


def verifier(kind: str, settings: Settings) -> ProofKind:
    """The proof kind named `kind`, ready to verify; ValueError for an unknown kind."""
    try:
        cls = _kinds()[kind]
    except KeyError:
        raise ValueError(
            f"unknown approval proof kind {kind!r} (known: {', '.join(KINDS)})"
        ) from None
    return cls(settings)
