"""The registry vocabulary: every alias and model-version tag mlci reads or writes, in one place.

MLflow 3 uses aliases and tags instead of stages. docs/registry.md explains each entry.
"""

from __future__ import annotations

from enum import StrEnum

# Aliases on a registered model
CHALLENGER = "challenger"  # latest version that passed the evaluation gate
CHAMPION = "champion"  # the version serving in production
STAGING = "staging"  # the version serving in staging


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


# Model-version tags
APPROVAL_STATUS = "approval.status"
APPROVAL_BY = "approval.by"
APPROVAL_AT = "approval.at"
APPROVAL_REASON = "approval.reason"
GIT_COMMIT = "git.commit"
GIT_BRANCH = "git.branch"
GIT_DIRTY = "git.dirty"
DATASET_VERSION = "dataset.version"
DATASET_DIGEST = "dataset.digest"
RUN_ID = "mlflow.run_id"
REGISTERED_AT = "registered.at"
GATE_VERDICT = "gate.verdict"
IMAGE_REF = "image.ref"
IMAGE_DIGEST = "image.digest"
LOCK_HASH = "env.lock_hash"
