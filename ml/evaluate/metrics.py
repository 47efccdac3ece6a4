"""Classification metrics, computed once from labels and positive-class probabilities."""

from __future__ import annotations

import numpy as np

METRICS = ("roc_auc", "f1", "precision", "recall", "accuracy", "log_loss")
# Direction of "better" for each metric: +1 higher is better, -1 lower is better.
DIRECTION = {"roc_auc": 1, "f1": 1, "precision": 1, "recall": 1, "accuracy": 1, "log_loss": -1}


def compute_metrics(y: np.ndarray, proba: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """ROC AUC, F1, precision, recall, accuracy and log loss of P(y=1) against 0/1 labels."""
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    pred = (proba >= threshold).astype(np.int64)
    both = len(np.unique(y)) > 1
    return {
        "roc_auc": float(roc_auc_score(y, proba)) if both else float("nan"),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "accuracy": float(accuracy_score(y, pred)),
        "log_loss": float(log_loss(y, np.clip(proba, 1e-15, 1 - 1e-15), labels=[0, 1])),
    }


def positive_proba(model: object, X: object) -> np.ndarray:
    return np.asarray(model.predict_proba(X))[:, 1]  # type: ignore[attr-defined]
