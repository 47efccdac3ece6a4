"""Which file holds the pipeline a Jenkinsfile runs, read independently of ml/jenkins/library.py.

The repository's Jenkinsfiles are calls of the mlci shared library (`mlciTrainingPipeline(...)`
after `library(...)` or `@Library(...) _`); the pipeline is `vars/<step>.groovy` of the
repository that holds the Jenkinsfile (the library loaded from the revision being built).
"""

from __future__ import annotations

import re
from pathlib import Path


def pipeline_file(path: Path) -> Path:
    """The file holding the pipeline a Jenkinsfile runs: itself, or the library step it calls."""
    text = re.sub(r"//[^\n]*", "", path.read_text())
    call = re.search(r"^\s*(mlci\w+Pipeline)\s*\(", text, re.M)
    if re.search(r"\bpipeline\s*\{", text) or call is None:
        return path
    for folder in path.resolve().parents:
        step = folder / "vars" / f"{call.group(1)}.groovy"
        if step.is_file():
            return step
    raise AssertionError(f"{path}: calls {call.group(1)}() but no vars/ holds it")


def purpose_ids(vars_dir: Path) -> dict[str, str]:
    """purpose -> credential id of vars/mlciCredentials.groovy (`case 'x': ... credentialsId`)."""
    creds = vars_dir / "mlciCredentials.groovy"
    if not creds.is_file():
        return {}
    return dict(re.findall(r"case '(\w+)':.*?credentialsId: '([^']+)'", creds.read_text(), re.S))
