"""A file lock under the state dir that serialises alias moves on one machine.

MLflow moves one alias atomically, so there is never zero or two champions; the lock makes the
read-check-move sequence of a promotion (is it approved? who was champion?) atomic too.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ml.errors import ServiceError


@contextmanager
def registry_lock(state_dir: Path, model_name: str, timeout: float = 60.0) -> Iterator[Path]:
    folder = state_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"registry-{model_name}.lock"
    with path.open("a+") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServiceError(
                        f"{path}: another mlci process holds the registry lock for "
                        f"{model_name!r} for more than {timeout:.0f}s; retry when it finishes"
                    ) from None
                time.sleep(0.1)
        try:
            yield path
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
