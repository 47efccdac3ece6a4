"""The shared-state interface both backends implement."""

from __future__ import annotations

import os
import socket
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ml.common import current_user, utc_now
from ml.errors import ServiceError


class LockHeld(ServiceError):
    """Someone else holds a named lock for longer than the caller would wait (exit 4)."""

    def __init__(self, message: str, *, where: str = "", holder: str = "") -> None:
        super().__init__(message)
        self.where = where
        self.holder = holder


def lock_holder() -> str:
    """Who takes a lock: process, host, user (Jenkins build user when set), and since when."""
    user = current_user()
    build = os.environ.get("BUILD_TAG")
    since = utc_now()
    return (
        f"pid {os.getpid()} on {socket.gethostname()} by {user}"
        + (f" ({build})" if build else "")
        + f" since {since}"
    )


class StateStore(Protocol):
    """Append-only record streams and named locks."""

    @property
    def where(self) -> str:
        """Where the state lives, for messages (a folder, or the database URL without secrets)."""
        ...

    def where_stream(self, stream: str) -> str:
        """Where one stream's records live, for messages."""
        ...

    def append(self, stream: str, record: dict[str, Any]) -> None:
        """Add one record at the end of `stream`, durably."""
        ...

    def read(self, stream: str) -> list[dict[str, Any]]:
        """Every record of `stream`, oldest first."""
        ...

    def lock(self, name: str, timeout: float) -> AbstractContextManager[None]:
        """Hold lock `name`, waiting up to `timeout` s; LockHeld names the holder otherwise."""
        ...
