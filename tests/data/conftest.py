"""Fixtures for the data tests: one project config for the whole session (so one GX context
serves every validation) and a CLI runner bound to it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ml.cli import cli
from tests.conftest import REPO, write_project

BUNDLED = REPO / "data" / "snapshots"


@pytest.fixture(scope="session")
def data_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mlci.yaml in a temp folder, data and contract pointing at the repository's files."""
    return write_project(tmp_path_factory.mktemp("data-project"))


@pytest.fixture
def mlci(data_project: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run `mlci --config <data_project> ARGS...` in-process; stdout and stderr kept apart."""
    for var in [v for v in __import__("os").environ if v.startswith("MLCI_")]:
        monkeypatch.delenv(var)

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--config", str(data_project), *args])

    return run


@pytest.fixture(scope="session")
def bundled_q1() -> bytes:
    return (BUNDLED / "2025Q1.csv").read_bytes()
