"""The stage image and `mlci pipeline run --executor docker` (Jenkins-style workspace mount)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from ml.cli import cli
from ml.config import load_settings
from ml.image.stage import DockerExecutor
from tests.conftest import write_project

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SECRET = "canary-stage-9f3e"


@pytest.fixture(scope="module")
def ci_image(docker_client, tmp_path_factory) -> str:
    """Built once from the checkout; a rebuild with unchanged code is all cache hits."""
    from ml.image.stage import build_ci_image

    root = tmp_path_factory.mktemp("ci-build")
    settings = load_settings(write_project(root), environ={})
    return build_ci_image(settings, "mlci/ci:test")["image"]


def _run(root: Path, executor: str, image: str) -> tuple[int, dict]:
    config = write_project(root, overrides={"train.params.max_iter": 40, "image.ci_image": image})
    result = CliRunner().invoke(
        cli,
        ["--config", str(config), "pipeline", "run", "--executor", executor, "--json"],
        env={"MLCI_CONFIG": None, "MLCI_REGISTRY_PASSWORD": SECRET},
    )
    metrics = (
        json.loads((root / "build" / "evaluate" / "metrics.json").read_text())
        if result.exit_code == 0
        else {}
    )
    return result.exit_code, metrics


def test_docker_executor_gives_the_same_results_as_local(ci_image, tmp_path):
    code_d, docker_ = _run(tmp_path / "docker", "docker", ci_image)
    code_l, local = _run(tmp_path / "local", "local", ci_image)
    assert (code_d, code_l) == (0, 0)
    assert docker_["metrics"] == local["metrics"]
    assert docker_["verdict"] == local["verdict"] == "passed"
    assert docker_["dataset"] == local["dataset"]
    owners = {p.stat().st_uid for p in (tmp_path / "docker").rglob("*")}
    assert owners == {os.getuid()}


def test_command_mounts_workspace_like_jenkins_and_hides_secret_values(tmp_path, monkeypatch):
    config = write_project(tmp_path / "ws")
    monkeypatch.setenv("MLCI_REGISTRY_PASSWORD", SECRET)
    settings = load_settings(config, environ={})
    ex = DockerExecutor(settings, str(config), image="mlci/ci:x", workspace=tmp_path / "ws")
    cmd, env = ex.command(["train"])
    ws = str((tmp_path / "ws").resolve())
    assert cmd[cmd.index("-w") + 1] == ws
    assert f"{ws}:{ws}" in cmd
    assert cmd[cmd.index("--user") + 1] == f"{os.getuid()}:{os.getgid()}"
    assert cmd[cmd.index("--network") + 1] == "host"
    assert cmd[-5:] == ["mlci/ci:x", "mlci", "--config", str(config.resolve()), "train"]
    data = str(settings.path(settings.data.dir))
    assert f"{data}:{data}" in cmd  # configured paths outside the workspace are mounted too
    assert "MLCI_REGISTRY_PASSWORD" in cmd and SECRET not in " ".join(cmd)
    assert env["MLCI_REGISTRY_PASSWORD"] == SECRET


def test_missing_stage_image_is_a_clear_error(tmp_path, docker_client):
    config = write_project(tmp_path, overrides={"image.ci_image": "mlci/ci:does-not-exist"})
    result = CliRunner().invoke(
        cli,
        ["--config", str(config), "pipeline", "run", "--executor", "docker"],
        env={"MLCI_CONFIG": None},
    )
    assert result.exit_code == 2
    assert result.output == (
        "Error: stage image mlci/ci:does-not-exist is not in the local "
        "Docker Engine; build it with `mlci pipeline ci-image`\n"
    )
