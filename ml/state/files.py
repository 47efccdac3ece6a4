"""The file backend: state under one folder (`paths.state`), for one machine.

A stream is `<state>/<stream>/history.jsonl` (one JSON object per line, fsynced); a lock is an
advisory `flock` on `<state>/locks/<name>.lock` whose content names the holder. Neither is seen
by another machine: a team sets `state.url` (ml.state.postgres).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ml.errors import InputError
from ml.state.base import LockHeld, lock_holder


class FileState:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def where(self) -> str:
        return str(self.folder)

    def stream_path(self, stream: str) -> Path:
        return self.folder / stream / "history.jsonl"

    def where_stream(self, stream: str) -> str:
        return str(self.stream_path(stream))

    def append(self, stream: str, record: dict[str, Any]) -> None:
        path = self.stream_path(stream)
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, sort_keys=True) + "\n"
        with path.open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def read(self, stream: str) -> list[dict[str, Any]]:
        path = self.stream_path(stream)
        if not path.exists():
            return []
        noun = "deployment record" if stream == "deploy" else f"{stream} record"
        out = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except ValueError as e:
                raise InputError(
                    f"{path}:{n}: not a {noun} ({e}); fix or remove the line"
                ) from None
            if not isinstance(doc, dict):
                raise InputError(f"{path}:{n}: not a {noun} (not an object); fix or remove it")
            out.append(doc)
        return out

    @contextmanager
    def lock(self, name: str, timeout: float) -> Iterator[None]:
        path = self.folder / "locks" / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a+", encoding="utf-8") as fh:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        fh.seek(0)
                        holder = fh.read().strip() or "unknown holder"
                        raise LockHeld(
                            f"{path} is held by {holder}", where=str(path), holder=holder
                        ) from None
                    time.sleep(0.1)
            try:
                fh.seek(0)
                fh.truncate()
                fh.write(lock_holder() + "\n")
                fh.flush()
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
