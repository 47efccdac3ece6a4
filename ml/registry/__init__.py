"""The model registry API other stages build on (deploy, image, lineage, continuous training).

    from ml.registry import ModelRegistry
    reg = ModelRegistry(settings)
    v = reg.resolve(None, "champion")        # ModelVersionInfo: tags, run_id, source, aliases
    reg.require_approved(None, v.version)    # raises NotApproved (exit 3)
    reg.set_alias(None, STAGING, v.version)  # under the registry lock
    model = reg.load_model(None, v.version)  # the sklearn Pipeline

Names of aliases and tags: ml.registry.tags. Importing this package does not import MLflow.
"""

from ml.registry.client import ModelRegistry, ModelVersionInfo, utc_now
from ml.registry.tags import CHALLENGER, CHAMPION, STAGING, ApprovalStatus, GateVerdict

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "STAGING",
    "ApprovalStatus",
    "GateVerdict",
    "ModelRegistry",
    "ModelVersionInfo",
    "utc_now",
]
