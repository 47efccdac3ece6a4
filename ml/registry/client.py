"""ModelRegistry: the small, stable API over MLflow's model registry that every mlci stage uses.

Versions carry their facts as tags (names in ml.registry.tags) and move through aliases
(`challenger` -> `staging` -> `champion`). Errors are MlciErrors: unknown model or version ->
InputError (exit 2), not approved -> NotApproved (exit 3), MLflow down -> ServiceError (exit 4).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ml.common import utc_now
from ml.config import Settings
from ml.errors import InputError, NotApproved
from ml.registry import tags as T
from ml.registry.lock import registry_lock
from ml.registry.tracking import connect, describe_tags, mlflow_errors


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version: what it is, where it came from, and its state."""

    name: str
    version: str
    run_id: str
    source: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    created_at: str = ""

    @property
    def approval(self) -> T.ApprovalStatus:
        raw = self.tags.get(T.APPROVAL_STATUS, T.ApprovalStatus.PENDING)
        try:
            return T.ApprovalStatus(raw)
        except ValueError:
            return T.ApprovalStatus.PENDING

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "source": self.source,
            "aliases": sorted(self.aliases),
            "approval": str(self.approval),
            "created_at": self.created_at,
            "tags": dict(sorted(self.tags.items())),
        }


class ModelRegistry:
    """The registry of `settings.mlflow.model_name` (or any name passed explicitly).

    Every method that takes `name` accepts None for the configured model name.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.uri = settings.tracking_uri
        self._client: Any = None

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        if self._client is None:
            connect(self.settings)
            import mlflow

            self._client = mlflow.MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        return self._client

    def _name(self, name: str | None) -> str:
        return name or self.settings.mlflow.model_name

    def _info(self, mv: Any) -> ModelVersionInfo:
        created = ""
        if getattr(mv, "creation_timestamp", None):
            created = (
                datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC)
                .replace(microsecond=0)
                .isoformat()
                .replace("+00:00", "Z")
            )
        return ModelVersionInfo(
            name=mv.name,
            version=str(mv.version),
            run_id=mv.run_id or "",
            source=mv.source or "",
            tags=dict(mv.tags or {}),
            aliases=list(getattr(mv, "aliases", []) or []),
            created_at=created,
        )

    def _require_model(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        with mlflow_errors(self.uri):
            try:
                self.client.get_registered_model(name)
            except MlflowException as e:
                if e.error_code == "RESOURCE_DOES_NOT_EXIST":
                    raise InputError(
                        f"model {name!r} is not registered in MLflow at {self.uri} "
                        f"(register one with `mlci model register`)"
                    ) from None
                raise

    # -- reading ----------------------------------------------------------------------------
    def get_version(self, name: str | None, version: str | int) -> ModelVersionInfo:
        """The version `version` of model `name`; InputError (exit 2) when either is unknown."""
        from mlflow.exceptions import MlflowException

        name = self._name(name)
        if not str(version).isdigit():
            raise InputError(f"model version must be a number, got {version!r}")
        with mlflow_errors(self.uri):
            try:
                return self._info(self.client.get_model_version(name, str(version)))
            except MlflowException as e:
                if e.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
        self._require_model(name)
        known = ", ".join(v.version for v in self.list_versions(name)) or "none"
        raise InputError(
            f"model {name!r} has no version {version} in MLflow at {self.uri} (versions: {known})"
        )

    def alias_version(self, name: str | None, alias: str) -> ModelVersionInfo | None:
        """The version holding `alias`, or None when no version holds it."""
        from mlflow.exceptions import MlflowException

        name = self._name(name)
        with mlflow_errors(self.uri):
            try:
                model = self.client.get_registered_model(name)
            except MlflowException as e:
                if e.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return None
                raise
            version = (model.aliases or {}).get(alias)
            if version is None:
                return None
            return self._info(self.client.get_model_version(name, str(version)))

    def resolve(self, name: str | None, alias_or_version: str | int) -> ModelVersionInfo:
        """A version number ("3") or an alias ("champion") -> that version; InputError if none."""
        ref = str(alias_or_version)
        if ref.isdigit():
            return self.get_version(name, ref)
        found = self.alias_version(name, ref)
        if found is None:
            self._require_model(self._name(name))
            raise InputError(
                f"model {self._name(name)!r} has no version with alias {ref!r} "
                f"in MLflow at {self.uri}"
            )
        return found

    def champion(self, name: str | None = None) -> ModelVersionInfo | None:
        """The version serving in production (alias `champion`), or None."""
        return self.alias_version(name, T.CHAMPION)

    def list_versions(self, name: str | None = None) -> list[ModelVersionInfo]:
        """Every version of the model, newest first (empty when the model is not registered)."""
        name = self._name(name)
        with mlflow_errors(self.uri):
            found = self.client.search_model_versions(f"name = '{name}'")
            aliases: dict[str, list[str]] = {}
            if found:
                model = self.client.get_registered_model(name)
                for alias, version in (model.aliases or {}).items():
                    aliases.setdefault(str(version), []).append(alias)
        infos = []
        for mv in found:
            info = self._info(mv)
            infos.append(
                ModelVersionInfo(
                    **{**info.__dict__, "aliases": sorted(aliases.get(info.version, []))}
                )
            )
        return sorted(infos, key=lambda v: int(v.version), reverse=True)

    def approval(self, name: str | None, version: str | int) -> T.ApprovalStatus:
        return self.get_version(name, version).approval

    def require_approved(self, name: str | None, version: str | int) -> ModelVersionInfo:
        """The version if approved with a proof that verifies; NotApproved (exit 3) otherwise.

        See ml.registry.approval.require_approved: a bare `approval.status=approved` tag, a proof
        copied from another version or signed by an untrusted key, or a Jenkins input not
        answered by an approver are all refused, each saying why.
        """
        from ml.registry.approval import require_approved

        return require_approved(self.settings, self.get_version(name, version))

    # -- writing ----------------------------------------------------------------------------
    def set_tags(self, name: str | None, version: str | int, tags: dict[str, Any]) -> None:
        """Set model-version tags (values rendered as strings)."""
        info = self.get_version(name, version)
        with mlflow_errors(self.uri):
            for key, value in describe_tags(tags).items():
                self.client.set_model_version_tag(info.name, info.version, key, value)

    def _decide(
        self,
        name: str | None,
        version: str | int,
        status: T.ApprovalStatus,
        by: str,
        reason: str | None,
        prover: Any = None,
    ) -> ModelVersionInfo:
        from ml.registry import approval

        if not by:
            raise InputError("approver unknown: pass --by NAME or set BUILD_USER_ID or USER")
        approval.check_reason(reason)
        info = self.get_version(name, version)
        if status is T.ApprovalStatus.APPROVED and info.approval is T.ApprovalStatus.REJECTED:
            raise NotApproved(
                f"model {info.name!r} version {info.version} was rejected by "
                f"{info.tags.get(T.APPROVAL_BY, '?')} ({info.tags.get(T.APPROVAL_REASON, '')}); "
                f"a rejected version stays rejected: train and register a new one"
            )
        at = utc_now()
        decision = {
            T.APPROVAL_STATUS: str(status),
            T.APPROVAL_BY: by,
            T.APPROVAL_AT: at,
            T.APPROVAL_REASON: reason or "",
        }
        if status is T.ApprovalStatus.APPROVED:
            # The proof first (it may ask Jenkins, or create the local key): a failure there
            # leaves every tag as it was.
            if prover is None:
                from ml.registry.proofs.local import LocalKeyProof

                prover = LocalKeyProof(self.settings)
            statement = approval.Statement.for_version(info, by, at, reason)
            proof = approval.proof_document(prover.kind, statement, prover.issue(statement))
        with registry_lock(self.settings.state_dir, info.name):
            if status is T.ApprovalStatus.APPROVED:
                # Proof first: a reader in between sees a proof that does not match the tags
                # yet, and refuses; never a bare `approved`.
                self.set_tags(info.name, info.version, {T.APPROVAL_PROOF: proof, **decision})
            else:
                if T.APPROVAL_PROOF in info.tags:
                    with mlflow_errors(self.uri):
                        self.client.delete_model_version_tag(
                            info.name, info.version, T.APPROVAL_PROOF
                        )
                self.set_tags(info.name, info.version, decision)
        return self.get_version(info.name, info.version)

    def approve(
        self,
        name: str | None,
        version: str | int,
        by: str,
        reason: str | None = None,
        prover: Any = None,
    ) -> ModelVersionInfo:
        """Record that `by` approved the version (when: now, UTC; why: `reason`) with a proof.

        `prover` is a proof kind from ml.registry.proofs (default: the local approver key,
        created on first use); its evidence is stored in `approval.proof`.
        """
        return self._decide(name, version, T.ApprovalStatus.APPROVED, by, reason, prover)

    def reject(
        self, name: str | None, version: str | int, by: str, reason: str
    ) -> ModelVersionInfo:
        """Record that `by` rejected the version; `reason` is required."""
        if not (reason or "").strip():
            raise InputError("a rejection needs a reason: pass --reason TEXT")
        return self._decide(name, version, T.ApprovalStatus.REJECTED, by, reason)

    def set_alias(
        self, name: str | None, alias: str, version: str | int, require_approval: bool = False
    ) -> ModelVersionInfo | None:
        """Move `alias` to `version` under the registry lock; returns the previous holder.

        The move is one MLflow call, atomic per alias: at every instant exactly one version holds
        it. With `require_approval`, an unapproved version is refused (NotApproved, exit 3).
        """
        name = self._name(name)
        info = self.get_version(name, version)
        with registry_lock(self.settings.state_dir, name):
            if require_approval:
                self.require_approved(name, info.version)
            previous = self.alias_version(name, alias)
            with mlflow_errors(self.uri):
                self.client.set_registered_model_alias(name, alias, info.version)
        return previous

    def promote(
        self, name: str | None, version: str | int, by: str = ""
    ) -> ModelVersionInfo | None:
        """Make an approved version the `champion`; returns the previous champion (or None)."""
        previous = self.set_alias(name, T.CHAMPION, version, require_approval=True)
        self.set_tags(name, version, {T.PROMOTED_BY: by or "unknown", T.PROMOTED_AT: utc_now()})
        return previous

    def register(
        self, model_uri: str, run_id: str, tags: dict[str, Any], name: str | None = None
    ) -> ModelVersionInfo:
        """Create a version from a logged model with its tags, then move `challenger` to it."""
        import mlflow

        name = self._name(name)
        self.client  # noqa: B018 - connects
        with mlflow_errors(self.uri):
            mv = mlflow.register_model(model_uri, name, tags=describe_tags(tags))
        self.set_alias(name, T.CHALLENGER, mv.version)
        return self.get_version(name, mv.version)

    # -- models -----------------------------------------------------------------------------
    def download_model(self, name: str | None, version: str | int, dst: Path) -> Path:
        """Download the version's MLflow model folder (MLmodel, model.skops, ...) into `dst`."""
        import mlflow.artifacts

        info = self.get_version(name, version)
        with mlflow_errors(self.uri, f"model artifacts of {info.name} v{info.version}"):
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{info.name}/{info.version}", dst_path=str(dst)
            )
        return Path(local)

    def load_model(self, name: str | None, version: str | int) -> Any:
        """The version's fitted sklearn Pipeline (skops, loaded with mlci's trusted types)."""
        from ml.registry.serialization import load_pipeline, trusted_types

        info = self.get_version(name, version)
        with tempfile.TemporaryDirectory(prefix="mlci-model-") as tmp:
            return load_pipeline(
                self.download_model(info.name, info.version, Path(tmp)),
                trusted_types(self.settings),
            )


def load_logged_model(settings: Settings, model_uri: str) -> Any:
    """The fitted model logged at `model_uri` (a run's model, registered or not)."""
    import mlflow.artifacts

    from ml.registry.serialization import load_pipeline, trusted_types

    connect(settings)
    with (
        tempfile.TemporaryDirectory(prefix="mlci-model-") as tmp,
        mlflow_errors(settings.tracking_uri, f"model {model_uri}"),
    ):
        local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp)
        return load_pipeline(Path(local), trusted_types(settings))
