"""Image labels: the OCI annotation set plus mlci's lineage labels, and reading them back.

Every label value comes from the model version's registry facts (tags, run metrics) or the
build itself; nothing from the environment, so no credential can end up in an image.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

OCI = "org.opencontainers.image"
PREFIX = "org.mlci"

MODEL_NAME = f"{PREFIX}.model.name"
MODEL_VERSION = f"{PREFIX}.model.version"
MODEL_TASK = f"{PREFIX}.model.task"
RUN_ID = f"{PREFIX}.run.id"
DATASET_VERSION = f"{PREFIX}.dataset.version"
DATASET_DIGEST = f"{PREFIX}.dataset.digest"
GIT_COMMIT = f"{PREFIX}.git.commit"
APPROVAL_STATUS = f"{PREFIX}.approval.status"
APPROVAL_BY = f"{PREFIX}.approval.by"
APPROVAL_AT = f"{PREFIX}.approval.at"
LOCK_HASH = f"{PREFIX}.env.lock_hash"
RUNTIME = f"{PREFIX}.runtime"
RUNTIME_REASON = f"{PREFIX}.runtime.reason"
PARITY_MAX_DIFF = f"{PREFIX}.runtime.parity_max_abs_diff"
METRIC_PREFIX = f"{PREFIX}.metrics."
ROLE = f"{PREFIX}.role"


def lineage_labels(
    *,
    name: str,
    version: str,
    run_id: str | None,
    tags: dict[str, str],
    metrics: dict[str, float],
    runtime: str,
    runtime_reason: str,
    parity_max_diff: float | None,
    source_url: str | None,
    created: datetime | None = None,
    task: str = "binary",
) -> dict[str, str]:
    """All labels of a model image. `tags` are the model version's registry tags; `metrics`
    are the run's, whatever the task's metric names are (roc_auc..., f1_macro..., rmse...)."""
    from ml.registry import tags as T

    commit = tags.get(T.GIT_COMMIT, "")
    labels = {
        f"{OCI}.title": name,
        f"{OCI}.version": str(version),
        f"{OCI}.revision": commit,
        f"{OCI}.source": source_url or "",
        f"{OCI}.created": (created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        f"{OCI}.description": f"mlci model server for {name} version {version}",
        ROLE: "model",
        MODEL_NAME: name,
        MODEL_VERSION: str(version),
        MODEL_TASK: task,
        RUN_ID: run_id or "",
        DATASET_VERSION: tags.get(T.DATASET_VERSION, ""),
        DATASET_DIGEST: tags.get(T.DATASET_DIGEST, ""),
        GIT_COMMIT: commit,
        APPROVAL_STATUS: tags.get(T.APPROVAL_STATUS, ""),
        APPROVAL_BY: tags.get(T.APPROVAL_BY, ""),
        APPROVAL_AT: tags.get(T.APPROVAL_AT, ""),
        LOCK_HASH: tags.get(T.LOCK_HASH, ""),
        RUNTIME: runtime,
        RUNTIME_REASON: runtime_reason,
    }
    if parity_max_diff is not None:
        labels[PARITY_MAX_DIFF] = f"{parity_max_diff:.3g}"
    for key, value in sorted(metrics.items()):
        labels[METRIC_PREFIX + key] = f"{value:.6g}"
    return labels


def lineage_view(labels: dict[str, str]) -> dict[str, Any]:
    """The lineage part of an image's labels, grouped for printing (OCI set + org.mlci.*)."""
    return {
        "oci": {k[len(OCI) + 1 :]: v for k, v in sorted(labels.items()) if k.startswith(OCI + ".")},
        "mlci": {
            k[len(PREFIX) + 1 :]: v
            for k, v in sorted(labels.items())
            if k.startswith(PREFIX + ".") and not k.startswith(METRIC_PREFIX)
        },
        "metrics": {
            k[len(METRIC_PREFIX) :]: v
            for k, v in sorted(labels.items())
            if k.startswith(METRIC_PREFIX)
        },
    }
