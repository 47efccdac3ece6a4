"""Lineage: from any end of the chain to the others.

    commit ── dataset version + digest ── MLflow run ── model version ── image digest ── deploys

A model version's tags hold the facts (ml.registry.tags); a model image carries the same facts
as labels (ml.image.labels); the deploy history records where each digest ran. This module
joins them and reports every place where two of them disagree (`problems`) or where the
trail cannot be reproduced from git (`warnings`), so a tampered or stale link is
visible rather than silently trusted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ml.config import Settings
from ml.errors import InputError
from ml.registry import ModelRegistry, ModelVersionInfo
from ml.registry import tags as T


@dataclass
class Lineage:
    """The joined trail of one model version, plus any inconsistencies found on the way."""

    model: dict[str, Any]
    code: dict[str, Any]
    data: dict[str, Any]
    run: dict[str, Any]
    image: dict[str, Any]
    deployments: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "code": self.code,
            "data": self.data,
            "run": self.run,
            "image": self.image,
            "deployments": self.deployments,
            "problems": self.problems,
            "warnings": self.warnings,
        }


def _dataset_facts(settings: Settings, tags: dict[str, str], problems: list[str]) -> dict[str, Any]:
    from ml.data.dvc import dvc_md5

    version = tags.get(T.DATASET_VERSION, "")
    digest = tags.get(T.DATASET_DIGEST, "")
    facts: dict[str, Any] = {"version": version, "digest": digest}
    if version:
        path = settings.dataset_path(version)
        facts["path"] = str(path)
        recorded = dvc_md5(path) if path.exists() else None
        facts["dvc_md5"] = recorded
        if recorded and digest and recorded != digest:
            problems.append(
                f"dataset {version}: the model was trained on digest {digest} but "
                f"{path.name}.dvc now records {recorded} (the snapshot changed since training)"
            )
    return facts


def _run_facts(registry: ModelRegistry, run_id: str) -> dict[str, Any]:
    if not run_id:
        return {}
    run = registry.client.get_run(run_id)
    return {
        "id": run_id,
        "experiment_id": run.info.experiment_id,
        "status": run.info.status,
        "params": dict(sorted(run.data.params.items())),
        "metrics": {k: round(v, 6) for k, v in sorted(run.data.metrics.items())},
    }


def _deployments(settings: Settings, name: str, version: str) -> list[dict[str, Any]]:
    from ml.deploy.history import read_history

    return [
        asdict(rec)
        for rec in read_history(settings)
        if rec.model == name and rec.version == version
    ]


def trace_version(settings: Settings, name: str | None, version: str | int) -> Lineage:
    """The full trail of model version `version` of `name` (None: the configured model)."""
    registry = ModelRegistry(settings)
    info = registry.get_version(name, version)
    return _trace(settings, registry, info)


def _trace(settings: Settings, registry: ModelRegistry, info: ModelVersionInfo) -> Lineage:
    tags = info.tags
    problems: list[str] = []
    model = {
        "name": info.name,
        "version": info.version,
        "aliases": sorted(info.aliases),
        "created_at": info.created_at,
        "gate": tags.get(T.GATE_VERDICT, ""),
        "approval": {
            "status": str(info.approval),
            "by": tags.get(T.APPROVAL_BY, ""),
            "at": tags.get(T.APPROVAL_AT, ""),
            "reason": tags.get(T.APPROVAL_REASON, ""),
        },
    }
    code = {
        "commit": tags.get(T.GIT_COMMIT, ""),
        "branch": tags.get(T.GIT_BRANCH, ""),
        "dirty": tags.get(T.GIT_DIRTY, ""),
        "lock_hash": tags.get(T.LOCK_HASH, ""),
    }
    warnings: list[str] = []
    if tags.get(T.GIT_DIRTY) == "true":
        warnings.append(
            f"trained from a dirty work tree at {code['commit'] or 'an unknown commit'}: "
            "uncommitted changes are not reproducible from git"
        )
    image = {"ref": tags.get(T.IMAGE_REF, ""), "digest": tags.get(T.IMAGE_DIGEST, "")}
    run = _run_facts(registry, info.run_id)
    tag_run = tags.get(T.RUN_ID)
    if tag_run and info.run_id and tag_run != info.run_id:
        problems.append(f"tag {T.RUN_ID}={tag_run} differs from the version's run {info.run_id}")
    return Lineage(
        model=model,
        code=code,
        data=_dataset_facts(settings, tags, problems),
        run=run,
        image=image,
        deployments=_deployments(settings, info.name, info.version),
        problems=problems,
        warnings=warnings,
    )


def trace_image(settings: Settings, ref: str) -> Lineage:
    """Start from an image: read its labels, find its model version, and cross-check both."""
    from ml.image import labels as L
    from ml.image.push import inspect_image

    found = inspect_image(ref, settings)
    mlci = found["mlci"]
    name, version = mlci.get("model.name"), mlci.get("model.version")
    if not name or not version:
        raise InputError(
            f"image {ref} has no {L.MODEL_NAME}/{L.MODEL_VERSION} labels: "
            "it was not built by `mlci model build`"
        )
    lineage = trace_version(settings, name, version)
    registry_digest = lineage.image.get("digest")
    repo_digests = [d.split("@", 1)[1] for d in found.get("repo_digests", []) if "@" in d]
    if registry_digest and repo_digests and registry_digest not in repo_digests:
        lineage.problems.append(
            f"image {ref} has digests {', '.join(repo_digests)} but model version {version} "
            f"records {T.IMAGE_DIGEST}={registry_digest}: this is not the image that was pushed"
        )
    for label_key, tag_value, what in [
        ("run.id", lineage.run.get("id", ""), "run id"),
        ("dataset.digest", lineage.data.get("digest", ""), "dataset digest"),
        ("git.commit", lineage.code.get("commit", ""), "git commit"),
    ]:
        label_value = mlci.get(label_key, "")
        if label_value and tag_value and label_value != tag_value:
            lineage.problems.append(
                f"image label {what} {label_value} differs from the registry's {tag_value}"
            )
    lineage.image = {**lineage.image, "inspected": ref, "repo_digests": repo_digests}
    return lineage


def versions_from_commit(settings: Settings, commit: str, name: str | None = None) -> list[Lineage]:
    """Every model version trained from a commit (a prefix of at least 7 hex digits)."""
    if len(commit) < 7 or any(c not in "0123456789abcdef" for c in commit.lower()):
        raise InputError(f"commit {commit!r}: expected at least 7 hexadecimal digits of a git SHA")
    registry = ModelRegistry(settings)
    matches = [
        info
        for info in registry.list_versions(name)
        if info.tags.get(T.GIT_COMMIT, "").lower().startswith(commit.lower())
    ]
    return [_trace(settings, registry, info) for info in matches]
