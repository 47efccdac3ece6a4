"""Faults of the shared services: one message naming the URL and what to do, exit 4, and no
half-registered model version.

Each case runs the real `mlci` against the real team stack (or a dead port); the object store and
PostgreSQL cases stop that one service of this session's stack and start it again afterwards.
"""

from __future__ import annotations

import pytest

from tests.fixtures.mlflow_server import free_port
from tests.team.helpers import agent_env, mlci, team_project, unique
from tests.team.helpers import workspace as make_ws

pytestmark = [pytest.mark.slow]


def _one_error(done) -> str:
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, done.stderr[-3000:]
    return lines[0]


def _versions(ws, env, name) -> list:
    from tests.team.helpers import last_json

    listed = mlci(ws, env, "model", "list", "--name", name, "--json")
    if listed.returncode == 2 and "not found" in listed.stderr:
        return []  # the registered model does not even exist
    assert listed.returncode == 0, listed.stderr
    return last_json(listed.stdout)


def test_wrong_tracking_uri(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    ws = make_ws(tmp_path / "ws", team_project(tmp_path, unique()))
    done = mlci(ws, agent_env({"MLCI_MLFLOW__TRACKING_URI": url}), "train")
    assert done.returncode == 4
    line = _one_error(done)
    assert url in line and "MLCI_MLFLOW__TRACKING_URI" in line


def test_wrong_credentials(team_stack, tmp_path):
    env = agent_env({**team_stack.client_env(), "MLFLOW_TRACKING_PASSWORD": "not-the-password"})
    ws = make_ws(tmp_path / "ws", team_project(tmp_path, unique()))
    done = mlci(ws, env, "train")
    assert done.returncode == 4, done.stderr[-2000:]
    line = _one_error(done)
    assert team_stack.tracking_uri in line and "refused the credentials" in line
    assert "mlci-mlflow" in line and "not-the-password" not in done.stderr


def test_object_store_down_registers_nothing(team_stack, tmp_path):
    tag = unique()
    env = agent_env(team_stack.client_env())
    ws = make_ws(tmp_path / "ws", team_project(tmp_path, tag))
    team_stack.stop_object_store()
    try:
        done = mlci(ws, env, "train")
        assert done.returncode == 4, done.stderr[-3000:]
        line = _one_error(done)
        assert team_stack.tracking_uri in line and "artifact store" in line
        # the stage after it cannot register a version whose model never uploaded
        reg = mlci(ws, env, "model", "register")
        assert reg.returncode != 0
    finally:
        team_stack.up()
    assert _versions(ws, env, f"model-{tag}") == []


def test_mlflow_database_down(team_stack, tmp_path):
    env = agent_env(team_stack.client_env())
    ws = make_ws(tmp_path / "ws", team_project(tmp_path, unique()))
    team_stack.stop_postgres()
    try:
        done = mlci(ws, env, "model", "list")
        assert done.returncode == 4, done.stderr[-3000:]
        line = _one_error(done)
        assert team_stack.tracking_uri in line and "database" in line
        state = mlci(ws, env, "deploy", "rollback", "staging")
        assert state.returncode == 4, state.stderr[-3000:]
        assert team_stack.state_url in _one_error(state)
    finally:
        team_stack.up()
