"""The CI build that registers a version is kept on it, and the deploy approval links its report.

Real MLflow (embedded SQLite store): train, evaluate, `mlci model register` under Jenkins'
BUILD_URL, then `mlci model show --json` -> `mlci jenkins approval-message` (the deploy
pipeline's Check gate stage).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.model.conftest import make_project, mlci

BUILD_URL = "https://ci.example/job/ml/job/train/job/main/41/"


@pytest.mark.slow
def test_register_keeps_the_build_url_and_the_approval_links_its_report(tmp_path: Path):
    config = make_project(tmp_path / "proj")
    for stage in (("train",), ("evaluate",)):
        result = mlci(config, *stage)
        assert result.exit_code == 0, result.output
    registered = mlci(config, "model", "register", "--json", env={"BUILD_URL": BUILD_URL})
    assert registered.exit_code == 0, registered.output
    version = json.loads(registered.stdout)
    assert version["tags"]["ci.build_url"] == BUILD_URL
    shown = mlci(config, "model", "show", version["version"], "--json")
    path = tmp_path / "version.json"
    path.write_text(shown.stdout)
    message = mlci(config, "jenkins", "approval-message", str(path))
    assert message.exit_code == 0, message.output
    lines = message.stdout.splitlines()
    assert lines[0] == f"Deploy {version['name']} version {version['version']} to production?"
    assert lines[1].startswith("Gate: passed (")  # the primary metric at the gate
    assert lines[1] == f"Gate: passed ({version['tags']['gate.primary_metric']})"
    assert lines[-1] == f"Report: {BUILD_URL}model-report/"
