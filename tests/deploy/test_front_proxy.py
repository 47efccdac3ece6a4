"""The front proxy as a plain local process: forwarding, switching, keep-alive, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from ml.deploy import front_proxy
from tests.fixtures.mlflow_server import free_port

PROXY = Path(front_proxy.__file__)


def upstream(name: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            out = json.dumps({"from": name, "echo": json.loads(body)}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def do_GET(self):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5\r\nhello\r\n0\r\n\r\n")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def front(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "MLCI_UPSTREAM_FILE": str(tmp_path / "upstream"),
        "MLCI_FRONT_PORT": str(port),
    }
    proc = subprocess.Popen([sys.executable, str(PROXY)], env=env)
    deadline = time.monotonic() + 10
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "front proxy did not start"
            time.sleep(0.05)

    def switch(target: str) -> None:
        subprocess.run([sys.executable, str(PROXY), "switch", target], env=env, check=True)

    yield f"http://127.0.0.1:{port}", switch
    proc.terminate()
    proc.wait(5)


def test_forwards_switches_and_keeps_connections(front):
    url, switch = front
    a, b = upstream("a"), upstream("b")
    session = requests.Session()
    r = session.post(f"{url}/predict", json={"x": 1})
    assert r.status_code == 502 and "upstream unavailable" in r.text  # nothing deployed yet
    switch(f"127.0.0.1:{a.server_address[1]}")
    assert session.post(f"{url}/predict", json={"x": 1}).json() == {"from": "a", "echo": {"x": 1}}
    assert session.post(f"{url}/predict", json={"x": 2}).json()["from"] == "a"
    switch(f"127.0.0.1:{b.server_address[1]}")
    # the same keep-alive connection now reaches b: requests are routed one by one
    r = session.post(f"{url}/predict", json={"x": 3})
    assert r.json()["from"] == "b"
    assert r.headers["Connection"] == "keep-alive"
    assert session.get(f"{url}/chunked").text == "hello"
    a.shutdown()
    b.shutdown()
