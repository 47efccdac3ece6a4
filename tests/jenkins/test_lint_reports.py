"""scripts/lint-reports.sh writes what the training pipeline's recordIssues reads (Warnings NG)."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_lint_reports_cover_the_files_the_pipeline_names(tmp_path: Path):
    out = tmp_path / "lint"
    done = subprocess.run(
        ["scripts/lint-reports.sh", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # the patterns of recordIssues in the training pipeline (vars/) are the files written here
    patterns = re.findall(
        r"pattern: 'build/lint/([\w.]+)'", (REPO / "vars/mlciTrainingPipeline.groovy").read_text()
    )
    assert sorted(patterns) == sorted(p.name for p in out.iterdir())
    ruff = json.loads((out / "ruff.json").read_text())
    assert isinstance(ruff, list)  # Ruff's JSON format: a list of findings
    hadolint = json.loads((out / "hadolint.json").read_text())
    assert isinstance(hadolint, list)
    checkstyle = ET.parse(out / "shellcheck.xml").getroot()
    assert checkstyle.tag == "checkstyle"
    checked = {f.get("name") for f in checkstyle.iter("file")}
    tracked = subprocess.run(
        ["git", "ls-files", "*.sh"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert set(tracked) <= checked  # every shell script scripts/lint.sh checks is reported


def test_lint_reports_needs_a_directory():
    done = subprocess.run(
        ["scripts/lint-reports.sh"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stderr == "usage: scripts/lint-reports.sh DIR\n"
