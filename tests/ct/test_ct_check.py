"""`mlci ct check` on the bundled snapshots against a real champion trained on 2025Q1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from threadpoolctl import threadpool_limits

from ml.cli import cli
from ml.config import load_settings
from ml.ct.check import RETRAIN_EXIT_CODE
from ml.registry import ModelRegistry
from tests.conftest import REPO
from tests.jenkins.double import JenkinsDouble

pytestmark = pytest.mark.slow


def check(*args: str, env: dict[str, str] | None = None):
    with threadpool_limits(1):
        return CliRunner().invoke(cli, ["ct", "check", *args], env=env, catch_exceptions=False)


def signals(doc: dict) -> dict[str, dict]:
    return {s["name"]: s for s in doc["signals"]}


def test_drifted_snapshot_triggers_with_drift_and_new_data(ct_env):
    result = check("--json")  # default: the newest snapshot, 2025Q2
    assert result.exit_code == RETRAIN_EXIT_CODE, result.output
    doc = json.loads(result.stdout)
    assert doc["decision"] == "retrain"
    assert doc["reasons"] == ["new_data", "drift"]
    assert doc["dataset"]["version"] == "2025Q2"
    sig = signals(doc)
    assert sig["new_data"]["bound"] == doc["champion"]["dataset_digest"]
    assert sig["performance"]["triggered"] is False
    assert sig["performance"]["bound"] == {"min": 0.8, "max_drop": 0.02}
    columns = doc["drift"]["features"]
    drifted = {f["feature"] for f in columns if f["drifted"] and f["role"] == "feature"}
    # large shifts that are not noise; contract/tenure shift a little and do not count
    assert drifted == {"monthly_charges", "support_calls", "internet_service"}
    assert sig["drift"]["value"]["features"] == len(drifted)
    roles = {f["role"]: f for f in columns if f["role"] != "feature"}
    assert roles["target"]["kind"] == "categorical" and roles["target"]["drifted"] is True
    assert roles["prediction"]["feature"] == "churned"
    sample = doc["drift"]["sample"]
    assert sample["sample_size"] == 5000 and sample["reference"] == 5000
    assert sample["reference_rows"] == 20000
    assert all(f["sample"] == {"reference": 5000, "current": 5000} for f in columns[:2])
    plot = Path(doc["drift"]["plot"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((plot.parent / "report.json").read_text())
    assert saved["reasons"] == doc["reasons"]


def test_champion_training_data_needs_no_action(ct_env):
    result = check("--dataset", "2025Q1")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("dataset 2025Q1 (")
    assert lines[0].endswith("vs champion v1 trained on 2025Q1")
    assert lines[1].split() == ["SIGNAL", "TRIGGERED", "VALUE", "BOUND", "DETAIL"]
    assert lines[2].split()[:2] == ["new_data", "no"]
    assert lines[3].split()[:2] == ["performance", "no"]
    assert lines[4].split()[:2] == ["drift", "no"]
    assert lines[-1] == "decision: no_action"


def test_resample_of_training_data_does_not_drift(ct_env, tmp_path):
    frame = pd.read_csv(REPO / "data" / "snapshots" / "2025Q1.csv", dtype=str)
    resample = frame.sample(n=len(frame), replace=True, random_state=np.random.RandomState(7))
    path = tmp_path / "2025Q1-resample.csv"
    resample.to_csv(path, index=False)
    result = check("--dataset", str(path), "--json")
    doc = json.loads(result.stdout)
    sig = signals(doc)
    assert sig["drift"]["triggered"] is False, sig["drift"]["detail"]
    assert sig["performance"]["triggered"] is False
    assert doc["reasons"] == ["new_data"]  # different bytes: new data, nothing else
    assert result.exit_code == RETRAIN_EXIT_CODE


def test_degraded_champion_triggers_on_performance(ct_env):
    registry = ModelRegistry(load_settings(ct_env.config))
    registry.promote(None, ct_env.degraded, by="ct-test")
    try:
        result = check("--dataset", "2025Q1", "--json")
    finally:
        registry.promote(None, ct_env.champion, by="ct-test")
    assert result.exit_code == RETRAIN_EXIT_CODE, result.output
    doc = json.loads(result.stdout)
    assert doc["reasons"] == ["performance"]
    perf = signals(doc)["performance"]
    assert perf["value"]["roc_auc"] < 0.8
    assert "is below the bound 0.8000" in perf["detail"]


TRAIN_MAIN_XML = """<flow-definition><properties><hudson.model.ParametersDefinitionProperty>
<parameterDefinitions>
<hudson.model.StringParameterDefinition><name>DATASET_VERSION</name><defaultValue></defaultValue>
</hudson.model.StringParameterDefinition>
<hudson.model.BooleanParameterDefinition><name>FORCE_RETRAIN</name><defaultValue>false</defaultValue>
</hudson.model.BooleanParameterDefinition>
<hudson.model.StringParameterDefinition><name>RETRAIN_REASON</name><defaultValue></defaultValue>
</hudson.model.StringParameterDefinition>
</parameterDefinitions></hudson.model.ParametersDefinitionProperty></properties>
</flow-definition>"""


@pytest.fixture
def jenkins_double():
    double = JenkinsDouble()
    url = double.start()
    double.add_user("ci", token="t0ken", role="admin")
    from ml.jenkins.client import JenkinsClient

    client = JenkinsClient(url, "ci", "t0ken", timeout=10)
    client.create_item("ml", "<com.cloudbees.hudson.plugins.folder.Folder/>")
    client.create_item(
        "ml/train", "<org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject/>"
    )
    double.set_branches("ml/train", ["main"])
    client.trigger("ml/train", {}, parameterized=False)  # branch indexing creates ml/train/main
    # After its first build Jenkins knows the parameters{} of the Jenkinsfile; the double runs no
    # Groovy, so the branch job gets them here.
    double.get_job("ml/train/main").set_config(TRAIN_MAIN_XML.encode())
    yield double, url
    double.stop()


def test_trigger_queues_training_with_reason_and_dataset(ct_env, jenkins_double):
    double, url = jenkins_double
    env = {"MLCI_JENKINS__URL": url, "JENKINS_USER": "ci", "JENKINS_TOKEN": "t0ken"}

    result = check("--dataset", "2025Q1", "--trigger", env=env)
    assert result.exit_code == 0, result.output
    assert double.get_job("ml/train/main").builds == {}

    result = check("--trigger", "--json", env=env)
    assert result.exit_code == RETRAIN_EXIT_CODE, result.output
    doc = json.loads(result.stdout)
    assert doc["triggered_build"]["job"] == "ml/train/main"
    build = double.wait_for_build("ml/train/main", 1)
    assert build.queue_id == doc["triggered_build"]["queue_id"]
    assert build.params == {
        "DATASET_VERSION": "2025Q2",
        "FORCE_RETRAIN": "true",
        "RETRAIN_REASON": "new_data,drift",
    }
    assert double.errors == []
