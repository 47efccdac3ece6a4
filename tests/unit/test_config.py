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
