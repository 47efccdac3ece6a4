"""Behaviour checks (ml.evaluate.behaviour): each passes on a sound model and fails on a model
built to break exactly it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from ml.evaluate.behaviour import BEHAVIOUR_CHECKS, behaviour_checks

NUM, CAT = ["a", "b"], ["colour"]


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {
            "a": rng.normal(size=300),
            "b": rng.normal(size=300),
            "colour": rng.choice(np.array(["red", "green", "blue"], dtype=object), 300),
        }
    )
    y_cls = np.where(X["a"] + (X["colour"] == "red") > 0.3, "yes", "no").astype(object)
    y_reg = 3 * X["a"].to_numpy() - X["b"].to_numpy()
    return X, y_cls, y_reg


def _sound(estimator) -> Pipeline:
    from ml.config import Settings
    from ml.train.model import _preprocess

    settings = Settings.model_validate(
        {
            "data": {
                "version": "v",
                "target": "y",
                "features": {"numeric": NUM, "categorical": CAT},
            },
            "train": {"estimator": "sklearn.linear_model.Ridge"},
        }
    )
    return Pipeline([("preprocess", _preprocess(settings, tree=False)), ("estimator", estimator)])


def _failed(checks) -> set[str]:
    return {c.metric for c in checks if not c.passed}


def _run(model, X, task, classes):
    return behaviour_checks(model, X, task, classes, NUM, CAT)


def test_sound_models_pass_every_check(data):
    X, y_cls, y_reg = data
    clf = _sound(LogisticRegression()).fit(X, y_cls)
    checks = _run(clf, X, "binary", ["no", "yes"])
    assert [c.metric for c in checks] == list(BEHAVIOUR_CHECKS)
    assert _failed(checks) == set()
    reg = _sound(Ridge()).fit(X, y_reg)
    assert _failed(_run(reg, X, "regression", None)) == set()


class _Wrap(BaseEstimator):
    """A fitted sound classifier whose outputs a subclass corrupts."""

    def __init__(self, inner=None):
        self.inner = inner

    @property
    def classes_(self):
        return self.inner.classes_

    def predict_proba(self, X):
        return self.inner.predict_proba(X)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class _WrongLabels(_Wrap, ClassifierMixin):
    def predict(self, X):
        return np.array(["maybe"] * len(X), dtype=object)


class _Unnormalised(_Wrap, ClassifierMixin):
    def predict_proba(self, X):
        return self.inner.predict_proba(X) * 1.5


class _Noisy(_Wrap, ClassifierMixin):
    def predict_proba(self, X):
        p = self.inner.predict_proba(X)
        noise = np.random.default_rng().uniform(0, 0.3, size=len(X))
        q = np.clip(p[:, 1] + noise - 0.15, 0, 1)
        return np.column_stack([1 - q, q])


class _BatchDependent(_Wrap, ClassifierMixin):
    """Scores relative to the batch: a row's answer depends on its neighbours."""

    def predict_proba(self, X):
        p = self.inner.predict_proba(X)[:, 1]
        q = np.clip(p - p.mean() + 0.5, 0, 1)
        return np.column_stack([1 - q, q])


class _PositionDependent(_Wrap, ClassifierMixin):
    def predict_proba(self, X):
        q = (np.arange(len(X)) % 2).astype(float) * 0.8 + 0.1
        return np.column_stack([1 - q, q])


class _NotFinite(BaseEstimator, RegressorMixin):
    def __init__(self, inner=None):
        self.inner = inner

    def predict(self, X):
        out = self.inner.predict(X)
        out[::7] = np.inf
        return out


@pytest.mark.parametrize(
    ("broken", "check"),
    [
        (_WrongLabels, "output_shape"),
        (_Unnormalised, "output_shape"),
        (_Noisy, "deterministic"),
        (_BatchDependent, "batch_vs_single"),
        (_PositionDependent, "row_order"),
    ],
)
def test_a_model_built_to_break_a_check_fails_it(data, broken, check):
    X, y_cls, _ = data
    model = broken(_sound(LogisticRegression()).fit(X, y_cls))
    checks = {c.metric: c for c in _run(model, X, "binary", ["no", "yes"])}
    assert not checks[check].passed
    assert checks[check].message.startswith(f"behaviour.{check}: ")


def test_infinite_regression_outputs_fail_the_shape_check(data):
    X, _, y_reg = data
    model = _NotFinite(_sound(Ridge()).fit(X, y_reg))
    check = {c.metric: c for c in _run(model, X, "regression", None)}["output_shape"]
    assert not check.passed and "not finite" in check.message


def test_a_model_that_cannot_take_missing_values_fails_that_check(data):
    X, y_cls, _ = data
    enc = ColumnTransformer([("n", "passthrough", NUM), ("c", OneHotEncoder(), CAT)])
    model = Pipeline([("p", enc), ("m", LogisticRegression())]).fit(X, y_cls)
    checks = {c.metric: c for c in _run(model, X, "binary", ["no", "yes"])}
    assert not checks["missing_values"].passed
    assert "the model raised ValueError" in checks["missing_values"].message


def test_a_model_that_rejects_unseen_categories_fails_that_check(data):
    X, y_cls, _ = data
    enc = ColumnTransformer(
        [("n", "passthrough", NUM), ("c", OneHotEncoder(handle_unknown="error"), CAT)]
    )
    model = Pipeline([("p", enc), ("m", LogisticRegression())]).fit(X, y_cls)
    checks = {c.metric: c for c in _run(model, X, "binary", ["no", "yes"])}
    assert not checks["unseen_categories"].passed
    assert checks["output_shape"].passed and checks["row_order"].passed
