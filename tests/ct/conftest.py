"""A project with a real champion trained on 2025Q1 (train -> evaluate -> register -> approve ->
promote through the CLI), shared by the CT tests of one session; and a weak "degraded" version.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from threadpoolctl import threadpool_limits

from ml.cli import cli
from tests.conftest import write_project
from tests.fixtures.serving import bundles  # noqa: F401 - real bundles for tests/ct/test_live.py


@dataclass
class CtProject:
    config: Path
    champion: str
    degraded: str


def _mlci(config: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(
        cli, ["--config", str(config), *args], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="session")
def ct_project(tmp_path_factory: pytest.TempPathFactory) -> CtProject:
    saved = {k: os.environ.pop(k) for k in [v for v in os.environ if v.startswith("MLCI_")]}
    root = tmp_path_factory.mktemp("ct")
    config = write_project(root / "proj", {"train.params.max_iter": 60})
    try:
        with threadpool_limits(1):  # HistGradientBoosting oversubscribes 2 cores otherwise
            _mlci(config, "train")
            _mlci(config, "evaluate")
            _mlci(config, "model", "register")
            _mlci(config, "model", "approve", "1", "--by", "ct-test", "--reason", "baseline")
            _mlci(config, "model", "promote", "1")
            # A deliberately weak model: one two-leaf tree. It fails the gate, so it is
            # registered through the registry API, as an operator overriding the gate would.
            weak = {
                "MLCI_TRAIN__PARAMS__MAX_ITER": "1",
                "MLCI_TRAIN__PARAMS__MAX_LEAF_NODES": "2",
                "MLCI_TRAIN__PARAMS__LEARNING_RATE": "0.05",
            }
            _mlci(config, "train", env=weak)
        from ml.config import load_settings
        from ml.registry import ModelRegistry, tags
        from ml.train.record import read_record

        settings = load_settings(config)
        record = read_record(settings)
        registry = ModelRegistry(settings)
        weak_version = registry.register(
            record.model_uri,
            record.run_id,
            {
                tags.DATASET_VERSION: record.dataset_version,
                tags.DATASET_DIGEST: record.dataset_digest,
            },
        )
        registry.approve(None, weak_version.version, "ct-test", "degraded on purpose")
    finally:
        os.environ.update(saved)
    return CtProject(config=config, champion="1", degraded=weak_version.version)


@pytest.fixture
def ct_env(ct_project: CtProject, monkeypatch: pytest.MonkeyPatch) -> CtProject:
    for var in [v for v in os.environ if v.startswith("MLCI_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("MLCI_CONFIG", str(ct_project.config))
    monkeypatch.chdir(ct_project.config.parent)
    return ct_project
