"""Deploys on the real Docker Engine: v1, v2 with a polling client, a failing v3, rollback."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
import requests
from click.testing import CliRunner

from ml.cli import cli
from ml.config import load_settings
from ml.deploy.catalog import DeployCatalog
from ml.deploy.history import read_history
from ml.registry import tags
from tests.deploy.conftest import MODEL, smoke_samples

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def mlci(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def served(port: int) -> str:
    return requests.get(f"http://127.0.0.1:{port}/metadata", timeout=5).json()["model"]["version"]


class Poller(threading.Thread):
    """A client calling /predict through the stable port as fast as it can, on one keep-alive
    session; records failures and the longest gap between two successful answers."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/predict"
        self.stop_event = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self.versions: list[str] = []
        self.longest_gap = 0.0

    def run(self) -> None:
        body = {"records": [s["features"] for s in smoke_samples(2)["samples"]]}
        session = requests.Session()
        last = time.monotonic()
        while not self.stop_event.is_set():
            try:
                r = session.post(self.url, json=body, timeout=5)
                if r.status_code != 200:
                    self.failures.append(f"HTTP {r.status_code}: {r.text[:100]}")
                    continue
                version = r.json()["version"]
                if not self.versions or self.versions[-1] != version:
                    self.versions.append(version)
                self.ok += 1
                now = time.monotonic()
                self.longest_gap = max(self.longest_gap, now - last)
                last = now
            except requests.RequestException as e:
                self.failures.append(repr(e))


def versions(docker_client, prefix: str) -> dict[str, str]:
    """Serving container name -> version label of the environments under `prefix`."""
    return {
        c.name: c.labels["org.mlci.version"]
        for c in docker_client.containers.list(
            ignore_removed=True, all=True, filters={"label": "org.mlci.role=model"}
        )
        if c.name.startswith(prefix)
    }


def test_deploy_switch_failed_smoke_and_rollback(deploy_project, docker_client):
    port = deploy_project.staging_port
    settings = load_settings(deploy_project.config)
    catalog = DeployCatalog(settings)

    result = mlci("deploy", "staging", MODEL, "1")
    assert result.exit_code == 0, result.output
    assert served(port) == "1"
    assert catalog.alias_version(MODEL, tags.STAGING) == "1"

    poller = Poller(port)
    poller.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    result = mlci("deploy", "staging", MODEL, "2")
    switch_seconds = time.monotonic() - t0
    time.sleep(0.5)
    poller.stop_event.set()
    poller.join()
    assert result.exit_code == 0, result.output
    print(
        f"\nswitch v1->v2: {poller.ok} requests, {len(poller.failures)} failed, longest gap "
        f"{poller.longest_gap * 1000:.1f} ms, deploy took {switch_seconds:.1f}s"
    )
    assert poller.failures == []
    assert poller.versions == ["1", "2"]
    assert served(port) == "2"
    assert catalog.alias_version(MODEL, tags.STAGING) == "2"
    names = {
        c.name
        for c in docker_client.containers.list(ignore_removed=True, all=True)
        if c.name.startswith(deploy_project.prefix)
    }
    assert f"{deploy_project.prefix}-staging-front" in names
    assert list(versions(docker_client, deploy_project.prefix).values()) == ["2"]

    history_before = read_history(settings, "staging")
    result = mlci("deploy", "staging", MODEL, "3")
    assert result.exit_code == 5
    assert "failed the 'smoke' check: sample 0: " in result.output
    assert "churn-classifier version 2 keeps serving" in result.output
    assert served(port) == "2"
    assert catalog.alias_version(MODEL, tags.STAGING) == "2"
    assert read_history(settings, "staging") == history_before
    assert list(versions(docker_client, deploy_project.prefix).values()) == ["2"]
    failed = read_history(settings, "staging", attempts=True)[-1]
    assert (failed.version, failed.outcome, failed.failed_step) == ("3", "failed", "smoke")

    result = mlci("deploy", "rollback", "staging")
    assert result.exit_code == 0, result.output
    assert served(port) == "1"
    assert catalog.alias_version(MODEL, tags.STAGING) == "1"
    assert [(r.version, r.action) for r in read_history(settings, "staging")] == [
        ("1", "deploy"),
        ("2", "deploy"),
        ("1", "rollback"),
    ]

    # the front keeps its upstream across a restart (named volume, network alias)
    docker_client.containers.get(f"{deploy_project.prefix}-staging-front").restart(timeout=2)
    deadline = time.monotonic() + 15
    while True:
        try:
            assert served(port) == "1"
            break
        except (requests.RequestException, KeyError, ValueError):
            assert time.monotonic() < deadline, "front did not come back after a restart"
            time.sleep(0.2)

    result = mlci("deploy", "status", "staging", "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert (row["version"], row["health"], row["alias_version"], row["state"]) == (
        "1",
        "ready",
        "1",
        "running",
    )

    # production requires staging: version 3 never passed there, version 1 did
    result = mlci("deploy", "production", MODEL, "3")
    assert result.exit_code == 3
    assert "has not been deployed to 'staging'" in result.output
    result = mlci("deploy", "production", MODEL, "1")
    assert result.exit_code == 0, result.output
    assert served(deploy_project.production_port) == "1"
    assert catalog.alias_version(MODEL, tags.CHAMPION) == "1"


def test_refusals(deploy_project):
    settings = load_settings(deploy_project.config)
    client = DeployCatalog(settings).client
    client.set_model_version_tag(MODEL, "2", tags.APPROVAL_STATUS, "pending")
    result = mlci("deploy", "staging", MODEL, "2")
    assert result.exit_code == 3
    assert result.output == (
        f"Error: model {MODEL!r} version 2 is pending; approve it first with "
        f"`mlci model approve 2 --reason ...`\n"
    )
    client.delete_model_version_tag(MODEL, "1", tags.IMAGE_DIGEST)
    result = mlci("deploy", "staging", MODEL, "1")
    assert result.exit_code == 2
    assert "has no pushed image" in result.output
    result = mlci("deploy", "qa", MODEL, "1")
    assert result.exit_code == 2
    assert "environment 'qa' is not in" in result.output
    result = mlci("deploy", "rollback", "staging")
    assert result.exit_code == 2
    assert "no previous version recorded for 'staging'" in result.output


def test_concurrent_deploys_do_not_interleave(deploy_project):
    """Two processes deploy to staging at once: the lock serialises them, both succeed."""
    cmd = [sys.executable, "-m", "ml", "deploy", "staging", MODEL]
    procs = [
        subprocess.Popen([*cmd, v], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for v in ("1", "2")
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    a, b = sorted(
        read_history(load_settings(deploy_project.config), "staging"), key=lambda r: r.started_at
    )
    assert a.at <= b.started_at, "the second deploy started before the first finished"
    assert served(deploy_project.staging_port) == b.version


def test_abort_mid_deploy_leaves_the_old_version_serving(deploy_project, docker_client):
    """SIGTERM (how Jenkins aborts a build) while the new container is being checked."""
    assert mlci("deploy", "staging", MODEL, "1").exit_code == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "ml", "deploy", "staging", MODEL, "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    temp = f"{deploy_project.prefix}-staging-v2-"
    deadline = time.monotonic() + 60
    while not docker_client.containers.list(ignore_removed=True, all=True, filters={"name": temp}):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()[0]
        time.sleep(0.02)
    proc.terminate()
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode != 0, out
    assert (
        docker_client.containers.list(ignore_removed=True, all=True, filters={"name": temp}) == []
    )
    assert list(versions(docker_client, deploy_project.prefix).values()) == ["1"], out
    assert served(deploy_project.staging_port) == "1"
    settings = load_settings(deploy_project.config)
    assert DeployCatalog(settings).alias_version(MODEL, tags.STAGING) == "1"
    assert [r.version for r in read_history(settings, "staging")] == ["1"]
    aborted = read_history(settings, "staging", attempts=True)[-1]
    assert (aborted.version, aborted.outcome) == ("2", "interrupted")
