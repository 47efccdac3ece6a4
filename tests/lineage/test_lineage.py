"""`mlci lineage` on a real embedded MLflow store after a real pipeline run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from ml.cli import cli
from ml.config import load_settings
from ml.data.dataset import file_digest
from ml.data.dvc import write_dvc_file
from ml.registry import ModelRegistry
from ml.registry import tags as T
from tests.conftest import REPO, write_project

FAST = {"MLCI_TRAIN__PARAMS__MAX_ITER": "20"}


def mlci(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args], env=FAST)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with its own copy of the snapshots (so a test can edit their .dvc files)."""
    root = tmp_path_factory.mktemp("lineage")
    data = root / "snapshots"
    shutil.copytree(REPO / "data/snapshots", data)
    config = write_project(root / "proj", overrides={"data.dir": str(data)})
    with pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith("MLCI_")]:
            mp.delenv(var)
        result = mlci(config, "pipeline", "run")
    assert result.exit_code == 0, result.output
    return config


def test_version_trail_joins_registry_run_and_data(trained: Path):
    result = mlci(trained, "lineage", "version", "1", "--json")
    assert result.exit_code == 0, result.output
    trail = json.loads(result.stdout)
    settings = load_settings(trained, environ={})
    snapshot = settings.dataset_path("2025Q1")
    assert trail["model"]["name"] == "churn-classifier"
    assert trail["model"]["version"] == "1"
    assert trail["model"]["gate"] == "passed"
    assert trail["model"]["approval"]["status"] == "pending"
    assert trail["data"] == {
        "version": "2025Q1",
        "digest": file_digest(snapshot),
        "path": str(snapshot),
        "dvc_md5": file_digest(snapshot),
    }
    info = ModelRegistry(settings).get_version(None, 1)
    assert trail["run"]["id"] == info.run_id
    assert trail["run"]["params"]["model.max_iter"] == "20"
    assert trail["problems"] == []


def test_commit_finds_its_versions(trained: Path):
    settings = load_settings(trained, environ={})
    ModelRegistry(settings).set_tags(None, 1, {T.GIT_COMMIT: "0123456789abcdef0123"})
    found = mlci(trained, "lineage", "commit", "0123456", "--json")
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["model"]["version"] == "1"
    missing = mlci(trained, "lineage", "commit", "fedcba9")
    assert missing.exit_code == 1
    assert missing.output == "Error: no version of the model was trained from commit fedcba9\n"
    bad = mlci(trained, "lineage", "commit", "xyz")
    assert bad.exit_code == 2
    assert "expected at least 7 hexadecimal digits" in bad.output


def test_changed_snapshot_is_a_problem(trained: Path):
    settings = load_settings(trained, environ={})
    snapshot = settings.dataset_path("2025Q1")
    original = file_digest(snapshot)
    write_dvc_file(snapshot, "0" * 32)
    try:
        result = mlci(trained, "lineage", "version", "1")
    finally:
        write_dvc_file(snapshot, original)
    assert result.exit_code == 1
    assert (
        f"PROBLEM   dataset 2025Q1: the model was trained on digest {original} but "
        f"2025Q1.csv.dvc now records {'0' * 32}"
    ) in result.output


def test_unknown_version_is_an_input_error(trained: Path):
    result = mlci(trained, "lineage", "version", "9")
    assert result.exit_code == 2
    assert "has no version 9" in result.output
