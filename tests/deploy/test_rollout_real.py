"""Replicas and canaries with the real model image (trained, built and pushed once per run)
behind the real front, with a client calling the stable port throughout."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import datetime

import pandas as pd
import pytest
import requests
from click.testing import CliRunner

from ml.cli import cli
from ml.config import load_settings
from ml.deploy.catalog import DeployCatalog
from ml.deploy.history import read_history
from ml.registry import tags
from tests.conftest import REPO
from tests.deploy.real_images import (
    MODEL,
    real_models,  # noqa: F401 - the session fixture
    real_project_fixture,
    remove_environment,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CANARY = {
    "interval": 1,
    "duration": 30,
    "min_requests": 20,
    "min_compared": 10,
    "max_error_rate": 0.01,
    "max_disagreement": 0.02,
    "max_p99_ratio": 3.0,
    "p99_floor_ms": 50,
}


def traffic_rows(n: int = 24) -> list[dict]:
    frame = pd.read_csv(REPO / "data" / "snapshots" / "2025Q1.csv", nrows=n)
    return json.loads(frame.drop(columns=["churned", "customer_id"]).to_json(orient="records"))


class Client(threading.Thread):
    """Calls POST /invocations on the stable port on one keep-alive session, one row at a time
    (cycling through real rows); records failures, versions seen and the longest gap."""

    def __init__(self, url: str, pause: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.url = f"{url}/invocations"
        self.pause = pause
        self.stop_event = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self.longest_gap = 0.0

    def run(self) -> None:
        rows = traffic_rows()
        session = requests.Session()
        last = time.monotonic()
        i = 0
        while not self.stop_event.is_set():
            body = {"dataframe_records": [rows[i % len(rows)]]}
            i += 1
            try:
                r = session.post(self.url, json=body, timeout=10)
                if r.status_code != 200:
                    self.failures.append(f"HTTP {r.status_code}: {r.text[:100]}")
                else:
                    self.ok += 1
                    now = time.monotonic()
                    self.longest_gap = max(self.longest_gap, now - last)
                    last = now
            except requests.RequestException as e:
                self.failures.append(repr(e))
            time.sleep(self.pause)

    def finish(self) -> Client:
        self.stop_event.set()
        self.join()
        return self


def mlci(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def served(url: str) -> str:
    return requests.get(f"{url}/metadata", timeout=5).json()["model"]["version"]


def model_names(docker_client, prefix: str) -> dict[str, str]:
    """container name -> version label, for the environment's serving containers."""
    return {
        c.name: c.labels["org.mlci.version"]
        for c in docker_client.containers.list(
            ignore_removed=True, all=True, filters={"label": "org.mlci.role=model"}
        )
        if c.name.startswith(prefix)
    }


@pytest.fixture
def two_replicas(tmp_path, monkeypatch, docker_client, registry, real_models, front_image):  # noqa: F811
    p = real_project_fixture(
        tmp_path, monkeypatch, docker_client, registry, real_models, replicas=2
    )
    yield p
    remove_environment(docker_client, p.prefix)


@pytest.fixture
def canary_env(tmp_path, monkeypatch, docker_client, registry, real_models, front_image):  # noqa: F811
    p = real_project_fixture(
        tmp_path, monkeypatch, docker_client, registry, real_models, canary=CANARY
    )
    yield p
    remove_environment(docker_client, p.prefix)


def test_two_replicas_replaced_one_by_one(two_replicas, docker_client):
    p = two_replicas
    result = mlci("deploy", p.env, "1")  # NAME defaults to mlflow.model_name
    assert result.exit_code == 0, result.output
    first = model_names(docker_client, p.prefix)
    assert sorted(first.values()) == ["1", "1"]

    client = Client(p.url)
    client.start()
    time.sleep(0.5)
    result = mlci("deploy", p.env, MODEL, "2", "--json")
    client.finish()
    assert result.exit_code == 0, result.output
    print(
        f"\n2 replicas v1->v2 (real image): {client.ok} requests, {len(client.failures)} "
        f"failed, longest gap {client.longest_gap * 1000:.0f} ms"
    )
    assert client.failures == []
    assert client.ok > 0
    record = json.loads(result.stdout)
    assert (record["version"], record["replicas"], record["outcome"]) == ("2", 2, "done")
    now = model_names(docker_client, p.prefix)
    assert sorted(now.values()) == ["2", "2"] and not set(now) & set(first)

    result = mlci("deploy", "status", p.env, "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert (row["version"], row["health"], row["alias_version"]) == ("2", "ready", "2")
    assert sorted((r["name"], r["version"], r["weight"]) for r in row["replicas"]) == sorted(
        (name, "2", 100) for name in now
    )
    text = mlci("deploy", "status", p.env)
    assert f"{p.env} replicas:" in text.output
    assert all(name in text.output for name in now)

    # a failing replica check undoes the whole rollout: version 1 is refused at /metadata
    # when its image answers for another version (pinned override), both v2 replicas stay
    settings = load_settings(p.config)
    attempts_before = len(read_history(settings, p.env, attempts=True))
    from ml.deploy.deploy import deploy
    from ml.errors import DeployFailed

    v2_image = read_history(settings, p.env)[-1].image
    with pytest.raises(DeployFailed, match=r"failed the 'metadata' check: /metadata names version"):
        deploy(settings, p.env, MODEL, "1", pinned_override=v2_image)
    assert model_names(docker_client, p.prefix) == now
    assert served(p.url) == "2"
    attempts = read_history(settings, p.env, attempts=True)
    assert len(attempts) == attempts_before + 1
    assert (attempts[-1].outcome, attempts[-1].failed_step) == ("failed", "metadata")


def _canary(env: str, version: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ml", "deploy", env, version, "--canary", "30", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_canary(env: str, proc: subprocess.Popen, timeout: float = 120) -> dict:
    """Poll `mlci deploy status --json` in this process until the other one's canary shows."""
    deadline = time.monotonic() + timeout
    while True:
        result = mlci("deploy", "status", env, "--json")
        assert result.exit_code == 0, result.output
        (row,) = json.loads(result.output)
        if row["canary"]:
            return row
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the canary never showed in `mlci deploy status`"
        time.sleep(0.3)


def test_canary_promoted(canary_env, docker_client):
    p = canary_env
    assert mlci("deploy", p.env, "1").exit_code == 0
    client = Client(p.url)
    client.start()
    proc = _canary(p.env, "2", "--for", "8s")
    row = _wait_for_canary(p.env, proc)
    assert (row["canary"]["version"], row["canary"]["canary"]["percent"]) == ("2", 30)
    weights = {r["version"]: r["weight"] for r in row["replicas"]}
    assert weights["2"] < weights["1"]  # 30% by weight: the canary gets the smaller share
    text = mlci("deploy", "status", p.env).output
    assert f"{p.env}: canary of churn-classifier version 2 in progress: 30% of traffic" in text
    out = proc.communicate(timeout=180)[0]
    client.finish()
    assert proc.returncode == 0, out
    print(
        f"\ncanary v1->v2 promoted (real image): {client.ok} requests, "
        f"{len(client.failures)} failed, longest gap {client.longest_gap * 1000:.0f} ms"
    )
    assert client.failures == []
    assert served(p.url) == "2"
    settings = load_settings(p.config)
    assert DeployCatalog(settings).alias_version(MODEL, tags.STAGING) == "2"
    rec = read_history(settings, p.env)[-1]
    assert (rec.version, rec.action, rec.outcome) == ("2", "canary", "done")
    figures = rec.canary["figures"]
    assert rec.canary["decision"] == "promote"
    assert figures["requests"] >= CANARY["min_requests"] and figures["errors"] == 0
    assert figures["compared"] >= CANARY["min_compared"] and figures["disagreed"] == 0
    assert figures["p99_ms"] is not None and figures["baseline_p99_ms"] is not None
    assert sorted(model_names(docker_client, p.prefix).values()) == ["2"]
    assert mlci("deploy", "status", p.env, "--json").output.count('"canary": null') == 1


def test_canary_that_disagrees_is_rolled_back(canary_env, docker_client):
    p = canary_env
    assert mlci("deploy", p.env, "1").exit_code == 0
    client = Client(p.url)
    client.start()
    proc = _canary(p.env, "3", "--for", "60s")
    out = proc.communicate(timeout=180)[0]
    client.finish()
    assert proc.returncode == 5, out
    assert f"canary of churn-classifier version 3 in {p.env} was rolled back: disagreement" in out
    assert "churn-classifier version 1 keeps serving" in out
    assert client.failures == []
    assert served(p.url) == "1"
    assert sorted(model_names(docker_client, p.prefix).values()) == ["1"]
    settings = load_settings(p.config)
    assert DeployCatalog(settings).alias_version(MODEL, tags.STAGING) == "1"
    last = read_history(settings, p.env, attempts=True)[-1]
    assert (last.version, last.outcome, last.failed_step) == ("3", "rolled back", "watch")
    assert last.canary["decision"] == "rollback"
    assert last.canary["figures"]["disagreed"] > 0
    assert [r.version for r in read_history(settings, p.env)] == ["1"]


def test_canary_that_errors_is_rolled_back_within_the_interval(canary_env, docker_client):
    p = canary_env
    assert mlci("deploy", p.env, "1").exit_code == 0
    client = Client(p.url)
    client.start()
    proc = _canary(p.env, "2", "--for", "120s")
    row = _wait_for_canary(p.env, proc)
    (new,) = row["canary"]["canary"]["new_servers"]
    time.sleep(1.5)
    docker_client.containers.get(new).kill()  # the new version stops answering
    killed = time.time()
    out = proc.communicate(timeout=120)[0]
    client.finish()
    assert proc.returncode == 5, out
    assert "was rolled back: error rate" in out
    last = read_history(load_settings(p.config), p.env, attempts=True)[-1]
    assert (last.outcome, last.failed_step) == ("rolled back", "watch")
    started = datetime.fromisoformat(last.canary["started_at"].replace("Z", "+00:00"))
    decided = started.timestamp() + last.canary["figures"]["elapsed"]
    print(
        f"\ncanary killed: decided {decided - killed:.1f}s later (interval "
        f"{CANARY['interval']}s); client failures {client.failures}"
    )
    # decided at the first look after the kill: one interval plus the time one look takes
    # (front counts, /metrics, reading and replaying the prediction log) on a loaded machine
    assert decided - killed < CANARY["interval"] + 6
    assert served(p.url) == "1"
    assert sorted(model_names(docker_client, p.prefix).values()) == ["1"]
    # the front retries a refused connection on the old version: at most the one request in
    # flight when the container died fails (the client sends one at a time)
    assert len(client.failures) <= 1, client.failures
