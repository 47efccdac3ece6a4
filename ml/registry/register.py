"""The register stage: turn an evaluated run into a model version, only if its gate passed."""

from __future__ import annotations

from dataclasses import dataclass

from ml.config import Settings
from ml.errors import GateFailed, InputError
from ml.registry import tags as T
from ml.registry.client import ModelRegistry, ModelVersionInfo, utc_now
from ml.registry.runs import read_record
from ml.registry.tracking import connect, mlflow_errors


@dataclass(frozen=True)
class Registration:
    version: ModelVersionInfo
    created: bool  # False when the run was already registered


def register_run(
    settings: Settings, run_id: str | None = None, build_url: str | None = None
) -> Registration:
    """Register run `run_id` (default: build/train/run.json) as a pending `challenger`.

    Refuses (GateFailed, exit 1; nothing registered) unless `mlci evaluate` logged a passing
    verdict on that run. Registering a run that already has a version returns that version
    (a retried Jenkins stage does not create duplicates). `build_url` (the CI build) is kept
    as the version's `ci.build_url` tag.
    """
    if run_id is None:
        run_id = read_record(settings).run_id
    connect(settings)
    import mlflow

    uri = settings.tracking_uri
    with mlflow_errors(uri, f"run {run_id}"):
        run = mlflow.MlflowClient().get_run(run_id)
    tags = run.data.tags
    if T.RUN_MODEL_URI not in tags:
        raise InputError(f"run {run_id} in MLflow at {uri} was not made by `mlci train`")
    verdict = tags.get(T.GATE_VERDICT)
    if verdict is None:
        raise GateFailed(
            f"run {run_id} has not been evaluated; run `mlci evaluate` first (nothing registered)"
        )
    if verdict != T.GateVerdict.PASSED:
        raise GateFailed(
            f"run {run_id} failed the evaluation gate; refusing to register it "
            f"(see build/evaluate/summary.md)"
        )
    registry = ModelRegistry(settings)
    for existing in registry.list_versions():
        if existing.tags.get(T.RUN_ID) == run_id:  # a retried build: nothing new to register
            return Registration(existing, created=False)
    version_tags = {
        T.APPROVAL_STATUS: T.ApprovalStatus.PENDING,
        T.RUN_ID: run_id,
        T.REGISTERED_AT: utc_now(),
        T.GATE_VERDICT: verdict,
        **{k: tags.get(k, "unknown") for k in T.RUN_TAGS_FROM_TRAINING},
    }
    if T.GATE_PRIMARY_METRIC in tags:
        version_tags[T.GATE_PRIMARY_METRIC] = tags[T.GATE_PRIMARY_METRIC]
    if build_url:
        version_tags[T.CI_BUILD_URL] = build_url
    return Registration(registry.register(tags[T.RUN_MODEL_URI], run_id, version_tags), True)
