"""The prediction log writer on its own: sampling, the size bound, a full queue that drops and
counts, and a stuck disk (a FIFO nobody reads) that never delays the request path."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ml.serve.predlog import LogConfig, LogCounters, PredictionLog, data_ids


def _log(folder: Path, worker_id: str = "w1", **kw) -> PredictionLog:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = LogConfig(folder=folder, env="staging", container="c1", **kw)
    return PredictionLog(cfg, "churn", "7", LogCounters(folder), worker_id=worker_id)


def _submit(log: PredictionLog, i: int, rows: int = 1) -> bool:
    cols = {"a": [float(i)] * rows, "b": ["x"] * rows}
    proba = np.array([[0.25, 0.75]] * rows)
    return log.submit(f"r{i}", cols, [1] * rows, proba, 1.5, 200, "invocations")


def _records(folder: Path) -> list[dict]:
    out = []
    for f in sorted(folder.glob("*.jsonl")):
        out += [json.loads(line) for line in f.read_text().splitlines() if line]
    return out


def test_records_carry_inputs_prediction_and_facts(tmp_path):
    log = _log(tmp_path / "log")
    log.start()
    assert _submit(log, 1, rows=2)
    log.close()
    recs = _records(tmp_path / "log")
    assert [r["row"] for r in recs] == [0, 1]
    r = recs[0]
    assert r["inputs"] == {"a": 1.0, "b": "x"}
    assert r["prediction"] == 1 and r["probabilities"] == [0.25, 0.75]
    assert (r["env"], r["container"], r["model"], r["version"]) == ("staging", "c1", "churn", "7")
    assert r["request_id"] == "r1" and r["status"] == 200 and r["latency_ms"] == 1.5
    assert r["ts"].endswith("Z") and len({x["id"] for x in recs}) == 2
    assert log.counters.total() == {"written": 2, "dropped": 0, "errors": 0}


@pytest.mark.parametrize("rate", [0.0, 0.1, 1.0])
def test_sampling_keeps_the_configured_share(tmp_path, rate):
    log = _log(tmp_path / "log", sample_rate=rate)
    log._random = random.Random(7).random
    kept = sum(log.sampled() for _ in range(20000))
    if rate in (0.0, 1.0):
        assert kept == rate * 20000
    else:  # binomial sd ~42 at n=20000, p=0.1
        assert abs(kept - 2000) < 200, kept


def test_folder_stays_under_the_cap_oldest_segments_go_first(tmp_path):
    folder = tmp_path / "log"
    log = _log(folder, max_bytes=20_000, segment_bytes=4_000, flush_seconds=0.005)
    log.start()
    for i in range(400):
        _submit(log, i)
        if i % 10 == 0:
            time.sleep(0.02)  # many batches, many rotations
    log.close()
    sizes = [f.stat().st_size for f in folder.glob("*.jsonl")]
    assert sum(sizes) <= 20_000 + 4_000 + 8_000, sizes  # cap + the open segment + one batch
    names = sorted(f.name for f in folder.glob("*.jsonl"))
    assert names[0] != "c1.w1.000001.jsonl"  # the first segments were deleted
    kept = _records(folder)
    assert kept[-1]["request_id"] == "r399"  # the newest are kept
    assert log.counters.total()["written"] == 400


def test_full_queue_drops_and_counts(tmp_path):
    log = _log(tmp_path / "log", queue_size=10)  # writer not started: nothing drains
    accepted = [_submit(log, i) for i in range(25)]
    assert accepted == [True] * 10 + [False] * 15
    assert log.counters.total()["dropped"] == 15
    log.start()
    log.close()
    assert len(_records(tmp_path / "log")) == 10


def test_stuck_disk_never_delays_submit(tmp_path):
    """The segment is a FIFO with no reader: the writer blocks in open() like a hung volume."""
    folder = tmp_path / "log"
    folder.mkdir()
    fifo = folder / "c1.stuck.000001.jsonl"
    os.mkfifo(fifo)
    log = _log(folder, worker_id="stuck", queue_size=100)
    log.start()
    slowest = 0.0
    for i in range(3000):
        t = time.perf_counter()
        _submit(log, i)
        slowest = max(slowest, time.perf_counter() - t)
    assert slowest < 0.05, slowest  # a blocking design would wait forever here
    dropped = log.counters.total()["dropped"]
    assert 3000 - 200 <= dropped <= 3000 - 100  # queue + at most one batch taken by the writer
    drained: list[bytes] = []
    reader = threading.Thread(target=lambda: drained.append(fifo.read_bytes()))
    reader.start()  # the disk comes back: the writer proceeds
    log.close()
    reader.join(5)
    lines = b"".join(drained).splitlines()
    assert len(lines) == 3000 - dropped


def test_data_ids_from_every_request_shape():
    recs = [{"id": "a", "x": 1}, {"id": "b", "x": 2}]
    assert data_ids(recs, "id") == ["a", "b"]
    assert data_ids({"dataframe_records": recs}, "id") == ["a", "b"]
    assert data_ids({"records": recs}, "id") == ["a", "b"]
    split = {"dataframe_split": {"columns": ["x", "id"], "data": [[1, "a"], [2, "b"]]}}
    assert data_ids(split, "id") == ["a", "b"]
    assert data_ids({"inputs": {"x": [1]}}, "id") is None


def test_config_from_the_container_environment(tmp_path):
    assert LogConfig.from_env({}) is None
    cfg = LogConfig.from_env(
        {
            "MLCI_PREDLOG_DIR": str(tmp_path),
            "MLCI_PREDLOG_SAMPLE_RATE": "0.25",
            "MLCI_PREDLOG_MAX_MB": "2",
            "MLCI_PREDLOG_SEGMENT_MB": "0.5",
            "MLCI_PREDLOG_QUEUE": "7",
            "MLCI_PREDLOG_ENV": "prod",
            "MLCI_PREDLOG_CONTAINER": "c9",
        }
    )
    assert (cfg.sample_rate, cfg.max_bytes, cfg.segment_bytes, cfg.queue_size) == (
        0.25,
        2 << 20,
        1 << 19,
        7,
    )
    assert (cfg.env, cfg.container) == ("prod", "c9")
