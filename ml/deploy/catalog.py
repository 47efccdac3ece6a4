"""The registry facts a deploy reads and the one it writes, in one seam.

Reads: a model version's tags (approval, image.ref, image.digest) and its run's recorded smoke
samples. Writes: the environment alias (`staging`, `champion`) only after the new container
serves. MLflow moves an alias in one call, so there is never a moment with zero or two
versions behind it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.config import Settings
from ml.errors import InputError
from ml.registry import tags

SMOKE_ARTIFACTS = ("evaluate/smoke_samples.json", "smoke_samples.json")


@dataclass(frozen=True)
class VersionFacts:
    name: str
    version: str
    run_id: str | None
    tags: dict[str, str]

    @property
    def image_ref(self) -> str | None:
        return self.tags.get(tags.IMAGE_REF)

    @property
    def image_digest(self) -> str | None:
        return self.tags.get(tags.IMAGE_DIGEST)

    def pinned_image(self) -> str:
        """repository@sha256:… from the pushed image's ref and digest tags (never a tag)."""
        if not self.image_ref or not self.image_digest:
            raise InputError(
                f"{self.name} version {self.version} has no pushed image (tags "
                f"{tags.IMAGE_REF}/{tags.IMAGE_DIGEST} missing); run `mlci model build` and "
                f"`mlci model push` first"
            )
        repo = self.image_ref.split("@", 1)[0]
        last = repo.rsplit("/", 1)[-1]
        if ":" in last:
            repo = repo.rsplit(":", 1)[0]
        return f"{repo}@{self.image_digest}"


class DeployCatalog:
    """Model registry access for deploys, through ml.registry (which holds the alias lock)."""

    def __init__(self, settings: Settings) -> None:
        from ml.registry import ModelRegistry

        self.settings = settings
        self.registry = ModelRegistry(settings)

    @property
    def client(self) -> Any:
        return self.registry.client

    def version(self, name: str, version: str) -> VersionFacts:
        info = self.registry.get_version(name, version)
        return VersionFacts(
            name=info.name, version=info.version, run_id=info.run_id or None, tags=dict(info.tags)
        )

    def require_approved(self, facts: VersionFacts) -> None:
        self.registry.require_approved(facts.name, facts.version)

    def alias_version(self, name: str, alias: str) -> str | None:
        info = self.registry.alias_version(name, alias)
        return info.version if info else None

    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Move the environment alias (one atomic MLflow call, under the registry lock)."""
        self.registry.set_alias(name, alias, version, require_approval=True)

    def smoke_samples_file(self, facts: VersionFacts, dest: Path | None = None) -> Path:
        """Download the recorded smoke samples of the version's run."""
        if not facts.run_id:
            raise InputError(f"{facts.name} version {facts.version} has no source run")
        from mlflow.artifacts import download_artifacts
        from mlflow.exceptions import MlflowException

        dest = dest or Path(tempfile.mkdtemp(prefix="mlci-smoke-"))
        for artifact in SMOKE_ARTIFACTS:
            try:
                return Path(
                    download_artifacts(
                        run_id=facts.run_id,
                        artifact_path=artifact,
                        dst_path=str(dest),
                        tracking_uri=self.settings.tracking_uri,
                    )
                )
            except (MlflowException, OSError):
                continue
        raise InputError(
            f"run {facts.run_id} of {facts.name} version {facts.version} has no "
            f"{' or '.join(SMOKE_ARTIFACTS)}; run `mlci evaluate` so it records smoke samples"
        )
