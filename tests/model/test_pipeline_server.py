"""The pipeline against a real `mlflow server` (HTTP), a failing gate, and an unreachable URI."""

from __future__ import annotations

import json
import time

from ml.config import load_settings
from ml.registry import CHALLENGER, ModelRegistry
from ml.registry import tags as T
from tests.fixtures.mlflow_server import free_port
from tests.model.conftest import make_project, mlci


def table_of(stdout: str) -> list[str]:
    """The summary table that ends `mlci pipeline run` (stages print their own lines above)."""
    lines = stdout.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("stage "))
    return lines[start:]


def test_pipeline_against_a_tracking_server_registers_a_challenger(tmp_path, mlflow_server):
    config = make_project(tmp_path / "p", tracking_uri=mlflow_server.url)
    result = mlci(config, "pipeline", "run", env={"MLCI_MLFLOW__MODEL_NAME": "server-ok"})
    assert result.exit_code == 0, result.output
    table = table_of(result.stdout)
    assert table[0].split() == ["stage", "status", "exit", "seconds"]
    assert [line.split()[:2] for line in table[2:]][1:] == [
        ["train", "passed"],
        ["evaluate", "passed"],
        ["register", "passed"],
        ["total", "passed"],
    ]
    settings = load_settings(config, {"MLCI_MLFLOW__MODEL_NAME": "server-ok"})
    v = ModelRegistry(settings).resolve(None, CHALLENGER)
    assert v.tags[T.APPROVAL_STATUS] == "pending" and v.tags[T.DATASET_VERSION] == "2025Q1"
    assert v.source.startswith("models:/")
    assert "==> train: mlci train" in result.stderr


def test_raised_threshold_fails_the_gate_registers_nothing_and_says_why(tmp_path, mlflow_server):
    config = make_project(tmp_path / "p", tracking_uri=mlflow_server.url)
    env = {"MLCI_EVALUATE__MIN__ROC_AUC": "0.99", "MLCI_MLFLOW__MODEL_NAME": "server-fail"}
    result = mlci(config, "pipeline", "run", env=env)
    assert result.exit_code == 1
    rows = {line.split()[0]: line.split()[1:] for line in table_of(result.stdout)[2:]}
    assert rows["evaluate"][:2] == ["failed", "1"]
    assert rows["register"] == ["not", "run"]
    assert rows["total"][:2] == ["failed", "1"]
    settings = load_settings(config, env)
    summary = (settings.build_dir / "evaluate/summary.md").read_text()
    assert summary.startswith("# Evaluation gate: FAILED")
    assert "is below the minimum 0.9900 (evaluate.min.roc_auc)" in summary
    assert "| min.roc_auc | roc_auc | 0." in summary
    assert "Error: evaluation gate failed: roc_auc = 0." in result.stderr
    # Registering the failed run by hand is refused too.
    result = mlci(config, "model", "register", env=env)
    assert result.exit_code == 1
    run_id = json.loads((settings.build_dir / "train/run.json").read_text())["run_id"]
    assert result.output == (
        f"Error: run {run_id} failed the evaluation gate; refusing to "
        f"register it (see build/evaluate/summary.md)\n"
    )
    assert ModelRegistry(settings).list_versions() == []


def test_unreachable_tracking_server_exits_4_within_seconds(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    config = make_project(tmp_path / "p", tracking_uri=url)
    for args in (["model", "list"], ["train"]):
        start = time.monotonic()
        result = mlci(config, *args)
        assert result.exit_code == 4
        assert result.output == (
            f"Error: MLflow tracking server at {url} is unreachable ([Errno 111] Connection "
            f"refused); start it or point mlflow.tracking_uri (MLCI_MLFLOW__TRACKING_URI) at a "
            f"running server\n"
        )
        assert time.monotonic() - start < 15


def test_evaluate_without_a_training_run_is_an_input_error(tmp_path):
    config = make_project(tmp_path / "p")
    result = mlci(config, "evaluate")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {tmp_path / 'p/build/train/run.json'}: no training run "
        f"recorded; run `mlci train` first or pass --run RUN_ID\n"
    )


def test_pipeline_rejects_an_unknown_stage(tmp_path):
    config = make_project(tmp_path / "p")
    result = mlci(config, "pipeline", "run", "--from", "deploy")
    assert result.exit_code == 2
    assert result.output == (
        "Error: --from deploy: unknown stage (stages: validate, train, evaluate, register)\n"
    )


def test_failed_validation_stops_before_training_and_records_nothing(tmp_path):
    import pandas as pd

    from tests.conftest import REPO

    bad = tmp_path / "bad.csv"
    frame = pd.read_csv(REPO / "data/snapshots/2025Q1.csv", dtype=str)
    frame.loc[:9, "churned"] = "7"  # invalid label values
    frame.to_csv(bad, index=False)
    config = make_project(tmp_path / "p")
    result = mlci(config, "pipeline", "run", "--dataset", str(bad))
    assert result.exit_code == 1
    rows = {line.split()[0]: line.split()[1:] for line in table_of(result.stdout)[2:]}
    assert rows["validate"][:2] == ["failed", "1"]
    assert rows["train"] == ["not", "run"] and rows["register"] == ["not", "run"]
    settings = load_settings(config)
    assert not (settings.build_dir / "train/run.json").exists()
    import mlflow

    from ml.registry.tracking import connect

    connect(settings)
    assert mlflow.search_runs(search_all_experiments=True, output_format="list") == []
