"""Item: a first run killed while it creates the embedded SQLite store leaves a usable store.

The store is created in a temporary file and renamed into place when complete
(ml.registry.tracking.ensure_sqlite_store). Each case starts a real process connecting to a
fresh project, SIGKILLs it at a different moment of the creation, then connects again.
"""

from __future__ import annotations

import os
import shutil
import signal
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
    ref = write_project(tmp_path / "ref")
    state = ref.parent / ".mlci"
    proc = _start(ref)
    began = _wait_for(lambda: _creating(state), proc)
    done = _wait_for(lambda: (state / "mlflow.db").exists(), proc)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    creation = max(done - began, 0.05)

    config = write_project(tmp_path / "proj")
    state = config.parent / ".mlci"
    outcomes = []
    for fraction in (0.0, 0.1, 0.3, 0.6, 0.9):
        shutil.rmtree(state, ignore_errors=True)
        proc = _start(config)
        _wait_for(lambda: _creating(state), proc)
        time.sleep(fraction * creation)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        killed_mid_way = proc.returncode == -signal.SIGKILL and not (state / "mlflow.db").exists()
        outcomes.append(killed_mid_way)
        again = _start(config)
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0, f"after a kill at {fraction:.0%} of creation: {err}"
        assert out.strip().isdigit()  # the experiment id
        assert _creating(state) == []  # the killed creation's leftovers are gone
        import sqlite3

        with sqlite3.connect(state / "mlflow.db") as db:
            (version,) = db.execute("select version_num from alembic_version").fetchone()
        assert version
    assert any(outcomes), "no kill landed during the creation; the test proved nothing"
