"""`mlci reproduce` end to end: fresh clones of this repository, one MLflow store outside both
clones (the shared store) and a DVC remote folder outside both (the shared remote).

Clone A trains and registers version 1 with `make pipeline`'s command; clone B, at a later
commit and with no dataset or DVC cache in it, rebuilds version 1 and must find it identical.
Then the negative cases: a changed byte in the remote's object (exit 1, data), a version trained
with a lock that is not its commit's (exit 1, lock), and what cannot be rebuilt (exit 2).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two clones, one MLflow store outside both, one DVC remote; version 1 from clone A."""
    root = tmp_path_factory.mktemp("reproduce")
    remote = root / "remote"
    shutil.copytree(REPO / "data/remote", remote)
    name = f"repro-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLCI_")}
    for var in ("FORCE_RETRAIN", "GIT_COMMIT", "BRANCH_NAME", "GIT_BRANCH", "PYTHONPATH"):
        env.pop(var, None)
    env.update(
        {
            "MLCI_MLFLOW__TRACKING_URI": f"sqlite:///{root / 'store/mlflow.db'}",
            "MLCI_MLFLOW__ARTIFACT_ROOT": str(root / "store/artifacts"),
            "MLCI_MLFLOW__EXPERIMENT": name,
            "MLCI_MLFLOW__MODEL_NAME": name,
            "MLCI_DVC__REMOTE": "shared",
            "MLCI_DVC__URL": str(remote),
            "MLCI_TRAIN__PARAMS__MAX_ITER": "20",
        }
    )
    a, b = root / "a", root / "b"
    git(root, "clone", "-q", str(REPO), str(a))
    git(root, "clone", "-q", str(REPO), str(b))
    (b / "docs/later.md").write_text("a later commit\n")
    git(b, "add", "docs/later.md")
    git(b, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "later")
    first = run(a, env, "pipeline", "run")
    assert first.returncode == 0, first.stderr[-3000:]
    return {"a": a, "b": b, "env": env, "remote": remote, "name": name}


def run(cwd: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    """`python -m ml ARGS` in `cwd`: the clone's own code, as `make pipeline` runs it there."""
    return subprocess.run(
        [sys.executable, "-m", "ml", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_version_1_is_rebuilt_identically_from_a_later_clean_clone(shared):
    b = shared["b"]
    assert not (b / "data/snapshots/2025Q1.csv").exists() and not (b / ".dvc/cache").exists()
    r = run(b, shared["env"], "reproduce", "1", "--json")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert report["identical"] is True and report["differs"] == []
    assert report["commit"] == git(shared["a"], "rev-parse", "HEAD") != git(b, "rev-parse", "HEAD")
    checks = {c["name"]: c for c in report["checks"]}
    for part in ("data", "lock", "code", "params", "seed", "model_hash", "predictions", "metrics"):
        assert checks[part]["status"] == "same", checks[part]
    assert "4000 rows (the recorded held-out rows)" in checks["predictions"]["detail"]
    # Nothing was registered by reproducing, and no worktree is left behind.
    listing = run(b, shared["env"], "model", "list", "--json")
    assert [v["version"] for v in json.loads(listing.stdout)] == ["1"]
    assert len(git(b, "worktree", "list").splitlines()) == 1


def test_the_second_pipeline_run_is_a_cache_hit_and_registers_nothing(shared):
    r = run(shared["a"], shared["env"], "pipeline", "run", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    stages = {s["name"]: s["status"] for s in json.loads(r.stdout)["stages"]}
    assert stages == {s: "cached" for s in ("validate", "train", "evaluate", "register")}
    assert "cache hit: version 1, key " in r.stderr
    listing = run(shared["a"], shared["env"], "model", "list", "--json")
    assert [v["version"] for v in json.loads(listing.stdout)] == ["1"]


def test_a_changed_data_byte_in_the_remote_differs(shared):
    from ml.data.dvc import dvc_md5

    md5 = dvc_md5(REPO / "data/snapshots/2025Q1.csv")
    obj = shared["remote"] / "files/md5" / md5[:2] / md5[2:]
    good = obj.read_bytes()
    try:
        i = good.index(b"\n", 1000) + 15
        obj.write_bytes(good[:i] + (b"7" if good[i : i + 1] != b"7" else b"3") + good[i + 1 :])
        r = run(shared["b"], shared["env"], "reproduce", "1")
    finally:
        obj.write_bytes(good)
    assert r.returncode == 1, r.stdout + r.stderr[-2000:]
    assert "DIFFERS data" in r.stdout.replace("DIFFERS: ", "")
    assert "was not reproduced: data" in r.stderr


def test_a_version_trained_with_another_lock_differs(shared):
    a, env = shared["a"], shared["env"]
    lock = a / "locks/requirements.txt"
    lock.write_text(lock.read_text() + "# an edit that never reached a commit\n")
    try:
        for args in (("train",), ("evaluate",), ("model", "register")):
            r = run(a, env, *args)
            assert r.returncode == 0, r.stderr[-2000:]
    finally:
        git(a, "checkout", "--", "locks/requirements.txt")
    r = run(shared["b"], env, "reproduce", "2", "--json")
    assert r.returncode == 1, r.stderr[-2000:]
    report = json.loads(r.stdout)
    assert report["differs"] == ["lock"]
    assert "was not reproduced: lock differ" in r.stderr


def test_what_cannot_be_rebuilt_exits_2_naming_it(shared, tmp_path: Path):
    env = shared["env"]
    missing = run(shared["b"], env, "reproduce", "99")
    assert missing.returncode == 2 and "has no version 99" in missing.stderr
    empty = tmp_path / "empty-remote"
    empty.mkdir()
    r = run(shared["b"], {**env, "MLCI_DVC__URL": str(empty)}, "reproduce", "1")
    assert r.returncode == 2
    assert f"is not in DVC remote 'shared' ({empty})" in r.stderr
    other = tmp_path / "unrelated"
    shutil.copytree(shared["b"], other, ignore=shutil.ignore_patterns(".git"))
    git(other, "init", "-q")
    r = run(other, env, "reproduce", "1")
    assert r.returncode == 2
    assert "is not in the repository at" in r.stderr


def test_a_version_recorded_before_this_feature_exits_2(shared):
    import mlflow

    # Both global URIs, as connect() sets them: an earlier test in this process may have left
    # the registry URI elsewhere, and a `models:/m-...` source is resolved through the global
    # tracking URI even by a client given its own.
    uri = shared["env"]["MLCI_MLFLOW__TRACKING_URI"]
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = shared["name"]
    old = client.get_model_version(name, "1")
    exp = client.get_experiment_by_name(name)
    legacy = client.create_run(exp.experiment_id, tags={"git.commit": old.tags["git.commit"]})
    client.set_terminated(legacy.info.run_id)
    mv2 = client.create_model_version(name, old.source, legacy.info.run_id)
    r = run(shared["b"], shared["env"], "reproduce", str(mv2.version))
    assert r.returncode == 2
    assert (
        f"version {mv2.version} did not record dataset.digest, dataset.version, env.lock_hash"
        in (r.stderr)
    )
    assert "registered before mlci recorded what reproduction needs" in r.stderr
