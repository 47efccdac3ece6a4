"""The metrics evaluation reports: names and directions per task live in ml.tasks (the config
checks them there); this module keeps the 0/1 binary shorthand."""

from __future__ import annotations

import numpy as np

from ml.tasks import DIRECTION, METRICS
from ml.tasks import compute_metrics as task_metrics

__all__ = ["DIRECTION", "METRICS", "compute_metrics", "task_metrics"]


def compute_metrics(y: np.ndarray, proba: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Binary metrics of P(y=1) against 0/1 labels (predicted 1 when P >= threshold)."""
    y = np.asarray(y)
    pred = (np.asarray(proba) >= threshold).astype(y.dtype if y.dtype.kind in "iu" else np.int64)
    return task_metrics("binary", y, pred, proba, [0, 1], 1)
