"""The model: a scikit-learn Pipeline of ColumnTransformer preprocessing + the configured estimator.

Preprocessing fits the estimator family. Tree ensembles get median/most-frequent imputation and
ordinal codes (HistGradientBoosting also learns the codes as native categories); every other
estimator (linear, SVM, neighbours, MLP) gets standard scaling and one-hot encoding, which they
need to treat features fairly. The estimator is seeded with `train.seed` unless `train.params`
sets `random_state` itself.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import numpy as np
import pandas as pd

from ml.config import Settings
from ml.errors import ConfigError

_TREE_MODULES = ("sklearn.ensemble", "sklearn.tree", "xgboost", "lightgbm")


def estimator_class(path: str) -> type:
    """Import `train.estimator` (e.g. sklearn.ensemble.HistGradientBoostingClassifier)."""
    module, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"train.estimator: cannot import {path!r} ({e})") from None
    if not inspect.isclass(cls) or not hasattr(cls, "fit"):
        raise ConfigError(f"train.estimator: {path!r} is not an estimator class")
    return cls


def is_tree_model(cls: type) -> bool:
    return cls.__module__.startswith(_TREE_MODULES)


def build_pipeline(settings: Settings) -> Any:
    """An unfitted Pipeline(preprocess, estimator) for the configured features and estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    feats = settings.data.features
    cls = estimator_class(settings.train.estimator)
    params = dict(settings.train.params)
    tree = is_tree_model(cls)
    if tree:
        numeric = SimpleImputer(strategy="median")
        encoder = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, dtype=np.float64
        )
    else:
        numeric = Pipeline(
            [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        )
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    categorical = Pipeline(
        [("impute", SimpleImputer(strategy="most_frequent")), ("encode", encoder)]
    )
    preprocess = ColumnTransformer(
        [
            ("numeric", numeric, list(feats.numeric)),
            ("categorical", categorical, list(feats.categorical)),
        ],
        verbose_feature_names_out=False,
    )
    try:
        accepted = cls().get_params()
    except TypeError:
        accepted = {}
    unknown = sorted(set(params) - set(accepted)) if accepted else []
    if unknown:
        raise ConfigError(
            f"train.params: {', '.join(unknown)} not accepted by {settings.train.estimator} "
            f"(accepted: {', '.join(sorted(accepted))})"
        )
    if "random_state" in accepted and "random_state" not in params:
        params["random_state"] = settings.train.seed
    if cls.__name__.startswith("HistGradientBoosting") and "categorical_features" not in params:
        n = len(feats.numeric)
        params["categorical_features"] = list(range(n, n + len(feats.categorical)))
    return Pipeline([("preprocess", preprocess), ("estimator", cls(**params))])


def feature_frame(frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The model's input: feature columns only, numeric as float64 and categories as str/NaN.

    The same function prepares training data, held-out data and served requests, so a model
    sees one representation everywhere.
    """
    feats = settings.data.features
    out = {}
    for col in feats.numeric:
        out[col] = pd.to_numeric(frame[col], errors="coerce").astype(np.float64)
    for col in feats.categorical:
        values = frame[col].astype(object)
        out[col] = values.where(frame[col].notna(), np.nan)
    return pd.DataFrame(out, index=frame.index)
