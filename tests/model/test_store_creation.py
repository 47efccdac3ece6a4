"""Item: a first run killed while it creates the embedded SQLite store leaves a usable store.

The store is created in a temporary file and renamed into place when complete
(ml.registry.tracking.ensure_sqlite_store). Each case starts a real process connecting to a
fresh project, SIGKILLs it at a different moment of the creation, then connects again.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_project

CONNECT = (
    "import sys; from ml.config import load_settings; from ml.registry.tracking import connect;"
    "print(connect(load_settings(sys.argv[1])))"
)


def _start(config: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLCI_")}
    return subprocess.Popen(
        [sys.executable, "-c", CONNECT, str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _creating(state: Path) -> list[Path]:
    return list(state.glob(".mlflow.db.creating*")) if state.is_dir() else []


def _wait_for(cond, proc: subprocess.Popen, timeout: float = 300) -> float:
    t0 = time.monotonic()
    while not cond():
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            break
        time.sleep(0.005)
    return time.monotonic()


@pytest.mark.slow
def test_store_creation_killed_at_several_moments_then_a_run_succeeds(tmp_path: Path):
    """Kills land 0 s, 0.5 s, 2 s and 5 s after the temporary store file appears (creating the
    store takes several seconds: the import of MLflow's store plus ~50 schema migrations);
    each next process must clean up and start afresh, and the last one completes."""
    config = write_project(tmp_path / "proj")
    state = config.parent / ".mlci"
    mid_way = 0
    for delay in (0.0, 0.5, 2.0, 5.0):
        proc = _start(config)
        _wait_for(lambda: _creating(state), proc)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=120)
        db = state / "mlflow.db"
        if proc.returncode == -signal.SIGKILL and not db.exists():
            mid_way += 1  # killed during the creation: nothing half-made is in place
        else:
            break  # the creation finished before the kill: later kills prove nothing more
    again = _start(config)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert out.strip().isdigit()  # the experiment id
    assert _creating(state) == []  # the killed creations' leftovers are gone
    with sqlite3.connect(state / "mlflow.db") as db:
        (version,) = db.execute("select version_num from alembic_version").fetchone()
    assert version
    assert mid_way >= 2, f"only {mid_way} kill(s) landed during the creation"
