"""The HAProxy front of an environment against the real Docker Engine: switching with a client
calling throughout, weights, a killed replica, a backend that never gets ready, DNS
independence and restarts, and client errors passing through unchanged (real model image)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from ml.config import EnvironmentSettings, Settings, load_settings
from ml.deploy import docker_env as de
from ml.deploy import haproxy
from ml.errors import InputError, ServiceError
from tests.conftest import need_service
from tests.deploy.conftest import smoke_samples
from tests.fixtures.mlflow_server import free_port
from tests.image.helpers import ROW

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@dataclass
class FrontEnv:
    client: Any
    settings: Settings
    env: EnvironmentSettings
    front: Any
    prefix: str
    url: str

    def start(self, image: str, suffix: str, **environment: str) -> Any:
        return self.client.containers.run(
            image,
            name=f"{self.prefix}-{suffix}",
            detach=True,
            network=de.network_name(self.env),
            environment={"OMP_NUM_THREADS": "1", **environment},
            labels={f"{de.LABEL}.role": "test"},
        )


def _front_env(project, docker_client, network: str):
    prefix = f"mlcitest-{uuid.uuid4().hex[:8]}"
    settings = load_settings(project)
    settings = settings.model_copy(
        update={"front": settings.front.model_copy(update={"network": network})}
    )
    env = EnvironmentSettings(port=free_port(), container=f"{prefix}-env", bind="127.0.0.1")
    front = de.ensure_front(docker_client, settings, "fronttest", env)
    yield FrontEnv(docker_client, settings, env, front, prefix, f"http://127.0.0.1:{env.port}")
    for c in docker_client.containers.list(ignore_removed=True, all=True, filters={"name": prefix}):
        c.remove(force=True)
    for n in docker_client.networks.list(names=[de.network_name(env)]):
        n.remove()
    for v in docker_client.volumes.list(filters={"name": prefix}):
        v.remove(force=True)


@pytest.fixture
def front_env(project, docker_client, front_image):
    """A front in the default mode (front.network: host) and its environment network."""
    yield from _front_env(project, docker_client, "host")


@pytest.fixture
def bridge_front_env(project, docker_client, front_image):
    """A front in its own network namespace (front.network: bridge) with a published port."""
    yield from _front_env(project, docker_client, "bridge")


class Caller(threading.Thread):
    """Clients calling the stable port as fast as they can, each on its own keep-alive
    session; records every failure and the version that answered each request."""

    def __init__(self, url: str, threads: int = 1) -> None:
        super().__init__(daemon=True)
        self.url, self.threads = url, threads
        self.failures: list[str] = []
        self.versions: list[str] = []
        self.answered: Counter = Counter()
        self.stop_event = threading.Event()
        self.lock = threading.Lock()

    def one(self) -> None:
        body = {"records": [s["features"] for s in smoke_samples(1)["samples"]]}
        session = requests.Session()
        while not self.stop_event.is_set():
            try:
                r = session.post(f"{self.url}/predict", json=body, timeout=10)
            except requests.RequestException as e:
                with self.lock:
                    self.failures.append(repr(e))
                continue
            with self.lock:
                if r.status_code != 200:
                    self.failures.append(f"HTTP {r.status_code}: {r.text[:100]}")
                    continue
                version = r.json()["version"]
                self.answered[version] += 1
                if not self.versions or self.versions[-1] != version:
                    self.versions.append(version)

    def run(self) -> None:
        workers = [threading.Thread(target=self.one, daemon=True) for _ in range(self.threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    def stop(self) -> None:
        self.stop_event.set()
        self.join(30)


def served(url: str) -> str:
    return requests.get(f"{url}/metadata", timeout=5).json()["model"]["version"]


def test_switch_weights_and_stats_with_a_client_calling(front_env, pushed_images):
    f = front_env
    v1 = f.start(pushed_images["1"].ref, "v1")
    b1 = de.backend_for(v1, f.env)
    assert b1.address.rsplit(":", 1)[1] == "8000"  # the image's exposed port
    de.set_backends(f.front, [b1])
    assert de.front_backends(f.front) == [b1]
    assert served(f.url) == "1"

    caller = Caller(f.url)
    caller.start()
    time.sleep(0.5)
    v2 = f.start(pushed_images["2"].ref, "v2")
    b2 = de.backend_for(v2, f.env)
    t0 = time.monotonic()
    de.set_backends(f.front, [b2])
    took = time.monotonic() - t0
    time.sleep(0.5)
    caller.stop()
    print(f"\nswitch: {sum(caller.answered.values())} requests, set_backends {took:.2f}s")
    assert caller.failures == []
    assert caller.versions == ["1", "2"]  # one cutover, never back
    assert de.front_backends(f.front) == [b2]
    stats = de.front_stats(f.front)
    assert set(stats) == {b2.name}
    assert stats[b2.name]["requests"] >= caller.answered["2"] > 0
    assert stats[b2.name]["5xx"] == stats[b2.name]["failed"] == 0

    # a weighted split: both versions answer, in about the ratio of the weights
    w1, w2 = de.Backend(b1.name, b1.address, 75), de.Backend(b2.name, b2.address, 25)
    de.set_backends(f.front, [w1, w2])
    assert sorted(de.front_backends(f.front), key=lambda b: b.name) == [w1, w2]
    counts = Counter(
        requests.post(f"{f.url}/predict", json={"records": []}, timeout=5).json()["version"]
        for _ in range(200)
    )
    assert counts["1"] + counts["2"] == 200
    assert 120 <= counts["1"] <= 180, counts  # 150 expected for a 75/25 round robin
    # weight 0: drained, still configured, gets nothing
    de.set_backends(f.front, [de.Backend(b1.name, b1.address, 0), w2])
    assert {served(f.url) for _ in range(20)} == {"2"}


def test_a_killed_replica_leaves_rotation_without_failed_requests(front_env, pushed_images):
    f = front_env
    replicas = [f.start(pushed_images["1"].ref, f"r{i}") for i in range(2)]
    backends = [de.backend_for(c, f.env) for c in replicas]
    de.set_backends(f.front, backends)
    caller = Caller(f.url, threads=4)
    caller.start()
    time.sleep(1.0)
    before = sum(caller.answered.values())
    replicas[0].kill()
    time.sleep(3.0)
    caller.stop()
    after = sum(caller.answered.values())
    print(f"\nkilled replica: {before} requests before, {after - before} after the kill")
    assert caller.failures == []
    assert after - before > 50  # the survivor kept answering
    deadline = time.monotonic() + 10  # health checks: fall 2 at check_interval_ms
    while haproxy.server_states(f.front).get(backends[0].name) != "DOWN":
        assert time.monotonic() < deadline, haproxy.server_states(f.front)
        time.sleep(0.1)
    assert haproxy.server_states(f.front) == {backends[0].name: "DOWN", backends[1].name: "UP"}
    stats = de.front_stats(f.front)
    assert stats[backends[1].name]["2xx"] > 0


def test_a_backend_that_never_gets_ready_is_refused(front_env, pushed_images):
    f = front_env
    good = de.backend_for(f.start(pushed_images["1"].ref, "good"), f.env)
    de.set_backends(f.front, [good])
    stuck = f.start(pushed_images["2"].ref, "stuck", READY_AFTER="3600")
    with pytest.raises(ServiceError, match="health check"):
        de.set_backends(f.front, [de.backend_for(stuck, f.env)], timeout=3)
    assert de.front_backends(f.front) == [good]  # the attempt left nothing behind
    assert served(f.url) == "1"
    with pytest.raises(InputError, match="IP:PORT"):
        de.Backend("by-name", f"{f.prefix}-good:8000")
    with pytest.raises(InputError, match=r"0\.\.256"):
        de.Backend("heavy", "10.0.0.1:8000", 300)


def test_serves_through_a_dns_outage_a_reload_and_a_restart(
    bridge_front_env, pushed_images, docker_client
):
    f = bridge_front_env
    assert f.front.attrs["HostConfig"]["NetworkMode"] != "host"  # its own namespace's DNS
    v1 = f.start(pushed_images["1"].ref, "v1")
    b1 = de.backend_for(v1, f.env)
    de.set_backends(f.front, [b1])
    cfg = f.front.exec_run(["cat", haproxy.CONFIG]).output.decode()
    assert f"server {b1.name} {b1.address} " in cfg and "resolvers" not in cfg
    lookup = ["getent", "hosts", v1.name]
    assert f.front.exec_run(lookup).exit_code == 0  # Docker's embedded DNS answers ...
    # ... until its NAT rules in the front's network namespace are gone (what a host network
    # reconfiguration did in issue 13); then the front reloads its configuration.
    f.front.reload()
    pid = str(f.front.attrs["State"]["Pid"])
    if shutil.which("nsenter") is None or os.geteuid() != 0:
        need_service("breaking the front's DNS needs root and nsenter (util-linux)")
    subprocess.run(["nsenter", "-t", pid, "-n", "iptables", "-t", "nat", "-F"], check=True)
    assert f.front.exec_run(lookup).exit_code != 0, "DNS still answers"
    assert served(f.url) == "1"
    haproxy.reload(f.front)
    assert de.front_backends(f.front) == [b1] and served(f.url) == "1"
    # a restart (or an engine restart) starts from the persisted configuration
    f.front.restart(timeout=5)
    haproxy.wait_api(f.front)
    assert de.front_backends(f.front) == [b1]
    deadline = time.monotonic() + 10
    while haproxy.server_states(f.front).get(b1.name) != "UP":
        assert time.monotonic() < deadline, haproxy.server_states(f.front)
        time.sleep(0.1)
    assert served(f.url) == "1"
    # ensure_front finds the running front and keeps its state
    again = de.ensure_front(docker_client, f.settings, "fronttest", f.env)
    assert again.id == f.front.id and de.front_backends(again) == [b1]


def raw_status(host: str, port: int, request: bytes, body_chunks: int = 0) -> str:
    """Send a raw HTTP request; return the response's status code, or what went wrong."""
    with socket.create_connection((host, port), timeout=10) as s:
        try:
            s.sendall(request)
            for _ in range(body_chunks):
                s.sendall(b" " * 65536)
        except OSError:
            pass  # the server may answer and close before reading all of it
        data = b""
        try:
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError as e:
            return f"connection error {e.__class__.__name__}" if not data else data.decode()[:12]
    return data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "no response"


def _post(headers: str) -> bytes:
    return (
        f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}\r\n"
    ).encode()


FUZZ = {
    "oversized body": (_post(f"Content-Length: {40 * 65536}\r\n"), 40),
    "non-numeric Content-Length": (_post("Content-Length: abc\r\n") + b"{}", 0),
    "negative Content-Length": (_post("Content-Length: -5\r\n") + b"{}", 0),
    "100 KB header": (
        f"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 100_000}\r\n\r\n".encode(),
        0,
    ),
    "malformed JSON": (_post("Content-Length: 1\r\n") + b"{", 0),
}


def test_client_errors_pass_through_the_front_unchanged(front_env, model_image):
    f = front_env
    app = f.start(model_image, "model")
    b = de.backend_for(app, f.env)
    de.set_backends(f.front, [b])
    body = {"dataframe_records": [ROW]}
    assert requests.post(f"{f.url}/invocations", json=body, timeout=10).status_code == 200
    ip, port = b.address.rsplit(":", 1)
    direct = {case: raw_status(ip, int(port), *req) for case, req in FUZZ.items()}
    front = {case: raw_status("127.0.0.1", f.env.port, *req) for case, req in FUZZ.items()}
    print(f"\ndirect: {direct}\nfront:  {front}")
    assert direct["100 KB header"] == "200"  # uvicorn accepts it; the front must too
    assert all(s.startswith("4") for c, s in direct.items() if c != "100 KB header"), direct
    assert front == direct
    # beyond the front's 128 KiB buffer the front itself refuses it: a 4xx, not a 5xx or a drop
    huge = f"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 200_000}\r\n\r\n".encode()
    assert raw_status("127.0.0.1", f.env.port, huge).startswith("4")
    stats = de.front_stats(f.front)[b.name]
    assert stats["5xx"] == 0 and stats["failed"] == 0
    assert requests.post(f"{f.url}/invocations", json=body, timeout=10).status_code == 200


@pytest.mark.parametrize("host_network", [True, False], ids=["host", "bridge"])
def test_rendered_configuration_is_valid_haproxy(docker_client, front_image, host_network):
    opts = haproxy.FrontOptions(
        listen="127.0.0.1:18080" if host_network else ":8080", host_network=host_network
    )
    backends = [de.Backend("a-1", "10.1.2.3:8000", 90), de.Backend("b.2", "10.1.2.4:8080", 10)]
    cfg = haproxy.render_config(backends, opts)
    assert cfg.startswith(f"# mlci front, template {haproxy.template_digest(opts)}\n")
    assert ("ipv4@127.0.0.1:9999" in cfg) is not host_network  # no TCP API on the host's loopback
    assert f"bind {opts.listen}\n" in cfg and "resolvers" not in cfg
    out = docker_client.containers.run(
        front_image,
        ["sh", "-c", 'printf %s "$CFG" > /tmp/h.cfg && haproxy -c -f /tmp/h.cfg && echo VALID'],
        environment={"CFG": cfg},
        network_mode="none",
        remove=True,
    )
    assert b"VALID" in out
