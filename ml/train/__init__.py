"""Training: fit the configured sklearn Pipeline on the training split and track it in MLflow.

`train_model(settings, source)` is the stage; `build_pipeline`/`feature_frame` (ml.train.model)
define the model and its input, shared with evaluation and serving.
"""

from ml.train.model import build_pipeline, feature_frame
from ml.train.record import RunRecord, read_record
from ml.train.run import TrainResult, train_model

__all__ = [
    "RunRecord",
    "TrainResult",
    "build_pipeline",
    "feature_frame",
    "read_record",
    "train_model",
]
