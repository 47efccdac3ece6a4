"""Shared state in PostgreSQL: history across workspaces, leases across processes, faults."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from ml.config import load_settings
from ml.deploy.history import (
    DeployLocked,
    DeploymentRecord,
    append_history,
    deploy_lock,
    read_history,
)
from ml.errors import ConfigError, ServiceError
from ml.registry.lock import registry_lock
from tests.conftest import write_project
from tests.fixtures.mlflow_server import free_port

pytestmark = pytest.mark.slow


def rec(version: str, env: str = "staging") -> DeploymentRecord:
    return DeploymentRecord(
        env=env,
        model="m",
        version=version,
        digest=f"sha256:{version * 8}",
        image=f"r/m@sha256:{version * 8}",
        action="deploy",
        by="tester",
        at="2026-01-01T00:00:00.000+00:00",
        started_at="2026-01-01T00:00:00.000+00:00",
    )


@pytest.fixture
def shared(team_stack, tmp_path, monkeypatch):
    """Two fresh workspaces of one project, state in the team's PostgreSQL, no MLCI_* leaks."""
    for var in [v for v in os.environ if v.startswith("MLCI_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("PGPASSWORD", team_stack.exports["PGPASSWORD"])
    project = f"p{uuid.uuid4().hex[:8]}"
    over = {"project": project, "state.url": team_stack.state_url, "state.lease_seconds": 2}
    return [write_project(tmp_path / name, over) for name in ("ws-a", "ws-b")]


def test_history_written_in_one_workspace_is_read_from_another(shared):
    a, b = (load_settings(p) for p in shared)
    append_history(a, rec("1"))
    append_history(a, rec("1", env="production"))
    assert read_history(b, "staging") == [rec("1")]
    assert [r.env for r in read_history(b)] == ["staging", "production"]
    for ws in shared:  # nothing in either workspace
        assert not (ws.parent / ".mlci").exists()


def _hold(config: str, pgpassword: str, name: str, ready, release) -> None:
    os.environ["PGPASSWORD"] = pgpassword
    settings = load_settings(config)
    if name == "deploy":
        with deploy_lock(settings, "staging", timeout=30):
            ready.set()
            release.wait(60)
    else:
        with registry_lock(settings, "m", timeout=30):
            ready.set()
            release.wait(60)


def _holder(config: Path, name: str):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(
        target=_hold, args=(str(config), os.environ["PGPASSWORD"], name, ready, release)
    )
    proc.start()
    assert ready.wait(60), "the holder never got the lock"
    return proc, release


def test_deploy_lock_holds_across_processes_and_names_the_holder(shared):
    a, b = shared
    proc, release = _holder(a, "deploy")
    settings = load_settings(b)
    try:
        start = time.monotonic()
        with pytest.raises(DeployLocked) as err, deploy_lock(settings, "staging", timeout=1):
            pass
        assert time.monotonic() - start >= 1
        text = str(err.value)
        assert "mlci_state" in text and "'deploy-staging'" in text
        assert f"pid {proc.pid} on " in text  # the holder's name, from the lease row
        assert err.value.exit_code == 4
        assert settings.state.url in text and os.environ["PGPASSWORD"] not in text
        with deploy_lock(settings, "production", timeout=0):
            pass  # another environment is free
    finally:
        release.set()
        proc.join(30)
    with deploy_lock(settings, "staging", timeout=5):
        pass  # released on exit


def test_a_lease_whose_holder_died_expires(shared):
    a, b = shared
    proc, _release = _holder(a, "registry")
    os.kill(proc.pid, signal.SIGKILL)  # an agent lost mid-deploy: no release, no renewal
    proc.join(10)
    start = time.monotonic()
    with registry_lock(load_settings(b), "m", timeout=30):
        waited = time.monotonic() - start
    assert waited <= 10, f"the dead holder's lease (2 s) held for {waited:.1f}s"


def test_postgres_down_is_one_clear_message(tmp_path, monkeypatch):
    for var in [v for v in os.environ if v.startswith("MLCI_")]:
        monkeypatch.delenv(var)
    url = f"postgresql://mlci_state@127.0.0.1:{free_port()}/mlci_state"
    settings = load_settings(write_project(tmp_path / "ws", {"state.url": url}))
    with pytest.raises(ServiceError) as err:
        read_history(settings)
    assert err.value.exit_code == 4
    text = str(err.value)
    assert url in text and "scripts/team-stack.sh up" in text and "\n" not in text


def test_a_password_in_the_state_url_is_refused(tmp_path):
    path = write_project(tmp_path / "ws", {"state.url": "postgresql://u:canary-pw@db/s"})
    with pytest.raises(ConfigError, match=r"state\.url: .*PGPASSWORD") as err:
        load_settings(path, environ={})
    assert "canary-pw" not in str(err.value)
