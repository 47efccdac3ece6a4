"""Small real datasets of every task, fitted with Pipelines shaped like ml/train's.

Each case is a scikit-learn dataset as a user would bring it: breast cancer with the labels as
words ("malignant"/"benign"), wine with integer or named classes, diabetes as a regression. A
categorical column is added to each so HistGradientBoosting uses native categorical splits,
which is what mlci's own ONNX converter exists for. The Pipelines are built here, not by
ml.train, so these tests do not depend on how training is configured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Case:
    """A fitted model and its data, as the model registry would hold it."""

    name: str
    model: Any
    X: pd.DataFrame
    y: np.ndarray
    declared: dict[str, Any] | None = None  # the MLmodel's metadata.mlci (contracts.md)
    inputs: list[dict[str, Any]] = field(default_factory=list)


def pipeline(numeric: list[str], categorical: list[str], estimator: Any, tree: bool) -> Any:
    """ColumnTransformer(impute [+ scale], impute + ordinal/one-hot) + estimator, like ml.train."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    if tree:
        num: Any = SimpleImputer(strategy="median")
        enc: Any = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, dtype=np.float64
        )
    else:
        num = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
        enc = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    cat = Pipeline([("impute", SimpleImputer(strategy="most_frequent")), ("encode", enc)])
    pre = ColumnTransformer(
        [("numeric", num, numeric), ("categorical", cat, categorical)],
        verbose_feature_names_out=False,
    )
    return Pipeline([("preprocess", pre), ("estimator", estimator)])


def _frame(bunch: Any) -> pd.DataFrame:
    cols = [c.replace(" ", "_") for c in bunch.feature_names]
    return pd.DataFrame(np.asarray(bunch.data, dtype=np.float64), columns=cols)


def breast_cancer() -> tuple[pd.DataFrame, np.ndarray]:
    """569 rows, labels "malignant"/"benign", plus a categorical `size` (3 levels, some null)."""
    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer()
    X = _frame(b)
    size = pd.cut(X["mean_radius"], [0, 12, 16, 100], labels=["small", "medium", "large"])
    X["size"] = size.astype(object).where(X.index % 17 != 0, np.nan)
    return X, np.asarray(b.target_names)[b.target].astype(object)


def wine() -> tuple[pd.DataFrame, np.ndarray]:
    """178 rows, classes 0/1/2, plus a categorical `hue_band`."""
    from sklearn.datasets import load_wine

    w = load_wine()
    X = _frame(w)
    X["hue_band"] = np.where(X["hue"] > 1.0, "bright", np.where(X["hue"] > 0.7, "mid", "dull"))
    X["hue_band"] = X["hue_band"].astype(object)
    return X, w.target


def diabetes() -> tuple[pd.DataFrame, np.ndarray]:
    """442 rows, target = disease progression (25-346), `sex` as the strings "f"/"m"."""
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    X = _frame(d)
    X["sex"] = np.where(X["sex"] > 0, "m", "f").astype(object)
    return X, d.target


def _split(X: pd.DataFrame) -> tuple[list[str], list[str]]:
    cat = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    return [c for c in X.columns if c not in cat], cat


def hgb(X: pd.DataFrame, regression: bool = False, **params: Any) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    num, cat = _split(X)
    cls = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
    est = cls(categorical_features=list(range(len(num), len(num) + len(cat))), **params)
    return pipeline(num, cat, est, tree=True)


def linear(X: pd.DataFrame, estimator: Any) -> Any:
    num, cat = _split(X)
    return pipeline(num, cat, estimator, tree=False)


def forest(X: pd.DataFrame, estimator: Any) -> Any:
    num, cat = _split(X)
    return pipeline(num, cat, estimator, tree=True)


def fit(name: str, model: Any, X: pd.DataFrame, y: Any, declared: dict | None = None) -> Case:
    from mlflow.models import infer_signature
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # HistGradientBoosting's OpenMP oversubscribes 2 busy cores
        model.fit(X, y)
    inputs = infer_signature(X, model.predict(X)).inputs.to_dict()
    return Case(name, model, X, np.asarray(y), declared, inputs)


def all_cases() -> dict[str, Case]:
    """Every task with the estimator families the parity check must cover."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.svm import LinearSVC

    Xb, yb = breast_cancer()
    Xw, yw = wine()
    Xd, yd = diabetes()
    names = np.array(["barolo", "grignolino", "barbera"], dtype=object)
    declared_b = {
        "task": "binary",
        "classes": ["benign", "malignant"],
        "positive_class": "malignant",
        "target": "diagnosis",
    }
    cases = [
        fit("binary-str-hgb", hgb(Xb, max_iter=40, random_state=0), Xb, yb, declared_b),
        fit(
            "binary-bool-logreg",
            linear(Xb, LogisticRegression(max_iter=2000)),
            Xb,
            yb == "malignant",
        ),
        fit("multiclass-int-hgb", hgb(Xw, max_iter=40, random_state=0), Xw, yw),
        fit(
            "multiclass-str-logreg",
            linear(Xw, LogisticRegression(max_iter=2000)),
            Xw,
            names[yw],
            {"task": "multiclass", "classes": sorted(names.tolist()), "positive_class": None},
        ),
        fit("multiclass-str-svc", linear(Xw, LinearSVC()), Xw, names[yw]),
        fit(
            "regression-hgb",
            hgb(Xd, regression=True, max_iter=60, random_state=0),
            Xd,
            yd,
            {"task": "regression", "classes": None, "positive_class": None},
        ),
        fit(
            "regression-forest",
            forest(Xd, RandomForestRegressor(n_estimators=30, random_state=0)),
            Xd,
            yd,
        ),
        fit("regression-linear", linear(Xd, LinearRegression()), Xd, yd),
    ]
    return {c.name: c for c in cases}
