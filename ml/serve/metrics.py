"""Prometheus metrics shared by every worker process, without a client library.

Each worker keeps its counters in a small memory-mapped file of float64 slots
(`$MLCI_METRICS_DIR/worker-<pid>.bin`); `/metrics`, answered by any worker, sums the files of
all workers, so a scrape sees the whole server whichever process answers. The slot layout is
fixed (endpoints x status codes, latency buckets), which keeps an update to one array write.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ENDPOINTS = ("health", "ready", "metadata", "predict", "invocations", "metrics", "other")
STATUSES = (200, 400, 404, 405, 413, 415, 422, 500, 503)
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
TIMED = ("predict", "invocations")

_N_REQ = len(ENDPOINTS) * len(STATUSES)
_N_HIST = len(BUCKETS) + 2  # buckets, +Inf, sum
_HIST0 = _N_REQ
_ROWS = _HIST0 + len(TIMED) * _N_HIST
SLOTS = _ROWS + 1

_ENDPOINT_INDEX = {e: i for i, e in enumerate(ENDPOINTS)}
_STATUS_INDEX = {s: i for i, s in enumerate(STATUSES)}
_BUCKET_EDGES = np.array(BUCKETS)


def metrics_dir() -> Path:
    """$MLCI_METRICS_DIR (set once by the server entry point, shared by its workers), else a
    fresh folder for this process alone."""
    env = os.environ.get("MLCI_METRICS_DIR")
    if not env:
        env = tempfile.mkdtemp(prefix="mlci-metrics-")
        os.environ["MLCI_METRICS_DIR"] = env
    folder = Path(env)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Metrics:
    """This worker's counters, plus the aggregation across workers for `/metrics`."""

    def __init__(self, folder: Path | None = None, labels: dict[str, str] | None = None) -> None:
        self.folder = folder or metrics_dir()
        self.path = self.folder / f"worker-{os.getpid()}.bin"
        self.slots = np.memmap(self.path, dtype=np.float64, mode="w+", shape=(SLOTS,))
        self.info_labels = labels or {}

    def observe(self, endpoint: str, status: int, seconds: float, rows: int = 0) -> None:
        e = _ENDPOINT_INDEX.get(endpoint, len(ENDPOINTS) - 1)
        s = _STATUS_INDEX.get(status, _STATUS_INDEX[500] if status >= 500 else _STATUS_INDEX[400])
        slots = self.slots
        slots[e * len(STATUSES) + s] += 1
        if endpoint in TIMED:
            base = _HIST0 + TIMED.index(endpoint) * _N_HIST
            slots[base + int(np.searchsorted(_BUCKET_EDGES, seconds))] += 1
            slots[base + _N_HIST - 1] += seconds
            if status == 200:
                slots[_ROWS] += rows

    def _total(self) -> np.ndarray:
        total = np.zeros(SLOTS)
        for f in self.folder.glob("worker-*.bin"):
            try:
                total += np.fromfile(f, dtype=np.float64, count=SLOTS)
            except (OSError, ValueError):
                continue
        return total

    def render(self) -> str:
        """The Prometheus text exposition of the summed counters."""
        t = self._total()
        out = [
            "# HELP mlci_model_info The model this server scores with (value is always 1).",
            "# TYPE mlci_model_info gauge",
            "mlci_model_info{" + _labels(self.info_labels) + "} 1",
            "# HELP mlci_http_requests_total HTTP requests by endpoint and status code.",
            "# TYPE mlci_http_requests_total counter",
        ]
        for e, endpoint in enumerate(ENDPOINTS):
            for s, status in enumerate(STATUSES):
                value = t[e * len(STATUSES) + s]
                if value:
                    out.append(
                        f'mlci_http_requests_total{{endpoint="{endpoint}",'
                        f'status="{status}"}} {int(value)}'
                    )
        out += [
            "# HELP mlci_request_duration_seconds Time spent answering scoring requests.",
            "# TYPE mlci_request_duration_seconds histogram",
        ]
        for i, endpoint in enumerate(TIMED):
            base = _HIST0 + i * _N_HIST
            cumulative = 0.0
            for b, edge in enumerate(BUCKETS):
                cumulative += t[base + b]
                out.append(
                    f'mlci_request_duration_seconds_bucket{{endpoint="{endpoint}",'
                    f'le="{edge}"}} {int(cumulative)}'
                )
            cumulative += t[base + len(BUCKETS)]
            out.append(
                f'mlci_request_duration_seconds_bucket{{endpoint="{endpoint}",le="+Inf"}} '
                f"{int(cumulative)}"
            )
            out.append(
                f'mlci_request_duration_seconds_sum{{endpoint="{endpoint}"}} '
                f"{t[base + _N_HIST - 1]:.6f}"
            )
            out.append(
                f'mlci_request_duration_seconds_count{{endpoint="{endpoint}"}} {int(cumulative)}'
            )
        out += [
            "# HELP mlci_predictions_total Rows scored successfully.",
            "# TYPE mlci_predictions_total counter",
            f"mlci_predictions_total {int(t[_ROWS])}",
            "",
        ]
        return "\n".join(out)


def _labels(labels: dict[str, Any]) -> str:
    def esc(v: Any) -> str:
        return str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{k}="{esc(v)}"' for k, v in labels.items())
