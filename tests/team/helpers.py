"""Workspaces that look like Jenkins ones: a project folder and only service URLs + credentials."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.conftest import write_project

MLCI = [sys.executable, "-m", "ml"]


def agent_env(stack_env: dict[str, str], **extra: str) -> dict[str, str]:
    """A clean environment: PATH/HOME plus the stack's URLs and credentials."""
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
    return {**keep, "OMP_NUM_THREADS": "1", **stack_env, **extra}


def team_project(root: Path, tag: str, overrides: dict | None = None) -> dict:
    """Settings overrides that give a test its own experiment, model and state namespace."""
    return {
        "project": f"t{tag}",
        "mlflow.experiment": f"exp-{tag}",
        "mlflow.model_name": f"model-{tag}",
        "train.params.max_iter": 30,
        **(overrides or {}),
    }


def workspace(root: Path, overrides: dict) -> Path:
    return write_project(root, overrides).parent


def unique() -> str:
    return uuid.uuid4().hex[:8]


def mlci(ws: Path, env: dict[str, str], *args: str, timeout: float = 900):
    repo = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [*MLCI, *args],
        cwd=ws,
        env={**env, "MLCI_CONFIG": str(ws / "mlci.yaml"), "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pipeline_script(*args: str) -> str:
    """`python -m ml` for each argv, chained with && (one shell per workspace)."""
    return " && ".join(" ".join([*MLCI, *a]) for a in args)


def last_json(out: str):
    """The last (indented) JSON document a command printed on stdout."""
    import json

    start = 0 if out.startswith(("{", "[")) else max(out.rfind("\n{"), out.rfind("\n[")) + 1
    return json.loads(out[start:])
