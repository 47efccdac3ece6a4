"""Connecting to MLflow: the tracking URI, short retries, the experiment, clear errors.

MLflow retries an unreachable server for minutes by default; a CI stage must fail in seconds
and name the URI. `connect()` sets short retry/timeout defaults (a user's own MLFLOW_HTTP_*
variables win), probes an HTTP server's /health once, and anchors the embedded SQLite store
and its artifact root under the project.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ml.config import Settings
from ml.errors import InputError, MlciError, ServiceError
from ml.session import Session

_SHORT_RETRIES = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}
_QUIET_ENV = {
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}
_CREATING = threading.Lock()  # store creation within one process (fcntl locks are per process)


def is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def unreachable(uri: str, why: object) -> ServiceError:
    return ServiceError(
        f"MLflow tracking server at {uri} is unreachable ({why}); start it or point "
        f"mlflow.tracking_uri (MLCI_MLFLOW__TRACKING_URI) at a running server"
    )


def refused(uri: str, status: object) -> ServiceError:
    """The server answered 401/403: the credentials in the environment are wrong or missing."""
    return ServiceError(
        f"MLflow at {uri} refused the credentials (HTTP {status}); set "
        f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to a user of that server "
        f"(in Jenkins: bind the mlci-mlflow credential)"
    )


def probe(uri: str, timeout: float = 3.0) -> None:
    """Fail fast with ServiceError when an HTTP tracking server does not answer /health."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as r:
            if r.status != 200:
                raise unreachable(uri, f"/health answered HTTP {r.status}")
    except urllib.error.HTTPError as e:
        raise unreachable(uri, f"/health answered HTTP {e.code}") from None
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise unreachable(uri, reason) from None


def _quiet() -> None:
    """MLflow configures its loggers when imported; quieten them (errors still show)."""
    for noisy in ("mlflow", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def ensure_sqlite_store(db_path: Path, artifact_uri: str) -> None:
    """Create the embedded SQLite store atomically: complete, or not there at all.

    MLflow creates its tables and runs its migrations on first use; a process killed or exiting
    half-way (e.g. validation failing while `mlci pipeline run` connects in a thread) leaves a
    file with some tables and no schema version, and every later run fails with a raw SQL
    error (`table ... already exists`). So the store is built in a temporary file next to the
    real one and renamed into place only when complete; leftovers of a killed creation are
    removed by the next one. A file lock serialises concurrent creators.
    """
    if db_path.exists():
        return
    db_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = db_path.with_name(f".{db_path.name}.lock")
    with _CREATING, lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if db_path.exists():  # another process finished it while we waited
                return
            for stale in db_path.parent.glob(f".{db_path.name}.creating*"):
                stale.unlink(missing_ok=True)  # a killed creation: we hold the lock
            tmp = db_path.with_name(f".{db_path.name}.creating-{os.getpid()}")
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            _quiet()
            store = SqlAlchemyStore(f"sqlite:///{tmp}", artifact_uri)
            store.engine.dispose()
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, db_path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def connect(settings: Settings, session: Session | None = None) -> str:
    """Point the MLflow client at the configured store and return the experiment id.

    With a `session`, the experiment id found (or created) is kept there, so later stages of
    the same `mlci pipeline run` skip the lookup.
    """
    uri = settings.tracking_uri
    for name, value in {**_SHORT_RETRIES, **_QUIET_ENV}.items():
        os.environ.setdefault(name, value)
    key = f"{uri}#{settings.mlflow.experiment}"
    known = session.experiments.get(key) if session is not None else None
    _quiet()
    artifact_root = settings.path(settings.mlflow.artifact_root)
    if known is None:
        if is_remote(uri):
            probe(uri)
        elif uri.startswith("sqlite:///"):
            artifact_root.mkdir(parents=True, exist_ok=True)
            with mlflow_errors(uri):
                ensure_sqlite_store(
                    Path(uri[len("sqlite:///") :]), artifact_root.resolve().as_uri()
                )
    import mlflow

    _quiet()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if known is not None:
        return known
    with mlflow_errors(uri):
        client = mlflow.MlflowClient()
        exp = client.get_experiment_by_name(settings.mlflow.experiment)
        if exp is None:
            location = None
            if not is_remote(uri):
                artifact_root.mkdir(parents=True, exist_ok=True)
                location = artifact_root.resolve().as_uri()
            exp_id = _create_experiment(client, settings.mlflow.experiment, location)
        else:
            exp_id = exp.experiment_id
    if session is not None:
        session.experiments[key] = exp_id
    return exp_id


def _create_experiment(client: Any, name: str, location: str | None) -> str:
    """Create the experiment; if another job created it meanwhile (two trainings starting at
    once against a shared server), use that one."""
    from mlflow.exceptions import MlflowException

    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException as e:
        if getattr(e, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
            raise
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


@contextmanager
def mlflow_errors(uri: str, what: str = "") -> Iterator[None]:
    """Translate MLflow and network exceptions into MlciErrors that name the URI."""
    try:
        yield
    except MlciError:
        raise
    except Exception as e:
        raise classify(e, uri, what) from None


def classify(e: Exception, uri: str, what: str = "") -> MlciError:
    from mlflow.exceptions import MlflowException

    if isinstance(e, MlflowException):
        code = getattr(e, "error_code", "")
        if code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return InputError(f"{what or 'resource'} not found in MLflow at {uri}: {e.message}")
        if code in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"):
            return InputError(f"MLflow at {uri} rejected the request: {e.message}")
        text = str(e)
        if "error code 401" in text or "error code 403" in text or code == "PERMISSION_DENIED":
            status = "403" if "error code 403" in text or code == "PERMISSION_DENIED" else "401"
            return refused(uri, status)
        server_error = re.search(r"too many (5\d\d) error responses|error code (5\d\d)", text)
        if server_error or "INTERNAL_ERROR" in code:
            status = next((g for g in (server_error.groups() if server_error else ()) if g), "")
            return ServiceError(
                f"MLflow at {uri} answered HTTP {status or 500}; its database or artifact "
                f"store may be down: check the server's log and `scripts/team-stack.sh "
                f"status`, then retry the stage"
            )
        if "Max retries" in text or "Connection" in text or "timed out" in text:
            return unreachable(uri, text.splitlines()[0][:200])
        return ServiceError(f"MLflow at {uri} failed: {text.splitlines()[0][:300]}")
    status = getattr(getattr(e, "response", None), "status_code", None)
    if isinstance(status, int) and status >= 500:  # e.g. an artifact upload the server proxies
        return ServiceError(
            f"MLflow at {uri} failed (HTTP {status} on {getattr(e.response, 'url', '?')}); its "
            f"artifact store or database may be down: check the server's log and "
            f"`scripts/team-stack.sh status`, then retry the stage"
        )
    if status in (401, 403):
        return refused(uri, status)
    if isinstance(e, OSError | ConnectionError):
        return unreachable(uri, e)
    return ServiceError(f"MLflow at {uri} failed: {e.__class__.__name__}: {e}")


def describe_tags(tags: dict[str, Any]) -> dict[str, str]:
    """MLflow tags are strings; render booleans and None consistently."""
    out = {}
    for k, v in tags.items():
        if isinstance(v, bool):
            v = str(v).lower()
        out[k] = "" if v is None else str(v)
    return out
