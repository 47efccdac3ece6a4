"""`mlci reproduce` of a version trained in the stage image retrains in the stage image built
from the recorded commit (its own docker/ci.Dockerfile, lock and code), as a Jenkins build
trains it. (`--in venv` and the platform note: tests/reproduce/test_platform.py.)

A fresh clone of this repository trains version 1 with `mlci pipeline run --executor docker`
(the stage image's id passed as MLCI_STAGE_IMAGE, as the Jenkinsfile does), against a store
outside the clone; then the same clone reproduces it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _link_wheelhouse(clone: Path) -> None:
    """Reuse this checkout's wheelhouse when it was built for the same lock (saves minutes)."""
    src = REPO / ".mlci/cache/wheelhouse/requirements"
    stamp = src / ".lock.sha256"
    if not stamp.is_file():
        return
    dst = clone / ".mlci/cache/wheelhouse/requirements"
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file():
            os.link(f, dst / f.name)


def _mlci(cwd: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ml", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def trained_in_image(docker_client, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("reproduce-image")
    clone = root / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    _link_wheelhouse(clone)
    name = f"repro-img-{uuid.uuid4().hex[:8]}"
    tag = f"mlci/ci:{name}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLCI_", "GIT_"))}
    for var in ("FORCE_RETRAIN", "BRANCH_NAME", "PYTHONPATH", "WORKSPACE"):
        env.pop(var, None)
    env.update(
        {
            "MLCI_MLFLOW__TRACKING_URI": f"sqlite:///{root / 'store/mlflow.db'}",
            "MLCI_MLFLOW__ARTIFACT_ROOT": str(root / "store/artifacts"),
            "MLCI_MLFLOW__EXPERIMENT": name,
            "MLCI_MLFLOW__MODEL_NAME": name,
            "MLCI_TRAIN__PARAMS__MAX_ITER": "20",
            "MLCI_IMAGE__CI_IMAGE": tag,
        }
    )
    built = _mlci(clone, env, "pipeline", "ci-image", "--json")
    assert built.returncode == 0, built.stderr[-3000:]
    image_id = json.loads(built.stdout)["image_id"]
    run = _mlci(
        clone, {**env, "MLCI_STAGE_IMAGE": image_id}, "pipeline", "run", "--executor", "docker"
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    yield {"clone": clone, "env": env, "image_id": image_id, "name": name}
    docker_client.images.remove(tag, force=True)


def test_a_version_trained_in_the_stage_image_is_rebuilt_in_the_commits_stage_image(
    trained_in_image,
):
    from ml.reproduce.run import image_tag_for

    clone, env = trained_in_image["clone"], trained_in_image["env"]
    shown = _mlci(clone, env, "model", "show", "1", "--json")
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert trained_in_image["image_id"] in shown.stdout  # env.stage_image was recorded

    r = _mlci(clone, env, "reproduce", "1", "--json")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert report["identical"] is True
    commit = report["commit"]
    assert report["environment"]["strategy"].startswith(
        f"the stage image built from commit {commit[:12]}"
    )
    assert report["environment"]["stage_image"].startswith("sha256:")
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["platform"]["status"] == "same", checks["platform"]
    assert (
        checks["platform"]["reproduced"]["env.stage_image"]
        == (report["environment"]["stage_image"])
    )
    for part in ("data", "lock", "code", "model_hash", "predictions", "metrics"):
        assert checks[part]["status"] == "same", checks[part]
    assert "the stage image of" in r.stderr and "building" in r.stderr
    # Its tag is removed afterwards (the id stays in the report).
    tags = subprocess.run(
        ["docker", "image", "ls", "-q", image_tag_for(commit)], capture_output=True, text=True
    )
    assert tags.stdout.strip() == ""
