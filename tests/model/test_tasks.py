"""Tasks and the user's own code: labels of any type, splits, metrics, estimator resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.config import Settings
from ml.errors import ConfigError, InputError
from ml.tasks import compute_metrics
from ml.train.data import labels, positive_class, split_rows
from ml.train.model import build_pipeline


def _settings(root: Path = Path("."), **train) -> Settings:
    return Settings.model_validate(
        {
            "root": root,
            "data": {
                "version": "v",
                "target": "y",
                "features": {"numeric": ["a"], "categorical": ["c"]},
            },
            "train": {"estimator": "sklearn.linear_model.LogisticRegression", **train},
        }
    )


def test_string_labels_and_the_positive_class():
    frame = pd.DataFrame({"y": ["no", "yes", "no", "no"]})
    y = labels(frame, _settings(), "f.csv")
    assert y.tolist() == ["no", "yes", "no", "no"]
    assert positive_class(_settings(), y) == "yes"  # default: the minority class
    # YAML reads an unquoted `yes` as True: it still names the "yes" label.
    assert positive_class(_settings(positive_class=True), y) == "yes"
    assert positive_class(_settings(positive_class="no"), y) == "no"
    with pytest.raises(InputError, match=r"train.positive_class: 'maybe' is not one of"):
        positive_class(_settings(positive_class="maybe"), y)


def test_label_count_must_fit_the_task():
    three = pd.DataFrame({"y": ["a", "b", "c", "a"]})
    with pytest.raises(InputError, match=r"holds 3 distinct value.*set train\.task: multiclass"):
        labels(three, _settings(), "f.csv")
    assert len(set(labels(three, _settings(task="multiclass"), "f.csv"))) == 3
    reg = _settings(task="regression", estimator="sklearn.linear_model.Ridge")
    with pytest.raises(InputError, match=r"must hold finite numbers for train\.task regression"):
        labels(pd.DataFrame({"y": ["1.5", "x"]}), reg, "f.csv")


def test_split_is_stratified_only_for_classification():
    n = 1000
    frame = pd.DataFrame({"y": np.r_[np.ones(100), np.zeros(900)]})
    y = frame["y"].to_numpy()
    cls = split_rows(frame, y.astype(int), _settings())
    assert y[cls.test_idx].sum() == 20  # exactly 10% of the 200 held-out rows
    reg = _settings(task="regression", estimator="sklearn.linear_model.Ridge")
    plain = split_rows(frame, y, reg)
    assert len(plain.test_idx) == 200 and set(cls.test_idx) != set(plain.test_idx)
    assert len(cls.test_ids_sha256) == 64  # no ID column: rows named by position
    assert n == len(cls.train_idx) + len(cls.test_idx)


def test_metrics_per_task():
    y = np.array(["b", "a", "b", "a"], dtype=object)
    m = compute_metrics("binary", y, y, np.array([0.9, 0.2, 0.8, 0.1]), ["a", "b"], "b")
    assert (m["roc_auc"], m["f1"], m["accuracy"]) == (1.0, 1.0, 1.0)
    mc = compute_metrics(
        "multiclass",
        np.array([0, 1, 2, 2]),
        np.array([0, 1, 2, 1]),
        np.eye(3)[[0, 1, 2, 1]] * 0.9 + 0.1 / 3,
        [0, 1, 2],
    )
    assert mc["accuracy"] == 0.75 and set(mc) == {
        "accuracy",
        "f1_macro",
        "f1_weighted",
        "log_loss",
        "roc_auc_ovr",
    }
    r = compute_metrics("regression", np.array([1.0, 2.0]), np.array([2.0, 2.0]))
    assert r["mae"] == 0.5 and r["rmse"] == pytest.approx(np.sqrt(0.5))


def test_factory_from_the_project_root_without_pythonpath(tmp_path: Path):
    pkg = tmp_path / "mymodels"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "churn.py").write_text(
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.pipeline import Pipeline\n"
        "from sklearn.compose import ColumnTransformer\n"
        "from sklearn.preprocessing import OneHotEncoder\n"
        "def make(C=1.0):\n"
        "    pre = ColumnTransformer([('n', 'passthrough', ['a']),\n"
        "                             ('c', OneHotEncoder(handle_unknown='ignore'), ['c'])])\n"
        "    return Pipeline([('pre', pre), ('clf', LogisticRegression(C=C))])\n"
    )
    model = build_pipeline(_settings(tmp_path, estimator="mymodels.churn:make", params={"C": 2}))
    assert [name for name, _ in model.steps] == ["pre", "clf"]  # the user's own Pipeline
    assert model.steps[-1][1].C == 2
    with pytest.raises(ConfigError, match=r"train.params: gamma not accepted by mymodels.churn"):
        build_pipeline(_settings(tmp_path, estimator="mymodels.churn:make", params={"gamma": 1}))
    with pytest.raises(ConfigError) as e:
        build_pipeline(_settings(tmp_path, estimator="mymodels.nope:make"))
    assert f"cannot import module 'mymodels.nope' from the project root {tmp_path}" in str(e.value)


def test_an_estimator_without_predict_proba(tmp_path: Path):
    svc = "sklearn.svm.LinearSVC"
    # binary ranking metrics come from decision_function ...
    build_pipeline(_settings(estimator=svc))
    # ... but log_loss in the gate needs probabilities: refused before any work, naming both.
    s = Settings.model_validate(
        {
            **_settings().model_dump(exclude={"evaluate"}),
            "train": {"estimator": svc},
            "evaluate": {"max": {"log_loss": 0.5}},
        }
    )
    with pytest.raises(ConfigError, match=r"LinearSVC has no predict_proba, which evaluate.max"):
        build_pipeline(s)
    with pytest.raises(ConfigError, match=r"is a regressor but train\.task is binary"):
        build_pipeline(_settings(estimator="sklearn.linear_model.Ridge"))
