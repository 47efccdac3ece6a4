"""Bring your own data: scikit-learn's own datasets (string labels, multiclass, regression)
through train and evaluate with a hand-written mlci.yaml, and a model trained on shuffled
labels failing the gate. Validation has its own tests (tests/data); here it is skipped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.model.conftest import mlci


def _project(root: Path, name: str, shuffle: bool = False) -> Path:
    from sklearn import datasets

    if name == "cancer":
        frame = datasets.load_breast_cancer(as_frame=True).frame
        frame["target"] = np.where(frame["target"] == 0, "malignant", "benign")
        train = {"task": "binary", "positive_class": "malignant"}
        est = ("sklearn.linear_model.LogisticRegression", {"max_iter": 2000})
        gate = {"min": {"roc_auc": 0.9, "accuracy": 0.85}}
    elif name == "wine":
        frame = datasets.load_wine(as_frame=True).frame
        frame["target"] = frame["target"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
        train = {"task": "multiclass"}
        est = ("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 50})
        gate = {"min": {"f1_macro": 0.8}, "max": {"log_loss": 0.6}}
    else:
        frame = datasets.load_diabetes(as_frame=True, scaled=False).frame
        frame["sex"] = frame["sex"].map({1.0: "F", 2.0: "M"})
        train = {"task": "regression"}
        est = ("sklearn.linear_model.Ridge", {"alpha": 1.0})
        gate = {"max": {"rmse": 65.0}, "min": {"r2": 0.3}}
    frame.columns = [c.replace(" ", "_").replace("/", "_") for c in frame.columns]
    if shuffle:
        frame["target"] = np.random.default_rng(0).permutation(frame["target"].to_numpy())
    feats = [c for c in frame.columns if c != "target"]
    categorical = [c for c in feats if frame[c].dtype == object]
    (root / "data").mkdir(parents=True)
    frame.to_csv(root / "data/v1.csv", index=False)
    config = {
        "project": name,
        "data": {
            "dir": "data",
            "version": "v1",
            "contract": "contract.yaml",
            "target": "target",
            "features": {
                "numeric": [c for c in feats if c not in categorical],
                "categorical": categorical,
            },
            "test_size": 0.25,
        },
        "train": {**train, "seed": 0, "estimator": est[0], "params": est[1]},
        "evaluate": gate,
        "mlflow": {"experiment": name, "model_name": f"{name}-model"},
    }
    (root / "mlci.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root / "mlci.yaml"


# The model tests' fast setting (MLCI_TRAIN__PARAMS__MAX_ITER) is for the churn estimator.
OWN_PARAMS = {"MLCI_TRAIN__PARAMS__MAX_ITER": None}


def _train_and_evaluate(config: Path) -> tuple[int, dict]:
    train = mlci(config, "train", env=OWN_PARAMS)
    assert train.exit_code == 0, train.output
    result = mlci(config, "evaluate", env=OWN_PARAMS)
    metrics = json.loads((config.parent / "build/evaluate/metrics.json").read_text())
    return result.exit_code, metrics


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "task", "metric_names"),
    [
        ("cancer", "binary", {"roc_auc", "f1", "precision", "recall", "accuracy", "log_loss"}),
        ("wine", "multiclass", {"accuracy", "f1_macro", "f1_weighted", "log_loss", "roc_auc_ovr"}),
        ("diabetes", "regression", {"rmse", "mae", "r2", "mape"}),
    ],
)
def test_each_task_passes_and_shuffled_labels_fail_the_gate(tmp_path, name, task, metric_names):
    code, metrics = _train_and_evaluate(_project(tmp_path / "real", name))
    assert code == 0, metrics["checks"]
    assert metrics["task"] == task and set(metrics["metrics"]) == metric_names
    assert all(c["passed"] for c in metrics["checks"])
    assert {c["name"] for c in metrics["checks"] if c["kind"] == "behaviour"} == {
        "behaviour.output_shape",
        "behaviour.deterministic",
        "behaviour.batch_vs_single",
        "behaviour.row_order",
        "behaviour.missing_values",
        "behaviour.unseen_categories",
    }
    out = tmp_path / "real/build/evaluate"
    smoke = json.loads((out / "smoke_samples.json").read_text())
    assert smoke["task"] == task and smoke["samples"][0]["id"] is None
    if task == "regression":
        assert smoke["classes"] is None and isinstance(smoke["samples"][0]["prediction"], float)
        assert (out / "predicted_vs_actual.png").exists() and (out / "residuals.png").exists()
    else:
        assert {s["prediction"] for s in smoke["samples"]} <= set(smoke["classes"])
        assert all(isinstance(c, str) for c in smoke["classes"])  # the user's own labels
        assert (out / "confusion_matrix.png").exists()

    code, shuffled = _train_and_evaluate(_project(tmp_path / "shuffled", name, shuffle=True))
    assert code == 1
    assert shuffled["verdict"] == "failed"
    assert any(not c["passed"] and c["kind"] in ("min", "max") for c in shuffled["checks"])


def test_the_test_stage_runs_the_projects_own_tests(tmp_path):
    config = _project(tmp_path, "diabetes")
    tests = tmp_path / "model_tests"
    tests.mkdir()
    (tests / "test_mine.py").write_text(
        "import os\n"
        "def test_config_is_passed():\n"
        "    assert os.environ['MLCI_CONFIG'].endswith('mlci.yaml')\n"
    )
    doc = yaml.safe_load(config.read_text())
    doc["evaluate"]["tests"] = "model_tests"
    config.write_text(yaml.safe_dump(doc))
    result = mlci(config, "model", "test", env=OWN_PARAMS)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "build/test/junit.xml").exists()
    (tests / "test_broken.py").write_text("def test_fails():\n    assert 1 == 2\n")
    result = mlci(config, "model", "test", env=OWN_PARAMS)
    assert result.exit_code == 1
    assert f"the project's model tests in {tests} failed" in result.output
    from ml.config import load_settings
    from ml.pipeline import plan

    stages, _ = plan(load_settings(config, {}))
    assert [s.name for s in stages] == ["test", "validate", "train", "evaluate", "register"]
