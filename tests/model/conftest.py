"""Fixtures of the model tests: fast training settings and CLI helpers.

Training uses the bundled 2025Q1 snapshot with few boosting iterations (MLCI_TRAIN__PARAMS__*),
which still clears every default threshold, so the whole area runs in well under 3 minutes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ml.cli import cli
from tests.conftest import write_project

FAST = {"MLCI_TRAIN__PARAMS__MAX_ITER": "20"}


def mlci(config: Path, *args: str, env: dict[str, str | None] | None = None) -> Result:
    """Run `mlci --config CONFIG ARGS` in process; stdout and stderr are kept apart.
    A variable set to None in `env` is removed."""
    full_env = {**FAST, **(env or {})}
    return CliRunner().invoke(
        cli, ["--config", str(config), *args], env=full_env, catch_exceptions=False
    )


def make_project(root: Path, tracking_uri: str | None = None) -> Path:
    """mlci.yaml in `root` (build/, .mlci/ and the embedded store live there too)."""
    return write_project(root, tracking_uri=tracking_uri)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in os.environ if v.startswith("MLCI_")]:
        monkeypatch.delenv(var)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An embedded-MLflow project on which the pipeline has run once (module scoped)."""
    root = tmp_path_factory.mktemp("embedded")
    config = make_project(root)
    args = ["pipeline", "run"]
    with pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith("MLCI_")]:
            mp.delenv(var)
        result = mlci(config, *args)
    assert result.exit_code == 0, result.output
    yield config


def clone(src_config: Path, dst: Path) -> Path:
    """A copy of a project folder (config, build/, embedded store): a test may change it
    without changing what another test sees, so no test depends on another's order."""
    shutil.copytree(src_config.parent, dst)
    return dst / src_config.name


@pytest.fixture
def trained_copy(trained: Path, tmp_path: Path) -> Path:
    """The `trained` project after one pipeline run, as this test's own copy."""
    return clone(trained, tmp_path / "copy")


@pytest.fixture(scope="module")
def second_run(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`trained` with version 1 approved and promoted, then a second run trained and evaluated
    (not registered). Module scoped; tests take a copy (`second_run_copy`)."""
    config = clone(trained, tmp_path_factory.mktemp("second") / "proj")
    with pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith("MLCI_")]:
            mp.delenv(var)
        for args in (
            ("model", "approve", "1", "--by", "alice", "--reason", "looks good"),
            ("model", "promote", "1", "--by", "bob"),
            ("train", "--no-cache"),  # a second run: the training cache would reuse version 1
            ("evaluate",),
        ):
            result = mlci(config, *args)
            assert result.exit_code == 0, result.output
    return config


@pytest.fixture
def second_run_copy(second_run: Path, tmp_path: Path) -> Path:
    return clone(second_run, tmp_path / "copy")
