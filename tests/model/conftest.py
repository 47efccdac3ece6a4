"""Fixtures of the model tests: fast training settings and CLI helpers.

Training uses the bundled 2025Q1 snapshot with few boosting iterations (MLCI_TRAIN__PARAMS__*),
which still clears every default threshold, so the whole area runs in well under 3 minutes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ml.cli import cli
from tests.conftest import write_project

FAST = {"MLCI_TRAIN__PARAMS__MAX_ITER": "20"}


def mlci(config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run `mlci --config CONFIG ARGS` in process; stdout and stderr are kept apart."""
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
