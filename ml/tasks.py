"""The learning tasks mlci handles and the metrics of each: names, directions, computation.

The lowest layer of the model core: the config (ml.config) checks metric names against
`METRICS`, and train, evaluate and continuous training all score with `compute_metrics`, so a
metric means the same thing everywhere. Nothing heavy is imported at module level (scikit-learn
is imported inside the functions), so reading the config stays cheap.

Scores handed to `compute_metrics`:
- binary: `scores` is P(positive_class) (or a decision_function margin for an estimator without
  predict_proba: then only the ranking metric roc_auc is defined and log_loss is NaN);
- multiclass: `scores` is the (n, k) predict_proba matrix aligned with `classes` (or None);
- regression: `scores` is unused.
"""

from __future__ import annotations

import math
from typing import Any

TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")

METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "f1", "precision", "recall", "accuracy", "log_loss"),
    "multiclass": ("accuracy", "f1_macro", "f1_weighted", "log_loss", "roc_auc_ovr"),
    "regression": ("rmse", "mae", "r2", "mape"),
}
# Direction of "better": +1 higher is better, -1 lower is better.
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "mape"})
DIRECTION: dict[str, int] = {
    m: (-1 if m in LOWER_IS_BETTER else 1) for names in METRICS.values() for m in names
}
PRIMARY_METRIC: dict[str, str] = {
    "binary": "roc_auc",
    "multiclass": "f1_macro",
    "regression": "rmse",
}
# Metrics that need class probabilities (predict_proba); roc_auc also accepts a margin.
NEEDS_PROBA: dict[str, frozenset[str]] = {
    "binary": frozenset({"log_loss"}),
    "multiclass": frozenset({"log_loss", "roc_auc_ovr"}),
    "regression": frozenset(),
}


def is_classification(task: str) -> bool:
    return task in ("binary", "multiclass")


def compute_metrics(
    task: str,
    y_true: Any,
    y_pred: Any,
    scores: Any = None,
    classes: Any = None,
    positive_class: Any = None,
    scores_are_proba: bool = True,
) -> dict[str, float]:
    """Every metric of `task` (in METRICS order); a metric that cannot be computed is NaN."""
    import numpy as np
    from sklearn import metrics as M

    nan = float("nan")
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if task == "regression":
        yt, yp = y_true.astype(np.float64), y_pred.astype(np.float64)
        return {
            "rmse": float(math.sqrt(M.mean_squared_error(yt, yp))),
            "mae": float(M.mean_absolute_error(yt, yp)),
            "r2": float(M.r2_score(yt, yp)) if len(yt) > 1 else nan,
            "mape": float(M.mean_absolute_percentage_error(yt, yp)),
        }
    if task == "binary":
        pos = y_true == positive_class
        pred_pos = y_pred == positive_class
        both = pos.any() and (~pos).any()
        out = {
            "roc_auc": nan,
            "f1": float(M.f1_score(pos, pred_pos, zero_division=0)),
            "precision": float(M.precision_score(pos, pred_pos, zero_division=0)),
            "recall": float(M.recall_score(pos, pred_pos, zero_division=0)),
            "accuracy": float(M.accuracy_score(y_true, y_pred)),
            "log_loss": nan,
        }
        if scores is not None:
            s = np.asarray(scores, dtype=np.float64)
            if both:
                out["roc_auc"] = float(M.roc_auc_score(pos, s))
            if scores_are_proba:
                p = np.clip(s, 1e-15, 1 - 1e-15)
                out["log_loss"] = float(M.log_loss(pos, p, labels=[False, True]))
        return out
    if task == "multiclass":
        out = {
            "accuracy": float(M.accuracy_score(y_true, y_pred)),
            "f1_macro": float(M.f1_score(y_true, y_pred, average="macro", zero_division=0)),
            "f1_weighted": float(M.f1_score(y_true, y_pred, average="weighted", zero_division=0)),
            "log_loss": nan,
            "roc_auc_ovr": nan,
        }
        if scores is not None and scores_are_proba:
            p = np.asarray(scores, dtype=np.float64)
            labels = list(classes)
            out["log_loss"] = float(M.log_loss(y_true, np.clip(p, 1e-15, 1), labels=labels))
            present = set(np.unique(y_true).tolist())
            if len(present) == len(labels):
                out["roc_auc_ovr"] = float(
                    M.roc_auc_score(y_true, p, multi_class="ovr", labels=labels)
                )
        return out
    raise ValueError(f"unknown task {task!r} (tasks: {', '.join(TASKS)})")


class Predictions:
    """A model's output on some rows, in the shape `compute_metrics` takes.

    - `labels`: predicted labels (the user's values) or numbers (regression);
    - `proba`: (n, k) class probabilities aligned with `classes`, or None;
    - `scores`: binary P(positive_class), or the decision_function margin without predict_proba
      (`scores_are_proba` False); multiclass the `proba` matrix; regression None.
    """

    def __init__(self, model: Any, X: Any, task: str, positive_class: Any = None) -> None:
        import numpy as np

        self.task = task
        self.labels = np.asarray(model.predict(X))
        self.classes: list | None = None
        self.proba = None
        self.scores = None
        self.scores_are_proba = True
        if not is_classification(task):
            return
        self.classes = [c.item() if hasattr(c, "item") else c for c in model.classes_]
        if hasattr(model, "predict_proba"):
            self.proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        if task == "binary":
            pos = self.classes.index(positive_class) if positive_class in self.classes else 1
            if self.proba is not None:
                self.scores = self.proba[:, pos]
            elif hasattr(model, "decision_function"):
                margin = np.asarray(model.decision_function(X), dtype=np.float64)
                self.scores = margin if pos == 1 else -margin
                self.scores_are_proba = False
        else:
            self.scores = self.proba

    def metrics(self, y_true: Any, positive_class: Any = None) -> dict[str, float]:
        return compute_metrics(
            self.task,
            y_true,
            self.labels,
            self.scores,
            self.classes,
            positive_class,
            self.scores_are_proba,
        )
