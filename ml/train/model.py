"""The model: a scikit-learn Pipeline of ColumnTransformer preprocessing + the configured estimator.

Preprocessing fits the estimator family. Tree ensembles get median/most-frequent imputation and
ordinal codes (HistGradientBoosting also learns the codes as native categories); every other
estimator (linear, SVM, neighbours, MLP) gets standard scaling and one-hot encoding, which they
need to treat features fairly. The estimator is seeded with `train.seed` unless `train.params`
sets `random_state` itself. `train.estimator` may also name a factory in the user's own code
(package.module:function, imported from the project root) returning an estimator or a Pipeline.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ml.config import Settings
from ml.errors import ConfigError

_TREE_MODULES = ("sklearn.ensemble", "sklearn.tree", "xgboost", "lightgbm")


def _import(settings: Settings, module: str) -> Any:
    """Import `module`, looking in the project root first (the user's own code lives there)."""
    root = str(settings.root)
    if root not in sys.path:
        sys.path.insert(0, root)
    from ml.resources import check_import_name

    check_import_name(settings.root, module)  # a project's own `ml` package: a clear error
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(
            f"train.estimator: cannot import module {module!r} from the project root {root} "
            f"or the installed packages ({e.__class__.__name__}: {e})"
        ) from None


def estimator_factory(settings: Settings) -> Callable[..., Any]:
    """The callable `train.estimator` names: a class (package.module.Class) or a factory
    function (package.module:function) that returns an estimator or a whole Pipeline."""
    path = settings.train.estimator
    module, _, name = path.partition(":") if ":" in path else path.rpartition(".")
    obj = getattr(_import(settings, module), name, None)
    if obj is None:
        raise ConfigError(f"train.estimator: module {module!r} has no attribute {name!r}")
    if ":" in path:
        if not callable(obj) or inspect.isclass(obj):
            raise ConfigError(f"train.estimator: {path!r} is not a function")
    elif not inspect.isclass(obj) or not hasattr(obj, "fit"):
        raise ConfigError(f"train.estimator: {path!r} is not an estimator class")
    return obj


def is_tree_model(cls: type) -> bool:
    return cls.__module__.startswith(_TREE_MODULES)


def _accepted(factory: Callable[..., Any]) -> set[str] | None:
    """The parameter names `factory` accepts (None: anything, e.g. **kwargs)."""
    if inspect.isclass(factory):
        try:
            return set(factory().get_params())
        except TypeError:
            return None
    sig = inspect.signature(factory)
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return set(sig.parameters)


def final_estimator(model: Any) -> Any:
    """The last step of a Pipeline (the estimator itself otherwise)."""
    steps = getattr(model, "steps", None)
    return steps[-1][1] if steps else model


def _preprocess(settings: Settings, tree: bool) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    feats = settings.data.features
    if tree:
        numeric: Any = SimpleImputer(strategy="median")
        encoder: Any = OrdinalEncoder(
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
    return ColumnTransformer(
        [
            ("numeric", numeric, list(feats.numeric)),
            ("categorical", categorical, list(feats.categorical)),
        ],
        verbose_feature_names_out=False,
    )


def check_capabilities(settings: Settings, model: Any) -> None:
    """Refuse, before any work, an estimator that cannot give what the task and gate need."""
    from sklearn.base import is_classifier, is_regressor

    task, path = settings.train.task, settings.train.estimator
    est = final_estimator(model)
    if task == "regression":
        if is_classifier(est):
            raise ConfigError(
                f"train.estimator: {path} is a classifier but train.task is regression"
            )
        return
    if is_regressor(est):
        raise ConfigError(f"train.estimator: {path} is a regressor but train.task is {task}")
    if hasattr(model, "predict_proba"):
        return
    need = settings.proba_metrics()
    if task == "binary" and not hasattr(model, "decision_function"):
        need = {**need, **{m: f for m, f in settings.gate_metrics().items() if m == "roc_auc"}}
    if need:
        fields = ", ".join(f"{f}: {m}" for m, f in sorted(need.items()))
        raise ConfigError(
            f"train.estimator: {path} has no predict_proba, which {fields} needs (remove "
            f"those metrics from the gate, or choose an estimator with predict_proba, e.g. "
            f"SVC(probability=True))"
        )


def build_pipeline(settings: Settings) -> Any:
    """An unfitted model for the configured features and estimator.

    A class is wrapped as Pipeline(preprocess, estimator). A factory's result is used as is
    when it is a Pipeline (the user's own preprocessing, fed the configured feature columns),
    else wrapped like a class. `train.params` go to the class or factory; names it does not
    accept are refused here, before any data is read.
    """
    from sklearn.pipeline import Pipeline

    feats = settings.data.features
    factory = estimator_factory(settings)
    params = dict(settings.train.params)
    accepted = _accepted(factory)
    unknown = sorted(set(params) - accepted) if accepted else []
    if unknown:
        raise ConfigError(
            f"train.params: {', '.join(unknown)} not accepted by {settings.train.estimator} "
            f"(accepted: {', '.join(sorted(accepted or ()))}); to drop params inherited "
            f"from mlci.yaml set `train.params: {{}}` (or MLCI_TRAIN__PARAMS={{}})"
        )
    if inspect.isclass(factory):
        if accepted and "random_state" in accepted and "random_state" not in params:
            params["random_state"] = settings.train.seed
        if (
            factory.__name__.startswith("HistGradientBoosting")
            and "categorical_features" not in params
        ):
            n = len(feats.numeric)
            params["categorical_features"] = list(range(n, n + len(feats.categorical)))
        est = factory(**params)
        tree = is_tree_model(factory)
    else:
        if accepted and "seed" in accepted and "seed" not in params:
            params["seed"] = settings.train.seed
        est = factory(**params)
        if isinstance(est, Pipeline):
            check_capabilities(settings, est)
            return est
        if not hasattr(est, "fit"):
            raise ConfigError(
                f"train.estimator: {settings.train.estimator} returned "
                f"{type(est).__name__}, not an estimator or Pipeline"
            )
        tree = is_tree_model(type(est))
    model = Pipeline([("preprocess", _preprocess(settings, tree)), ("estimator", est)])
    check_capabilities(settings, model)
    return model


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
