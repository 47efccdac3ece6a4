"""Deployment history, the rollback order, the deploy lock, and the smoke-sample loader."""

from __future__ import annotations

import json
import multiprocessing
import time

import pytest

from ml.config import load_settings
from ml.deploy.history import (
    DeployLocked,
    DeploymentRecord,
    append_history,
    deploy_lock,
    read_history,
    serving_stack,
)
from ml.deploy.smoke import load_samples, served_version
from ml.errors import InputError


def rec(version: str, action: str = "deploy", env: str = "staging") -> DeploymentRecord:
    return DeploymentRecord(
        env=env,
        model="m",
        version=version,
        digest=f"sha256:{version}",
        image=f"r@sha256:{version}",
        action=action,
        by="t",
        at="now",
        started_at="now",
    )


def test_rollback_walks_back_through_history():
    history = [rec("1"), rec("2"), rec("3"), rec("2", "rollback")]
    assert [r.version for r in serving_stack(history)] == ["1", "2"]
    history.append(rec("1", "rollback"))
    assert [r.version for r in serving_stack(history)] == ["1"]
    # a re-deploy of the serving version is not a step to roll back to
    assert [r.version for r in serving_stack([rec("1"), rec("2"), rec("2")])] == ["1", "2"]


def test_history_is_appended_and_filtered_by_env(project):
    settings = load_settings(project)
    append_history(settings, rec("1"))
    append_history(settings, rec("1", env="production"))
    assert read_history(settings, "staging") == [rec("1")]
    assert len(read_history(settings)) == 2
    path = settings.state_dir / "deploy" / "history.jsonl"
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(InputError, match=r"history.jsonl:3: not a deployment record"):
        read_history(settings)


def _hold_lock(config: str, ready, release) -> None:
    with deploy_lock(load_settings(config), "staging", timeout=5):
        ready.set()
        release.wait(10)


def test_lock_refuses_a_second_deploy_to_the_same_env(project):
    settings = load_settings(project)
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(project), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        start = time.monotonic()
        with pytest.raises(DeployLocked) as err, deploy_lock(settings, "staging", timeout=0.5):
            pass
        assert time.monotonic() - start >= 0.5
        assert f"holds {settings.state_dir / 'locks' / 'deploy-staging.lock'} (pid " in str(
            err.value
        )
        assert err.value.exit_code == 4
        with deploy_lock(settings, "production", timeout=0):
            pass  # other environments are not blocked
    finally:
        release.set()
        holder.join(10)
    with deploy_lock(settings, "staging", timeout=1):
        pass


def test_smoke_samples_in_evaluate_layout(tmp_path):
    path = tmp_path / "smoke_samples.json"
    path.write_text(
        json.dumps(
            {
                "run_id": "r",
                "samples": [
                    {
                        "id": "C1",
                        "features": {"a": 1},
                        "label": 1,
                        "prediction": 1,
                        "probability": 0.9,
                    },
                    {
                        "id": "C2",
                        "features": {"a": 2},
                        "label": 0,
                        "prediction": 0,
                        "probability": 0.2,
                    },
                ],
            }
        )
    )
    samples = load_samples(path, limit=1)
    assert (samples.inputs, samples.predictions, samples.probabilities) == ([{"a": 1}], [1], [0.9])
    path.write_text(json.dumps({"rows": []}))
    with pytest.raises(InputError, match="expected keys inputs/records/rows/instances"):
        load_samples(path, 5)


def test_served_version_prefers_the_model_block():
    assert served_version({"version": "0.1.0", "model": {"version": "3"}}) == "3"
    assert served_version({"model_version": 4}) == "4"
    assert served_version({}) is None
