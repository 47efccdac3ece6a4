"""Finding a cache key on the tracking server: a registered version first, else a finished run.

The key is the `mlci.cache_key` tag, on training runs and (copied at registration) on model
versions, so every agent that shares the MLflow server shares the cache. A lookup is one or two
small queries and imports no training stack: the MLflow REST API over urllib for an HTTP
server, a read-only SQLite query for the embedded store, the MLflow client only for any other
kind of store.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml.registry.tags import CACHE_KEY as CACHE_KEY_TAG
from ml.registry.tracking import refused as _refused
from ml.registry.tracking import unreachable as _unreachable

if TYPE_CHECKING:
    from ml.config import Settings


@dataclass(frozen=True)
class CacheHit:
    key: str
    run_id: str
    version: str | None  # the registered model version, when there is one
    model_name: str | None
    tags: dict[str, str] = field(default_factory=dict)  # the run's tags

    def describe(self) -> str:
        where = f"version {self.version}" if self.version else f"run {self.run_id}"
        return f"cache hit: {where}, key {self.key[:12]}"


class _Rest:
    """The few MLflow REST calls a lookup needs (the same API the MLflow client speaks)."""

    def __init__(self, uri: str, timeout: float = 15.0):
        self.uri = uri.rstrip("/")
        self.timeout = timeout

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif user:
            pw = os.environ.get("MLFLOW_TRACKING_PASSWORD", "")
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
        return headers

    def call(self, method: str, path: str, body: dict | None = None) -> dict[str, Any]:
        url = f"{self.uri}/api/2.0/mlflow/{path}"
        data = None
        if method == "GET" and body:
            url += "?" + urllib.parse.urlencode(body)
        elif body is not None:
            data = json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method, headers=self._headers())
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return {}
            if e.code in (401, 403):
                raise _refused(self.uri, e.code) from None
            raise _unreachable(self.uri, f"{path} answered HTTP {e.code}") from None
        except (OSError, ValueError) as e:
            raise _unreachable(self.uri, getattr(e, "reason", e)) from None

    def run(self, run_id: str) -> dict[str, Any] | None:
        doc = self.call("GET", "runs/get", {"run_id": run_id}).get("run")
        return doc

    def find(self, settings: Settings, key: str) -> CacheHit | None:
        name = settings.mlflow.model_name
        versions = self.call(
            "GET",
            "model-versions/search",
            {"filter": f"name = '{name}' and tags.`{CACHE_KEY_TAG}` = '{key}'"},
        ).get("model_versions", [])
        versions = [v for v in versions if v.get("status", "READY") == "READY"]
        if versions:
            best = max(versions, key=lambda v: int(v["version"]))
            run = self.run(best["run_id"]) or {}
            return CacheHit(key, best["run_id"], str(best["version"]), name, _run_tags(run))
        exp = self.call(
            "GET", "experiments/get-by-name", {"experiment_name": settings.mlflow.experiment}
        ).get("experiment")
        if not exp:
            return None
        runs = self.call(
            "POST",
            "runs/search",
            {
                "experiment_ids": [exp["experiment_id"]],
                "filter": f"tags.`{CACHE_KEY_TAG}` = '{key}' and attributes.status = 'FINISHED'",
                "order_by": ["attributes.start_time DESC"],
                "max_results": 1,
            },
        ).get("runs", [])
        if not runs:
            return None
        return CacheHit(key, runs[0]["info"]["run_id"], None, None, _run_tags(runs[0]))


def _run_tags(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in run.get("data", {}).get("tags", [])}


def _sqlite_find(db: Path, settings: Settings, key: str) -> CacheHit | None:
    if not db.is_file():
        return None
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as e:
        raise _unreachable(f"sqlite:///{db}", e) from None
    try:
        name = settings.mlflow.model_name
        row = con.execute(
            "SELECT mv.version, mv.run_id FROM model_versions mv JOIN model_version_tags t "
            "ON t.name = mv.name AND t.version = mv.version "
            "WHERE mv.name = ? AND t.key = ? AND t.value = ? AND mv.status = 'READY' "
            "AND mv.current_stage != 'Deleted_Internal' ORDER BY mv.version DESC LIMIT 1",
            (name, CACHE_KEY_TAG, key),
        ).fetchone()
        version = None
        if row:
            version, run_id = str(row[0]), row[1]
        else:
            found = con.execute(
                "SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                "JOIN experiments e ON e.experiment_id = r.experiment_id "
                "WHERE e.name = ? AND t.key = ? AND t.value = ? AND r.status = 'FINISHED' "
                "AND r.lifecycle_stage = 'active' ORDER BY r.start_time DESC LIMIT 1",
                (settings.mlflow.experiment, CACHE_KEY_TAG, key),
            ).fetchone()
            if not found:
                return None
            run_id = found[0]
        tags = dict(con.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,)))
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):  # a store MLflow has not initialised yet
            return None
        raise _unreachable(f"sqlite:///{db}", e) from None
    finally:
        con.close()
    return CacheHit(key, run_id, version, settings.mlflow.model_name if version else None, tags)


def _client_find(settings: Settings, key: str) -> CacheHit | None:
    from ml.registry.tracking import connect, mlflow_errors

    exp_id = connect(settings)
    import mlflow

    uri = settings.tracking_uri
    with mlflow_errors(uri):
        client = mlflow.MlflowClient()
        name = settings.mlflow.model_name
        versions = client.search_model_versions(
            f"name = '{name}' and tags.`{CACHE_KEY_TAG}` = '{key}'"
        )
        if versions:
            best = max(versions, key=lambda v: int(v.version))
            run = client.get_run(best.run_id)
            return CacheHit(key, best.run_id, str(best.version), name, dict(run.data.tags))
        runs = client.search_runs(
            [exp_id],
            f"tags.`{CACHE_KEY_TAG}` = '{key}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not runs:
            return None
        return CacheHit(key, runs[0].info.run_id, None, None, dict(runs[0].data.tags))


def find_cached(settings: Settings, key: str) -> CacheHit | None:
    """The newest registered version recording `key`, else the newest finished run, else None."""
    uri = settings.tracking_uri
    if uri.startswith(("http://", "https://")):
        return _Rest(uri).find(settings, key)
    if uri.startswith("sqlite:///"):
        return _sqlite_find(Path(uri[len("sqlite:///") :]), settings, key)
    return _client_find(settings, key)
