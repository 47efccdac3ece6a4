"""The prediction log in the real server (uvicorn, two worker processes, real ONNX bundles):
what is recorded, sampling, /metrics, a stuck disk, and two versions compared on the same
requests through `disagreement`."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import requests
from starlette.testclient import TestClient

from ml.deploy.predictions import disagreement
from ml.serve.app import ServingApp
from ml.serve.predictor import load_bundle
from ml.serve.predlog import LogConfig, LogCounters, PredictionLog
from tests.conftest import REPO
from tests.fixtures.serving import serve
from tests.image.helpers import ROW

pytestmark = pytest.mark.slow


def _rows(n: int, offset: int = 0) -> list[dict]:
    frame = pd.read_csv(REPO / "data" / "snapshots" / "2025Q1.csv", skiprows=range(1, offset + 1))
    frame = frame.head(n).drop(columns=["churned"])
    return json.loads(frame.to_json(orient="records"))


def _logged(folder: Path, want: int, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        recs = [
            json.loads(line)
            for f in sorted(folder.glob("*.jsonl"))
            for line in f.read_text().splitlines()
            if line
        ]
        if len(recs) >= want or time.monotonic() > deadline:
            return recs
        time.sleep(0.1)


def _metric(text: str, name: str) -> int:
    m = re.search(rf"^{name} (\d+)$", text, re.M)
    assert m, text
    return int(m.group(1))


def test_every_scored_row_is_logged_with_its_request_id(bundles, tmp_path):
    rows = _rows(12)
    with serve(bundles["strong"], tmp_path, env="staging", container="c-strong") as srv:
        answers = {}
        for i, row in enumerate(rows[:10]):
            r = requests.post(
                f"{srv.url}/invocations",
                json={"dataframe_records": [row]},
                headers={"X-Request-ID": f"client-{i}"} if i % 2 == 0 else {},
            )
            assert r.status_code == 200
            answers[r.headers["x-request-id"]] = r.json()["predictions"]
        batch = requests.post(f"{srv.url}/predict", json=rows[10:12])
        answers[batch.headers["x-request-id"]] = batch.json()["predictions"]
        bad = requests.post(f"{srv.url}/invocations", json={"dataframe_records": [{"x": 1}]})
        assert bad.status_code == 422
        recs = _logged(srv.log_dir, 12)
        metrics = requests.get(f"{srv.url}/metrics").text
    assert len(recs) == 12  # the refused request is not a prediction
    assert {"client-0", "client-2", "client-8"} <= set(answers)
    for rec in recs:
        assert rec["prediction"] == answers[rec["request_id"]][rec["row"]]
        assert rec["env"] == "staging" and rec["container"] == "c-strong"
        assert rec["version"] == "1" and rec["model"] == "churn-classifier"
        assert len(rec["probabilities"]) == 2 and rec["latency_ms"] > 0
    by_id = {(r["request_id"], r["row"]): r for r in recs}
    first = by_id[("client-0", 0)]["inputs"]
    assert first["tenure_months"] == rows[0]["tenure_months"]
    assert "customer_id" not in first  # not a feature
    assert _metric(metrics, "mlci_prediction_log_records_total") == 12
    assert _metric(metrics, "mlci_prediction_log_dropped_total") == 0
    assert len({r["id"] for r in recs}) == 12


def test_sample_rate_records_a_share_of_requests(bundles, tmp_path):
    def client(url: str) -> int:
        with requests.Session() as s:
            return sum(s.post(url, json={"inputs": [ROW]}).ok for _ in range(50))

    with serve(bundles["strong"], tmp_path, sample_rate="0.1") as srv:
        with ThreadPoolExecutor(8) as pool:
            assert sum(pool.map(client, [f"{srv.url}/invocations"] * 8)) == 400
        time.sleep(0.5)
        recs = _logged(srv.log_dir, 0)
    assert 15 <= len(recs) <= 70, len(recs)  # binomial(400, 0.1): mean 40, sd 6


def test_stuck_disk_drops_and_never_delays_a_response(bundles, tmp_path):
    """The segment file is a FIFO nobody reads: the writer hangs as on a dead volume."""
    folder = tmp_path / "stuck"
    folder.mkdir()
    os.mkfifo(folder / "c.stuck.000001.jsonl")
    app = ServingApp(load_bundle(bundles["strong"]), log_config=LogConfig(folder=folder))
    cfg = LogConfig(folder=folder, container="c", queue_size=50)
    app.log = PredictionLog(cfg, "churn", "1", LogCounters(app.metrics.folder), worker_id="stuck")
    slowest = 0.0
    with TestClient(app) as client:
        for _ in range(400):
            t = time.perf_counter()
            assert client.post("/invocations", json={"inputs": [ROW]}).status_code == 200
            slowest = max(slowest, time.perf_counter() - t)
        metrics = client.get("/metrics").text
        drained: list[bytes] = []
        reader = threading.Thread(
            target=lambda: drained.append((folder / "c.stuck.000001.jsonl").read_bytes())
        )
        reader.start()  # unstick it so the shutdown can flush
    reader.join(10)
    assert slowest < 1.0, slowest  # a request that waited for the disk would hang for good
    dropped = _metric(metrics, "mlci_prediction_log_dropped_total")
    assert 300 <= dropped <= 350  # queue + at most one batch taken by the stuck writer


def test_disagreement_replays_logged_requests_on_another_version(bundles, tmp_path):
    rows = _rows(300, offset=100)
    with (
        serve(bundles["strong"], tmp_path, workers=1, container="v1") as v1,
        serve(bundles["weak"], tmp_path, workers=1) as v2,
    ):
        for i in range(0, 300, 30):
            assert requests.post(
                f"{v1.url}/invocations", json={"dataframe_records": rows[i : i + 30]}
            ).ok
        recs = _logged(v1.log_dir, 300)
        assert len(recs) == 300
        same = disagreement(recs, v1.url, "binary")
        other = disagreement(recs, v2.url, "binary", batch=64)
        weak = requests.post(f"{v2.url}/invocations", json={"dataframe_records": rows}).json()
        strong = requests.post(f"{v1.url}/invocations", json={"dataframe_records": rows}).json()
    assert (same.n, same.disagreed, same.rate) == (300, 0, 0.0)
    pairs = zip(strong["predictions"], weak["predictions"], strict=True)
    expected = sum(a != b for a, b in pairs)
    assert other.n == 300 and other.disagreed == expected and expected > 0
    assert other.rate == pytest.approx(expected / 300)
    assert "differ" in other.detail


def test_disagreement_names_the_url_that_failed():
    from ml.errors import ServiceError
    from tests.fixtures.mlflow_server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    rec = {"inputs": ROW, "prediction": 0, "status": 200}
    with pytest.raises(ServiceError, match=re.escape(f"{url}/invocations")):
        disagreement([rec], url, "binary", timeout=2)
    assert disagreement([], url, "binary").n == 0
