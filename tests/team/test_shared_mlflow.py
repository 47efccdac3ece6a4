"""Jobs in separate workspaces share one MLflow (PostgreSQL + S3) and nothing else.

Two trainings from two workspaces run at once against the team server and both register; a
third, fresh workspace (the deploy job's) finds both versions and downloads the recorded smoke
samples through the server's artifact proxy (stored in SeaweedFS). No workspace gets an
embedded store, and the MLflow and PostgreSQL passwords (random per stack: the canaries) appear
in no output, no `mlci config show`, no MLflow param/tag and no archived or logged artifact.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.team.helpers import (
    MLCI,
    agent_env,
    last_json,
    mlci,
    pipeline_script,
    team_project,
    unique,
)
from tests.team.helpers import workspace as make_ws

pytestmark = [pytest.mark.slow]


def _assert_no_local_state(ws: Path) -> None:
    assert not (ws / ".mlci" / "mlflow.db").exists(), f"{ws} has an embedded MLflow store"
    assert not (ws / ".mlci" / "mlartifacts").exists()
    assert not (ws / ".mlci" / "deploy").exists()


def _files_text(folder: Path) -> str:
    out = []
    for p in folder.rglob("*"):
        if p.is_file():
            out.append(p.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(out)


def test_two_trainings_at_once_both_register_and_a_fresh_workspace_sees_them(team_stack, tmp_path):
    tag = unique()
    over = team_project(tmp_path, tag)
    env = agent_env(team_stack.client_env())
    secrets = [env["MLFLOW_TRACKING_PASSWORD"], env["PGPASSWORD"]]
    train_a = make_ws(tmp_path / "train-main", over)
    train_b = make_ws(tmp_path / "train-feature", over)
    script = pipeline_script(["train"], ["evaluate"], ["model", "register", "--json"])
    procs = [
        subprocess.Popen(
            ["bash", "-c", script],
            cwd=ws,
            env={**env, "MLCI_CONFIG": str(ws / "mlci.yaml"), "PYTHONPATH": str(Path.cwd())},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ws in (train_a, train_b)
    ]
    outputs = [p.communicate(timeout=1200) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
        for s in secrets:
            assert s not in out and s not in err
    versions = [last_json(out) for out, _ in outputs]
    assert {v["name"] for v in versions} == {f"model-{tag}"}
    assert len({v["version"] for v in versions}) == 2, versions  # two versions, both registered

    deploy_ws = make_ws(tmp_path / "deploy", over)
    listed = mlci(deploy_ws, env, "model", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {v["version"] for v in json.loads(listed.stdout)} >= {v["version"] for v in versions}

    # the deploy job's smoke samples come from the run's artifacts (S3 through the server)
    fetch = (
        "from ml.config import load_settings; from ml.deploy.catalog import DeployCatalog;"
        "from ml.registry.tracking import connect; import json, sys;"
        "s = load_settings(); connect(s); c = DeployCatalog(s);"
        f"f = c.smoke_samples_file(c.version('model-{tag}', '{versions[0]['version']}'));"
        "print(len(json.loads(open(f).read())['samples']))"
    )
    done = subprocess.run(
        [MLCI[0], "-c", fetch],
        cwd=deploy_ws,
        env={**env, "MLCI_CONFIG": str(deploy_ws / "mlci.yaml"), "PYTHONPATH": str(Path.cwd())},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.strip().splitlines()[-1]) > 0

    shown = mlci(deploy_ws, env, "config", "show")
    assert shown.returncode == 0, shown.stderr
    assert team_stack.tracking_uri in shown.stdout and team_stack.state_url in shown.stdout

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=team_stack.tracking_uri)
    import os

    os.environ["MLFLOW_TRACKING_USERNAME"] = env["MLFLOW_TRACKING_USERNAME"]
    os.environ["MLFLOW_TRACKING_PASSWORD"] = env["MLFLOW_TRACKING_PASSWORD"]
    try:
        logged = []
        for v in versions:
            run = client.get_run(v["run_id"])
            logged.append(json.dumps([run.data.params, run.data.tags]))
            dest = tmp_path / "artifacts" / v["run_id"]
            mlflow.artifacts.download_artifacts(
                run_id=v["run_id"], dst_path=str(dest), tracking_uri=team_stack.tracking_uri
            )
            logged.append(_files_text(dest))
    finally:
        os.environ.pop("MLFLOW_TRACKING_USERNAME", None)
        os.environ.pop("MLFLOW_TRACKING_PASSWORD", None)
    archived = "\n".join(_files_text(ws / "build") for ws in (train_a, train_b))
    for s in secrets:
        assert s not in shown.stdout
        assert s not in archived, "a password reached build/ (archived by Jenkins)"
        assert all(s not in text for text in logged), "a password reached MLflow"
    for ws in (train_a, train_b, deploy_ws):
        _assert_no_local_state(ws)
