"""The PostgreSQL backend: deploy history and locks shared by every Jenkins agent.

Tables (created on first use, namespaced by `project` so several projects share a database):

- `mlci_history(id, project, stream, at, record jsonb)`: append-only; a record is committed
  before the call returns, so the history survives the loss of the agent that wrote it.
- `mlci_locks(project, name, holder, token, acquired_at, expires_at)`: a lease. Taking it is one
  `INSERT ... ON CONFLICT DO UPDATE ... WHERE expires_at < now()`, atomic in the database, so
  two agents never both hold it. The holder renews it every `lease_seconds / 3` while it works;
  a holder that vanished (agent lost, container killed) stops renewing and the lease expires
  after `state.lease_seconds`. Releasing deletes the row only if the token is still ours.

The password comes from PGPASSWORD or ~/.pgpass (libpq), never from the URL or the config.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ml.config import Settings
from ml.errors import MlciError, ServiceError
from ml.state.base import LockHeld, lock_holder

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mlci_history (
    id BIGSERIAL PRIMARY KEY,
    project TEXT NOT NULL,
    stream TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    record JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS mlci_history_by_stream ON mlci_history (project, stream, id);
CREATE TABLE IF NOT EXISTS mlci_locks (
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    holder TEXT NOT NULL,
    token TEXT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project, name)
);
"""
_SCHEMA_LOCK_KEY = 0x6D6C6369  # "mlci": serialises concurrent CREATE TABLE IF NOT EXISTS


def public_url(url: str) -> str:
    """The URL without any password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresState:
    def __init__(self, settings: Settings) -> None:
        self.url = settings.state.url
        self.project = settings.project
        self.lease = settings.state.lease_seconds
        self.connect_timeout = settings.state.connect_timeout
        self._schema_ready = False

    @property
    def where(self) -> str:
        return public_url(self.url)

    def where_stream(self, stream: str) -> str:
        return f"{self.where} (table mlci_history, project {self.project!r}, stream {stream!r})"

    def _fail(self, e: Exception) -> ServiceError:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        return ServiceError(
            f"PostgreSQL at {self.where} (state.url) failed: {first}; start it "
            f"(scripts/team-stack.sh up), fix state.url (MLCI_STATE__URL) or the password "
            f"in PGPASSWORD"
        )

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        import psycopg

        try:
            conn = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=max(1, round(self.connect_timeout)),
                application_name="mlci",
            )
        except psycopg.Error as e:
            raise self._fail(e) from None
        try:
            if not self._schema_ready:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
                    conn.execute(_SCHEMA)
                self._schema_ready = True
            yield conn
        except MlciError:
            raise
        except psycopg.Error as e:
            raise self._fail(e) from None
        finally:
            conn.close()

    def append(self, stream: str, record: dict[str, Any]) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO mlci_history (project, stream, record) VALUES (%s, %s, %s::jsonb)",
                (self.project, stream, json.dumps(record, sort_keys=True)),
            )

    def read(self, stream: str) -> list[dict[str, Any]]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT record FROM mlci_history WHERE project = %s AND stream = %s ORDER BY id",
                (self.project, stream),
            ).fetchall()
        return [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]

    def _try_take(self, name: str, token: str, holder: str) -> tuple[bool, str, str]:
        with self._connect() as conn:
            row = conn.execute(
                "INSERT INTO mlci_locks (project, name, holder, token, acquired_at, expires_at) "
                "VALUES (%s, %s, %s, %s, now(), now() + make_interval(secs => %s)) "
                "ON CONFLICT (project, name) DO UPDATE SET holder = EXCLUDED.holder, "
                "token = EXCLUDED.token, acquired_at = EXCLUDED.acquired_at, "
                "expires_at = EXCLUDED.expires_at WHERE mlci_locks.expires_at < now() "
                "RETURNING token",
                (self.project, name, holder, token, self.lease),
            ).fetchone()
            if row is not None:
                return True, holder, ""
            cur = conn.execute(
                "SELECT holder, expires_at FROM mlci_locks WHERE project = %s AND name = %s",
                (self.project, name),
            ).fetchone()
        if cur is None:  # released between the two statements: try again at once
            return False, "", ""
        return False, cur[0], cur[1].isoformat(timespec="seconds")

    def _renew(self, name: str, token: str, stop: threading.Event) -> None:
        while not stop.wait(self.lease / 3):
            try:
                with self._connect() as conn:
                    conn.execute(
                        "UPDATE mlci_locks SET expires_at = now() + make_interval(secs => %s) "
                        "WHERE project = %s AND name = %s AND token = %s",
                        (self.lease, self.project, name, token),
                    )
            except MlciError:
                continue  # the database blinked: retry at the next beat, the lease still runs

    @contextmanager
    def lock(self, name: str, timeout: float) -> Iterator[None]:
        token = uuid.uuid4().hex
        holder = lock_holder()
        deadline = time.monotonic() + timeout
        while True:
            taken, current, expires = self._try_take(name, token, holder)
            if taken:
                break
            if time.monotonic() >= deadline:
                where = f"{self.where} lock {name!r}"
                raise LockHeld(
                    f"{where} is held by {current or 'unknown holder'} "
                    f"(lease expires {expires or '?'} unless renewed)",
                    where=where,
                    holder=current,
                )
            time.sleep(0.25)
        stop = threading.Event()
        beat = threading.Thread(target=self._renew, args=(name, token, stop), daemon=True)
        beat.start()
        try:
            yield
        finally:
            stop.set()
            beat.join(5)
            try:
                with self._connect() as conn:
                    conn.execute(
                        "DELETE FROM mlci_locks WHERE project = %s AND name = %s AND token = %s",
                        (self.project, name, token),
                    )
            except MlciError:
                pass  # unreachable now: the lease expires on its own
