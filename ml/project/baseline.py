"""Gate thresholds for a new project, derived from what a useless and a real model score.

On a seeded sample of at most SAMPLE_ROWS rows, with K-fold cross-validation (stratified for
classification):
- the **model**: the pipeline `mlci train` will fit (same preprocessing, estimator, params);
- the **useless models**: scikit-learn dummies that ignore the features (classification:
  `prior`, `stratified` and `uniform`; regression: `mean` and `median`). For each metric the
  best of them is the baseline: the most a model can score without learning anything. A model
  trained on shuffled labels is such a model.
Each gate bound sits halfway between the baseline and the model's cross-validated score,
rounded towards the baseline (3 decimals). The first run passes when it scores near its
cross-validated value; a model that learned nothing stays near the baseline and fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

SAMPLE_ROWS = 10_000
FOLDS = 3
POSITION = 0.5  # where the bound sits between baseline (0) and model (1)

# The gated metrics per task: (metric, "min" | "max"). Names from ml.tasks.METRICS.
GATED: dict[str, list[tuple[str, str]]] = {
    "binary": [("roc_auc", "min"), ("f1", "min"), ("log_loss", "max")],
    "multiclass": [("f1_macro", "min"), ("accuracy", "min"), ("log_loss", "max")],
    "regression": [("r2", "min"), ("rmse", "max")],
}
DUMMIES = {
    "classification": ("prior", "stratified", "uniform"),
    "regression": ("mean", "median"),
}


@dataclass
class Threshold:
    metric: str
    side: str  # min | max
    baseline: float
    model: float
    bound: float


@dataclass
class Baseline:
    rows: int  # rows of the sample cross-validated
    folds: int
    model: dict[str, float]
    dummy: dict[str, float]
    thresholds: list[Threshold] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def bounds(self, side: str) -> dict[str, float]:
        return {t.metric: t.bound for t in self.thresholds if t.side == side}


def _sample(frame: pd.DataFrame, y: pd.Series, task: str, rows: int, seed: int) -> pd.Index:
    if len(frame) <= rows:
        return frame.index
    if task == "regression":
        return frame.sample(n=rows, random_state=seed).index
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(frame.index, train_size=rows, random_state=seed, stratify=y)
    return pd.Index(idx)


def _score(task: str, model: Any, x: pd.DataFrame, y: np.ndarray, positive: Any) -> dict:
    from ml.tasks import compute_metrics

    pred = model.predict(x)
    if task == "regression":
        return compute_metrics(task, y, pred)
    classes = list(model.classes_)
    proba = model.predict_proba(x)
    scores = proba[:, classes.index(positive)] if task == "binary" else proba
    return compute_metrics(task, y, pred, scores, classes=classes, positive_class=positive)


def _cv(task: str, make: Any, x: pd.DataFrame, y: np.ndarray, positive: Any, seed: int) -> dict:
    from sklearn.model_selection import KFold, StratifiedKFold

    splitter = (
        KFold(FOLDS, shuffle=True, random_state=seed)
        if task == "regression"
        else StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    )
    folds = []
    for train, test in splitter.split(x, y):
        model = make().fit(x.iloc[train], y[train])
        folds.append(_score(task, model, x.iloc[test], y[test], positive))
    return {m: float(np.mean([f[m] for f in folds])) for m in folds[0]}


def _toward(value: float, base: float, digits: int = 3) -> float:
    """Round `value` to `digits` decimals in the direction of `base` (never stricter)."""
    scale = 10**digits
    f = math.floor if base < value else math.ceil
    return f(value * scale) / scale


def derive_thresholds(
    task: str,
    frame: pd.DataFrame,
    target: str,
    positive_class: Any,
    make_pipeline: Any,
    to_features: Any,
    seed: int,
) -> Baseline:
    """Cross-validate the model and the dummies on a sample; bounds halfway between.

    `make_pipeline()` returns an unfitted pipeline; `to_features(frame)` the model's input.
    """
    from sklearn.dummy import DummyClassifier, DummyRegressor

    from ml.tasks import DIRECTION

    y_all = frame[target]
    idx = _sample(frame, y_all, task, SAMPLE_ROWS, seed)
    part = frame.loc[idx]
    x = to_features(part)
    y = part[target].to_numpy()
    if task == "regression":
        y = y.astype(np.float64)
    from threadpoolctl import threadpool_limits

    # One thread: OpenMP estimators (HistGradientBoosting) slow down many times over when
    # their threads compete with other work for the cores; a small sample needs no more.
    with threadpool_limits(1):
        model = _cv(task, make_pipeline, x, y, positive_class, seed)
    dummy: dict[str, float] = {}
    kinds = DUMMIES["regression" if task == "regression" else "classification"]
    for strategy in kinds:
        if task == "regression":

            def make(s: str = strategy) -> Any:
                return DummyRegressor(strategy=s)
        else:

            def make(s: str = strategy) -> Any:
                return DummyClassifier(strategy=s, random_state=seed)

        scores = _cv(task, make, x, y, positive_class, seed)
        for m, v in scores.items():
            if math.isnan(v):
                continue
            better = m not in dummy or (v - dummy[m]) * DIRECTION[m] > 0
            dummy[m] = v if better else dummy[m]
    out = Baseline(rows=len(part), folds=FOLDS, model=model, dummy=dummy)
    for metric, side in GATED[task]:
        base, got = dummy.get(metric, math.nan), model.get(metric, math.nan)
        if math.isnan(base) or math.isnan(got):
            continue
        gap = (got - base) * DIRECTION[metric]
        if gap <= 0:
            out.warnings.append(
                f"{metric}: the model ({got:.4f}) does not beat a model that ignores the "
                f"features ({base:.4f}); the gate is set at the baseline and the first run will "
                f"likely fail: check the target and the features"
            )
            bound = base
        else:
            bound = _toward(base + POSITION * (got - base), base)
        out.thresholds.append(Threshold(metric, side, base, got, bound))
    return out
