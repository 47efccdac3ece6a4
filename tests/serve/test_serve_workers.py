"""The multi-worker server answers a keep-alive client without Nagle stalls on asyncio's loop
(what runs where uvloop is not installed, as in this venv): before, uvicorn's shared socket left
TCP_NODELAY off and every response body waited for the client's delayed ACK (Linux: at least
40 ms), so sequential requests took ~48 ms each instead of a few. (The image's uvloop sets it.)"""

from __future__ import annotations

import http.client
import json
import statistics
import time

import pytest

from tests.fixtures.serving import serve
from tests.image.helpers import ROW

pytestmark = pytest.mark.slow


def test_two_workers_answer_sequential_keep_alive_requests_without_a_40ms_stall(bundles, tmp_path):
    body = json.dumps({"inputs": [ROW]}).encode()
    with serve(bundles["strong"], tmp_path, workers=2) as srv:
        host, port = srv.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        took = []
        for _ in range(60):
            start = time.perf_counter()
            conn.request(
                "POST", "/invocations", body=body, headers={"content-type": "application/json"}
            )
            resp = conn.getresponse()
            assert resp.status == 200 and resp.read()
            took.append((time.perf_counter() - start) * 1000)
        conn.close()
    assert statistics.median(took) < 35, sorted(took)  # the stall alone is >= 40 ms
