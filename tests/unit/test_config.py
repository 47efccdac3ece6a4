from pathlib import Path

import pytest
from click.testing import CliRunner

from ml.cli import cli
from ml.config import load_settings
from ml.errors import ConfigError
from tests.conftest import REPO


def test_repository_config_loads_and_resolves_paths():
    s = load_settings(REPO / "mlci.yaml", environ={})
    assert s.root == REPO
    assert s.dataset_path() == REPO / "data/snapshots/2025Q1.csv"
    assert s.tracking_uri == f"sqlite:///{REPO}/.mlci/mlflow.db"


def test_env_override_is_typed_and_nested():
    s = load_settings(
        REPO / "mlci.yaml",
        environ={
            "MLCI_TRAIN__PARAMS__MAX_ITER": "7",
            "MLCI_EVALUATE__MIN__ROC_AUC": "0.9",
            "MLCI_MLFLOW__TRACKING_URI": "http://mlflow:5000",
        },
    )
    assert s.train.params["max_iter"] == 7
    assert s.evaluate.min["roc_auc"] == 0.9
    assert s.tracking_uri == "http://mlflow:5000"


def test_bad_override_names_field_and_variable():
    with pytest.raises(ConfigError) as e:
        load_settings(REPO / "mlci.yaml", environ={"MLCI_DATA__TEST_SIZE": "2"})
    assert "data.test_size: Input should be less than 1 (got 2) [from MLCI_DATA__TEST_SIZE]" in str(
        e.value
    )


def test_missing_and_unknown_fields(tmp_path: Path):
    cfg = tmp_path / "mlci.yaml"
    cfg.write_text("data:\n  version: x\n  id_column: id\n  target: y\n  feature: {}\ntrain: {}\n")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, environ={})
    msg = str(e.value)
    assert msg.startswith(f"{cfg}: invalid configuration\n")
    assert "  data.features: required field is missing" in msg
    assert "  data.feature: unknown field" in msg
    assert "  train.estimator: required field is missing" in msg


def test_cli_exits_2_on_bad_config(tmp_path: Path):
    cfg = tmp_path / "mlci.yaml"
    cfg.write_text("data: [1, 2\n")
    result = CliRunner().invoke(cli, ["--config", str(cfg), "config", "show"])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {cfg}: not valid YAML at line 2")


def _config(tmp_path: Path, train: str, evaluate: str = "") -> Path:
    cfg = tmp_path / "mlci.yaml"
    cfg.write_text(
        "data:\n  version: v1\n  target: y\n  features: {numeric: [a], categorical: []}\n"
        f"train:\n{train}\n" + (f"evaluate:\n{evaluate}\n" if evaluate else "")
    )
    return cfg


def test_tasks_id_column_and_per_task_defaults(tmp_path: Path):
    s = load_settings(
        _config(tmp_path, "  estimator: sklearn.linear_model.Ridge\n  task: regression"), {}
    )
    assert s.data.id_column is None
    assert s.train.task == "regression"
    assert s.evaluate.primary_metric == "rmse"
    assert s.evaluate.compare_to_champion == ["rmse"]
    m = load_settings(_config(tmp_path, "  estimator: sklearn.svm.SVC\n  task: multiclass"), {})
    assert m.evaluate.primary_metric == "f1_macro"
    b = load_settings(
        _config(tmp_path, "  estimator: a.b:make\n  positive_class: 'yes'\n  trusted_types: [a.B]"),
        {},
    )
    assert (b.train.task, b.train.positive_class, b.train.trusted_types) == (
        "binary",
        "yes",
        ["a.B"],
    )
    assert b.train.estimator == "a.b:make"
    assert b.evaluate.primary_metric == "roc_auc"


@pytest.mark.parametrize(
    ("evaluate", "field", "metric"),
    [
        ("  primary_metric: balanced_accuracy", "evaluate.primary_metric", "balanced_accuracy"),
        ("  min: {f1_macro: 0.5}", "evaluate.min", "f1_macro"),
        ("  max: {rmse: 3}", "evaluate.max", "rmse"),
        ("  compare_to_champion: [r2]", "evaluate.compare_to_champion", "r2"),
    ],
)
def test_metric_the_task_lacks_is_refused_naming_the_field(tmp_path, evaluate, field, metric):
    cfg = _config(tmp_path, "  estimator: sklearn.linear_model.LogisticRegression", evaluate)
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, {})
    msg = str(e.value)
    assert f"{field}: {metric} is not a binary metric" in msg
    assert "roc_auc, f1, precision, recall, accuracy, log_loss" in msg


def test_regression_metric_names_are_refused_for_multiclass(tmp_path):
    cfg = _config(
        tmp_path, "  estimator: sklearn.svm.SVC\n  task: multiclass", "  min: {roc_auc: 0.9}"
    )
    with pytest.raises(ConfigError, match=r"evaluate\.min: roc_auc is not a multiclass metric"):
        load_settings(cfg, {})


@pytest.mark.parametrize(
    ("train", "needle"),
    [
        (
            "  estimator: sklearn.linear_model.Ridge\n  task: regression\n  positive_class: 1",
            "train.positive_class applies to task binary only",
        ),
        ("  estimator: 'mymodule:'", "train.estimator: Value error, expected a factory"),
        ("  estimator: Ridge", "train.estimator: Value error, expected an import path"),
        ("  estimator: a.B\n  task: ordinal", "train.task: Input should be 'binary'"),
    ],
)
def test_bad_train_fields(tmp_path, train, needle):
    with pytest.raises(ConfigError) as e:
        load_settings(_config(tmp_path, train), {})
    assert needle in str(e.value)


def test_clearing_inherited_params_from_the_environment():
    s = load_settings(REPO / "mlci.yaml", environ={"MLCI_TRAIN__PARAMS": "{}"})
    assert s.train.params == {}
