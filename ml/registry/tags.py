"""The registry vocabulary: every alias and model-version tag mlci reads or writes, in one place.

MLflow 3 uses aliases and tags instead of stages. docs/registry.md explains each entry. Other
modules import these names; no alias or tag string is spelled anywhere else.
"""

from __future__ import annotations

from enum import StrEnum

# Aliases on a registered model
CHALLENGER = "challenger"  # latest version that passed the evaluation gate
CHAMPION = "champion"  # the version serving in production
STAGING = "staging"  # the version serving in staging
ALIASES = (CHALLENGER, STAGING, CHAMPION)


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class GateVerdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"


# Model-version tags
APPROVAL_STATUS = "approval.status"
APPROVAL_BY = "approval.by"
APPROVAL_AT = "approval.at"
APPROVAL_REASON = "approval.reason"
# The proof that makes `approved` count (ml.registry.approval): a JSON document
# {"kind": "local-ed25519" | "jenkins-input", "statement": {...the facts approved...}, ...}.
# A bare `approval.status=approved` without a verifiable proof is refused (exit 3).
APPROVAL_PROOF = "approval.proof"
GIT_COMMIT = "git.commit"
GIT_BRANCH = "git.branch"
GIT_DIRTY = "git.dirty"
DATASET_VERSION = "dataset.version"
DATASET_DIGEST = "dataset.digest"
RUN_ID = "mlflow.run_id"
REGISTERED_AT = "registered.at"
GATE_VERDICT = "gate.verdict"
GATE_PRIMARY_METRIC = "gate.primary_metric"  # "roc_auc=0.8312": the primary metric at the gate
CI_BUILD_URL = "ci.build_url"  # the CI build that registered the version (its published report)
IMAGE_REF = "image.ref"
IMAGE_DIGEST = "image.digest"
LOCK_HASH = "env.lock_hash"
MODEL_TASK = "model.task"  # binary | multiclass | regression (run tag and version tag)
# Reproducibility (docs/reproduce.md): the training-cache key and the environment trained in.
DATASET_NAME = "dataset.name"  # the project's dataset family (`project` in mlci.yaml)
DATASET_DVC = "dataset.dvc"  # the .dvc record of the version, relative to the DVC root ("" none)
CACHE_KEY = "mlci.cache_key"  # sha256 of every input that can change the model (ml/cache)
CACHE_PART = "cache."  # prefix: one tag per key part (cache.code, cache.data, cache.lock...)
ENV_PYTHON = "env.python"  # "CPython 3.11.2"
ENV_PLATFORM = "env.platform"  # "linux x86_64 glibc-2.36"
ENV_STAGE_IMAGE = "env.stage_image"  # image id/digest of the stage image trained in ("" none)
VALIDATION_KEY = "mlci.validation_key"  # data digest + contract + validator passed (ml/cache)
PROMOTED_BY = "promoted.by"  # who last moved `champion` to this version
PROMOTED_AT = "promoted.at"

# Tags on the training run (the same facts, set at training time so a run is traceable even
# before it is registered), plus the run's own bookkeeping.
RUN_DATASET_PATH = "dataset.path"
RUN_SPLIT_TEST_IDS = "split.test_ids_sha256"  # sha256 of the held-out IDs, in split order
RUN_MODEL_URI = "mlci.model_uri"
RUN_STAGE = "mlci.stage"
RUN_LABELS = "mlci.labels"  # JSON {"classes": [...], "positive_class": ...} of a classifier
RUN_TAGS_FROM_TRAINING = (
    MODEL_TASK,
    GIT_COMMIT,
    GIT_BRANCH,
    GIT_DIRTY,
    DATASET_VERSION,
    DATASET_DIGEST,
    LOCK_HASH,
    DATASET_NAME,
    DATASET_DVC,
    CACHE_KEY,
    ENV_PYTHON,
    ENV_PLATFORM,
    ENV_STAGE_IMAGE,
)

# The version facts an approval statement binds (besides name, version, run id and source):
# changing any of them after the approval voids it.
APPROVED_FACTS = (
    GIT_COMMIT,
    DATASET_VERSION,
    DATASET_DIGEST,
    LOCK_HASH,
    GATE_VERDICT,
    GATE_PRIMARY_METRIC,
)
