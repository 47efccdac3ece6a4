"""Switching traffic between two model containers: mlci's HAProxy front vs stop-then-start.

Runs both in one process on the local Docker Engine, with the stand-in model server of the
deploy tests (tests/deploy/serving_image), while a client calls POST /predict through the
stable port on one keep-alive session as fast as it can. Prints, for each way, the requests
made, the failed ones and the longest gap between two answers, then the ratio of the gaps.

    .venv/bin/python benchmarks/deploy_switch.py [--rounds 3]

- front: what `mlci deploy` does (ml.deploy.docker_env): the new container starts beside the
  old one, the HAProxy front gets it through its runtime API (`set_backends`: the new server
  must pass its health check, then takes the traffic; the old one is drained and deleted),
  then the old container is stopped.
- stop-then-start: the naive way: stop the old container, start the new one on the same
  published port, wait until it answers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ml.config import EnvironmentSettings, load_settings  # noqa: E402
from ml.deploy import docker_env as de  # noqa: E402
from tests.fixtures.mlflow_server import free_port  # noqa: E402

IMAGE = "mlci-bench/serve:latest"
ROW = {"tenure_months": 3, "monthly_charges": 90.5}


class Client(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.ok, self.failed, self.gap = url, threading.Event(), 0, 0, 0.0

    def run(self) -> None:
        s = requests.Session()
        last = time.monotonic()
        while not self.stop.is_set():
            try:
                r = s.post(self.url, json={"records": [ROW]}, timeout=5)
                r.raise_for_status()
                now = time.monotonic()
                self.ok, self.gap, last = self.ok + 1, max(self.gap, now - last), now
            except requests.RequestException:
                self.failed += 1
                time.sleep(0.005)


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} never became ready")


def measure(switch) -> tuple[int, int, float]:
    client = Client(switch.url)
    switch.prepare()
    client.start()
    time.sleep(0.5)
    switch.run()
    time.sleep(0.5)
    client.stop.set()
    client.join()
    switch.cleanup()
    return client.ok, client.failed, client.gap


class FrontSwitch:
    def __init__(self, client, settings, tag: str) -> None:
        port = free_port()
        self.env = EnvironmentSettings(port=port, container=f"bench-{tag}", bind="127.0.0.1")
        self.client, self.settings, self.url = client, settings, f"http://127.0.0.1:{port}/predict"

    def _start(self, version: str):
        c = self.client.containers.run(
            IMAGE,
            detach=True,
            name=f"{self.env.container}-{version}",
            network=de.network_name(self.env),
            environment={"MODEL_VERSION": version, "READY_AFTER": "0.3"},
            ports={"8000/tcp": ("127.0.0.1", None)},
        )
        wait_ready(f"http://127.0.0.1:{de.host_port(c, 8000)}")
        return c, de.backend_for(c, self.env)

    def prepare(self) -> None:
        self.front = de.ensure_front(self.client, self.settings, "bench", self.env)
        self.old, backend = self._start("1")
        de.set_backends(self.front, [backend])
        wait_ready(self.url.rsplit("/", 1)[0])

    def run(self) -> None:
        self.new, backend = self._start("2")
        de.set_backends(self.front, [backend])
        self.old.stop(timeout=5)

    def cleanup(self) -> None:
        for c in (self.old, self.new, self.front):
            c.remove(force=True)
        self.client.networks.get(de.network_name(self.env)).remove()
        self.client.volumes.get(f"{de.front_name(self.env)}-state").remove(force=True)


class StopStartSwitch:
    def __init__(self, client, tag: str) -> None:
        self.port, self.client, self.tag = free_port(), client, tag
        self.url = f"http://127.0.0.1:{self.port}/predict"

    def _start(self, version: str):
        c = self.client.containers.run(
            IMAGE,
            detach=True,
            name=f"bench-naive-{self.tag}-{version}",
            environment={"MODEL_VERSION": version, "READY_AFTER": "0.3"},
            ports={"8000/tcp": ("127.0.0.1", self.port)},
        )
        wait_ready(self.url.rsplit("/", 1)[0])
        return c

    def prepare(self) -> None:
        self.old = self._start("1")

    def run(self) -> None:
        self.old.stop(timeout=5)
        self.new = self._start("2")

    def cleanup(self) -> None:
        for c in (self.old, self.new):
            c.remove(force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="switches measured per way")
    args = parser.parse_args()
    client = docker.from_env()
    settings = load_settings(ROOT / "mlci.yaml")
    client.images.build(
        path=str(ROOT / "tests" / "deploy" / "serving_image"),
        tag=IMAGE,
        buildargs={"BASE_IMAGE": settings.image.base_image},
        rm=True,
    )
    results: dict[str, list[tuple[int, int, float]]] = {"haproxy front": [], "stop-then-start": []}
    for _ in range(args.rounds):
        tag = uuid.uuid4().hex[:6]
        results["haproxy front"].append(measure(FrontSwitch(client, settings, tag)))
        results["stop-then-start"].append(measure(StopStartSwitch(client, tag)))
    print(f"{'way':<16} {'requests':>9} {'failed':>7} {'longest gap ms (median, max)':>30}")
    gaps = {}
    for way, runs in results.items():
        gaps[way] = statistics.median(g for _, _, g in runs)
        print(
            f"{way:<16} {sum(r[0] for r in runs):>9} {sum(r[1] for r in runs):>7} "
            f"{gaps[way] * 1000:>17.1f} {max(g for _, _, g in runs) * 1000:>11.1f}"
        )
    print(
        f"longest-gap ratio stop-then-start / haproxy front: "
        f"{gaps['stop-then-start'] / gaps['haproxy front']:.1f}x"
    )


if __name__ == "__main__":
    main()
