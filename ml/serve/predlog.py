"""The prediction log of one serving worker: sampled requests, written off the request path.

A scored request that the sample picks is appended to a bounded in-process queue (a deque: one
append, no lock, no wake-up; the request never waits); a daemon thread wakes every
`flush_seconds`, takes everything queued, turns it into one JSON object per row and appends them
to this worker's segment file in `$MLCI_PREDLOG_DIR` in one write, so readers see records within
that interval. When the queue is full (the disk is slow or stuck) the request is dropped and
counted, never delayed. (A `queue.Queue` would wake the writer on every request: one thread
switch and one write per request.)

Bound on disk: a worker starts a new segment once the current one reaches `segment_mb`; after
each rotation the oldest segments of the folder (every worker and container of the environment
shares it) are deleted until the folder is under `max_mb`. The folder therefore holds at most
`max_mb` plus the open segment of each worker.

Segment names: `<container>.<worker id>.<seq>.jsonl`; a record's `id` (`<worker id>-<n>`) is
unique across workers, containers and restarts, so shipping a segment twice adds nothing.

Counters (records written, dropped, write errors) live in a memory-mapped file per worker in
`$MLCI_METRICS_DIR` like ml/serve/metrics.py's, so `/metrics` shows the sum over workers.

Environment (set by `mlci deploy` through ml/deploy/predictions.py):
    MLCI_PREDLOG_DIR          the folder (a mounted volume); unset = no log
    MLCI_PREDLOG_SAMPLE_RATE  share of requests recorded (default 1.0)
    MLCI_PREDLOG_MAX_MB       cap of the folder (default 256)
    MLCI_PREDLOG_SEGMENT_MB   rotation size (default 8)
    MLCI_PREDLOG_QUEUE        queue bound in requests (default 10000)
    MLCI_PREDLOG_FLUSH_SECONDS  how often the writer wakes (default 0.2)
    MLCI_PREDLOG_ENV / _CONTAINER / _VERSION   facts written into every record
    MLCI_PREDLOG_ID_COLUMN    a request column kept in each record as `data_id` (not a feature)

Only the standard library and numpy are imported: this module ships in the serving image.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

try:
    import orjson

    def _line(obj: Any) -> bytes:
        return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"

except ImportError:  # pragma: no cover - orjson ships in the serving image

    def _line(obj: Any) -> bytes:
        return (json.dumps(obj, default=_plain) + "\n").encode()


def _plain(o: Any) -> Any:
    return o.tolist() if isinstance(o, np.ndarray) else o.item()


SEGMENT_SUFFIX = ".jsonl"
COUNTERS = ("written", "dropped", "errors")


@dataclass(frozen=True)
class LogConfig:
    """What the worker logs and where; `from_env` reads the container's environment."""

    folder: Path
    sample_rate: float = 1.0
    max_bytes: int = 256 << 20
    segment_bytes: int = 8 << 20
    queue_size: int = 10000
    flush_seconds: float = 0.2
    env: str = ""
    container: str = ""
    version: str = ""
    id_column: str = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> LogConfig | None:
        e = os.environ if environ is None else environ
        folder = e.get("MLCI_PREDLOG_DIR")
        if not folder:
            return None
        return cls(
            folder=Path(folder),
            sample_rate=float(e.get("MLCI_PREDLOG_SAMPLE_RATE", "1")),
            max_bytes=int(float(e.get("MLCI_PREDLOG_MAX_MB", "256")) * (1 << 20)),
            segment_bytes=int(float(e.get("MLCI_PREDLOG_SEGMENT_MB", "8")) * (1 << 20)),
            queue_size=int(e.get("MLCI_PREDLOG_QUEUE", "10000")),
            flush_seconds=float(e.get("MLCI_PREDLOG_FLUSH_SECONDS", "0.2")),
            env=e.get("MLCI_PREDLOG_ENV", ""),
            container=e.get("MLCI_PREDLOG_CONTAINER", "") or os.environ.get("HOSTNAME", ""),
            version=e.get("MLCI_PREDLOG_VERSION", ""),
            id_column=e.get("MLCI_PREDLOG_ID_COLUMN", ""),
        )


class LogCounters:
    """written / dropped / errors of this worker, in a memory-mapped file summed by `/metrics`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / f"predlog-{os.getpid()}.bin"
        self.slots = np.memmap(self.path, dtype=np.float64, mode="w+", shape=(len(COUNTERS),))

    def add(self, name: str, n: int = 1) -> None:
        self.slots[COUNTERS.index(name)] += n

    def total(self) -> dict[str, int]:
        t = np.zeros(len(COUNTERS))
        for f in self.folder.glob("predlog-*.bin"):
            try:
                t += np.fromfile(f, dtype=np.float64, count=len(COUNTERS))
            except (OSError, ValueError):
                continue
        return {name: int(t[i]) for i, name in enumerate(COUNTERS)}

    def render(self) -> str:
        t = self.total()
        return (
            "# HELP mlci_prediction_log_records_total Rows written to the prediction log.\n"
            "# TYPE mlci_prediction_log_records_total counter\n"
            f"mlci_prediction_log_records_total {t['written']}\n"
            "# HELP mlci_prediction_log_dropped_total Sampled requests dropped because the log "
            "writer's queue was full.\n"
            "# TYPE mlci_prediction_log_dropped_total counter\n"
            f"mlci_prediction_log_dropped_total {t['dropped']}\n"
            "# HELP mlci_prediction_log_errors_total Batches the writer failed to write.\n"
            "# TYPE mlci_prediction_log_errors_total counter\n"
            f"mlci_prediction_log_errors_total {t['errors']}\n"
        )


class PredictionLog:
    """One worker's log: `submit` on the request path, a writer thread behind it."""

    def __init__(
        self,
        config: LogConfig,
        model: str,
        version: str,
        counters: LogCounters,
        worker_id: str | None = None,
        classes: list[Any] | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self.classes = classes
        self.version = config.version or version
        self.counters = counters
        self.worker_id = worker_id or os.urandom(6).hex()
        self.queue: deque[tuple] = deque()
        self._bound = config.queue_size
        self._stop = threading.Event()
        self._seq = 0
        self._records = 0
        self._segment: Path | None = None
        self._fh: Any = None
        self._size = 0
        self._thread: threading.Thread | None = None
        self._rate = config.sample_rate
        self._random = random.random

    # ---- request path --------------------------------------------------------------------------

    def sampled(self) -> bool:
        """Whether this request is recorded (decided before any work is spent on it)."""
        rate = self._rate
        return rate >= 1.0 or (rate > 0.0 and self._random() < rate)

    def submit(
        self,
        request_id: str,
        columns: dict[str, list[Any]],
        predictions: list[Any],
        probabilities: Any,
        latency_ms: float,
        status: int,
        endpoint: str,
        data_ids: list[Any] | None = None,
    ) -> bool:
        """Queue one scored request; False (and counted) when the queue is full."""
        item = (
            time.time(),
            request_id,
            columns,
            predictions,
            probabilities,
            latency_ms,
            status,
            endpoint,
            data_ids,
        )
        if len(self.queue) >= self._bound:
            self.counters.add("dropped")
            return False
        self.queue.append(item)  # atomic under the GIL; the writer pops from the other end
        return True

    # ---- writer thread ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mlci-predlog", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (up to `timeout` s), then stop the thread."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(self.config.flush_seconds)
            items = []
            popleft = self.queue.popleft
            while True:
                try:
                    items.append(popleft())
                except IndexError:
                    break
            if items:
                try:
                    self._write(items)
                except Exception as e:  # a full or read-only disk: count, say once, go on
                    self.counters.add("errors")
                    self._say(f"prediction log: writing to {self.config.folder} failed: {e!r}")
                    self._close_segment()
            if stopping:
                self._close_segment()
                return

    def _say(self, message: str) -> None:
        if not getattr(self, "_said", False):
            print(f"mlci-serve: {message}", file=sys.stderr)
            self._said = True

    def _lines(self, item: tuple) -> list[bytes]:
        ts, rid, columns, predictions, proba, latency, status, endpoint, ids = item
        at = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
        at = at.replace("+00:00", "Z")
        names = list(columns)
        rows = list(zip(*(columns[c] for c in names), strict=True)) if names else []
        if isinstance(proba, np.ndarray):
            proba = proba.tolist()  # plain lists: faster to serialise than per-row views
        classes = None if proba is None else self.classes
        out = []
        for i, values in enumerate(rows):
            self._records += 1
            record = {
                "id": f"{self.worker_id}-{self._records}",
                "ts": at,
                "env": self.config.env,
                "model": self.model,
                "version": self.version,
                "container": self.config.container,
                "request_id": rid,
                "row": i,
                "endpoint": endpoint,
                "inputs": dict(zip(names, values, strict=True)),
                "prediction": predictions[i],
                "probabilities": None if proba is None else proba[i],
                "classes": classes,
                "latency_ms": round(latency, 3),
                "status": status,
            }
            if ids is not None:
                record["data_id"] = ids[i]
            out.append(_line(record))
        return out

    def _write(self, items: list[tuple]) -> None:
        data = b"".join(line for item in items for line in self._lines(item))
        if self._fh is None:
            self._open_segment()
        self._fh.write(data)
        self._fh.flush()
        self._size += len(data)
        self.counters.add("written", sum(len(item[3]) for item in items))
        if self._size >= self.config.segment_bytes:
            self._close_segment()
            self._enforce_cap()

    def _open_segment(self) -> None:
        self._seq += 1
        name = f"{self.config.container or 'server'}.{self.worker_id}.{self._seq:06d}"
        self._segment = self.config.folder / (name + SEGMENT_SUFFIX)
        self._fh = self._segment.open("ab")
        self._size = self._segment.stat().st_size

    def _close_segment(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
        self._fh = None

    def _enforce_cap(self) -> None:
        """Delete the folder's oldest segments until it is under max_bytes."""
        segments = []
        for f in self.config.folder.glob("*" + SEGMENT_SUFFIX):
            try:
                st = f.stat()
            except FileNotFoundError:  # another worker deleted it first
                continue
            segments.append((st.st_mtime, f.name, st.st_size, f))
        segments.sort()
        total = sum(s[2] for s in segments)
        for _, _, size, f in segments:
            if total <= self.config.max_bytes:
                break
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
            total -= size


def data_ids(payload: Any, column: str) -> list[Any] | None:
    """The `column` value of each request row (records or dataframe_split), else None."""
    rows = payload
    if isinstance(payload, dict):
        if "records" in payload:
            rows = payload["records"]
        elif "dataframe_records" in payload:
            rows = payload["dataframe_records"]
        elif "instances" in payload and isinstance(payload["instances"], list):
            rows = payload["instances"]
        elif isinstance(payload.get("dataframe_split"), dict):
            split = payload["dataframe_split"]
            cols = split.get("columns") or []
            if column not in cols:
                return None
            at = cols.index(column)
            return [row[at] for row in split.get("data") or []]
        else:
            return None
    if not isinstance(rows, list):
        return None
    return [r.get(column) if isinstance(r, dict) else None for r in rows]
