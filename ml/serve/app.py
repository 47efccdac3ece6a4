"""The model server: a plain ASGI application (no framework) run by uvicorn.

Endpoints:
    GET  /health        liveness: the process answers
    GET  /ready         readiness: the model is loaded and has scored a warm-up row
    GET  /metadata      model name/version, run id, git commit, dataset, metrics, approval, runtime,
                        task, classes, positive class
    POST /predict       records -> predictions (labels in the user's values, or numbers for
                        regression), class probabilities and the class list (classifiers
                        with predict_proba)
    POST /invocations   the MLflow scoring protocol (dataframe_split, dataframe_records,
                        instances, inputs) -> {"predictions": [...]}, so MLflow clients work
    GET  /metrics       Prometheus text, summed over all worker processes
    GET  /ping          alias of /health (what MLflow's server answers)

With $MLCI_PREDLOG_DIR set, each sampled scoring request is recorded (inputs, prediction,
latency) by ml/serve/predlog.py off the request path, and scoring responses carry the request's
`x-request-id` (the client's, else a new one) so labels arriving later can be joined to it.

A framework would add routing, middleware and validation layers to every request; on a
single-row request those cost more than the model itself, hence the raw ASGI callable.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ml.serve.metrics import Metrics
from ml.serve.predictor import LoadedModel, load_bundle
from ml.serve.predlog import LogConfig, LogCounters, PredictionLog, data_ids
from ml.serve.schema import RequestError

try:
    import orjson

    _OPTS = orjson.OPT_SERIALIZE_NUMPY

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj, option=_OPTS)

    _loads = orjson.loads
except ImportError:  # pragma: no cover - orjson ships in the serving image
    import numpy as _np

    def _dumps(obj: Any) -> bytes:
        return json.dumps(
            obj, default=lambda o: o.tolist() if isinstance(o, _np.ndarray) else o.item()
        ).encode()

    _loads = json.loads

DEFAULT_MAX_BODY = 1 << 20  # 1 MiB: ~5,000 rows of this model; larger batches belong offline
JSON_HEADERS = [(b"content-type", b"application/json")]
TEXT_HEADERS = [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ServingApp:
    """ASGI callable serving one loaded model bundle."""

    def __init__(
        self,
        model: LoadedModel,
        max_body: int = DEFAULT_MAX_BODY,
        log_config: LogConfig | None = None,
    ) -> None:
        self.model = model
        self.max_body = max_body
        self.ready = False
        meta = model.metadata
        self.metrics = Metrics(
            labels={
                "name": meta.get("model", {}).get("name", ""),
                "version": meta.get("model", {}).get("version", ""),
                "runtime": self.model.predictor.runtime,
            }
        )
        self.log: PredictionLog | None = None
        if log_config is not None:
            self.log = PredictionLog(
                log_config,
                model=str(meta.get("model", {}).get("name", "")),
                version=str(meta.get("model", {}).get("version", "")),
                counters=LogCounters(self.metrics.folder),
                classes=model.classes,
            )
        self._metadata_body = _dumps(meta)
        self._routes: dict[tuple[str, str], tuple[str, Callable[..., Any]]] = {
            ("GET", "/health"): ("health", self._health),
            ("GET", "/ping"): ("health", self._health),
            ("GET", "/ready"): ("ready", self._ready),
            ("GET", "/metadata"): ("metadata", self._metadata),
            ("GET", "/metrics"): ("metrics", self._metrics),
            ("POST", "/predict"): ("predict", self._predict),
            ("POST", "/invocations"): ("invocations", self._invocations),
        }
        self._paths = {path: name for (_, path), (name, _) in self._routes.items()}

    def warm_up(self) -> None:
        """Score the example row so the first real request pays no lazy initialisation."""
        example = self.model.metadata.get("input_example")
        if example:
            columns, _ = self.model.schema.from_records(example[:1], "input_example")
            self.model.predictor.predict(self.model.schema.typed_columns(columns))
        self.ready = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.warm_up()
                    if self.log is not None:
                        self.log.start()
                except Exception as e:
                    await send(
                        {
                            "type": "lifespan.startup.failed",
                            "message": f"warm-up prediction failed: {e!r}",
                        }
                    )
                    continue
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.log is not None:
                    self.log.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        path, method = scope["path"], scope["method"]
        route = self._routes.get((method, path))
        rows = 0
        scored = None
        request_id = None
        if route is None:
            endpoint = self._paths.get(path, "other")
            if endpoint == "other":
                status, body, headers = (
                    404,
                    _error(f"no endpoint {path}; see GET /metadata", "ENDPOINT_NOT_FOUND"),
                    JSON_HEADERS,
                )
            else:
                allowed = [m for (m, p) in self._routes if p == path]
                status, body, headers = (
                    405,
                    _error(
                        f"{method} is not allowed on {path}; use {', '.join(allowed)}",
                        "METHOD_NOT_ALLOWED",
                    ),
                    JSON_HEADERS,
                )
        else:
            endpoint, handler = route
            try:
                if method == "POST":
                    payload = await self._read_json(scope, receive)
                    status, body, rows, scored = handler(payload)
                    headers = JSON_HEADERS
                    if self.log is not None:
                        request_id = _request_id(scope)
                        headers = [*headers, (b"x-request-id", request_id.encode())]
                else:
                    status, body, headers = handler()
            except RequestError as e:
                status, body, headers = e.status, _dumps(e.payload()), JSON_HEADERS
            except Exception as e:
                print(f"mlci-serve: internal error on {method} {path}: {e!r}", file=sys.stderr)
                status, body, headers = (
                    500,
                    _error("internal error while scoring; see the server log", "INTERNAL_ERROR"),
                    JSON_HEADERS,
                )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
        elapsed = time.perf_counter() - start
        self.metrics.observe(endpoint, status, elapsed, rows)
        if scored is not None and request_id is not None and self.log.sampled():
            columns, result, ids = scored
            self.log.submit(
                request_id,
                columns,
                result.labels,
                result.probabilities,
                elapsed * 1000.0,
                status,
                endpoint,
                ids,
            )

    async def _read_json(self, scope: Scope, receive: Receive) -> Any:
        content_type = ""
        length = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                length = value
        if content_type:
            mime, _, params = content_type.partition(";")
            charset = params.strip().lower()
            if mime.strip().lower() != "application/json" or (
                charset and charset.replace(" ", "") not in ("charset=utf-8", "charset=utf8")
            ):
                raise RequestError(
                    f"unsupported Content-Type '{content_type}'; send application/json (UTF-8)",
                    status=415,
                    field="content-type",
                    code="UNSUPPORTED_MEDIA_TYPE",
                )
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise self._too_large(int(length))
        chunks = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise self._too_large(size)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if not raw:
            raise RequestError("empty request body; send a JSON document", field="body")
        try:
            return _loads(raw)
        except ValueError as e:
            raise RequestError(
                f"malformed JSON in request body: {e}", field="body", code="MALFORMED_REQUEST"
            ) from None

    def _too_large(self, size: int) -> RequestError:
        return RequestError(
            f"request body of {size} bytes exceeds the limit of {self.max_body} "
            "bytes (MLCI_SERVE_MAX_BODY_BYTES); split the batch",
            status=413,
            field="body",
            code="REQUEST_TOO_LARGE",
        )

    # ---- handlers ------------------------------------------------------------------------------

    def _health(self) -> tuple[int, bytes, list]:
        return 200, b'{"status":"ok"}', JSON_HEADERS

    def _ready(self) -> tuple[int, bytes, list]:
        if self.ready:
            return 200, b'{"status":"ready"}', JSON_HEADERS
        return 503, b'{"status":"loading"}', JSON_HEADERS

    def _metadata(self) -> tuple[int, bytes, list]:
        return 200, self._metadata_body, JSON_HEADERS

    def _metrics(self) -> tuple[int, bytes, list]:
        text = self.metrics.render()
        if self.log is not None:
            text += self.log.counters.render()
        return 200, text.encode(), TEXT_HEADERS

    def _score(self, columns: dict[str, list[Any]]) -> Any:
        return self.model.predictor.predict(self.model.schema.typed_columns(columns))

    def _scored(self, payload: Any, columns: dict[str, list[Any]], result: Any) -> Any:
        """What the prediction log records of a scored request (None without a log)."""
        if self.log is None:
            return None
        column = self.log.config.id_column
        ids = data_ids(payload, column) if column else None
        return columns, result, ids

    def _invocations(self, payload: Any) -> tuple[int, bytes, int, Any]:
        columns, n = self.model.schema.from_mlflow(payload)
        result = self._score(columns)
        body = _dumps({"predictions": result.labels})
        return 200, body, n, self._scored(payload, columns, result)

    def _predict(self, payload: Any) -> tuple[int, bytes, int, Any]:
        schema = self.model.schema
        if isinstance(payload, list):
            columns, n = schema.from_records(payload, "records")
        elif isinstance(payload, dict) and "records" in payload:
            columns, n = schema.from_records(payload["records"], "records")
        elif isinstance(payload, dict):
            columns, n = schema.from_mlflow(payload)
        else:
            raise RequestError(
                'request body must be a list of records or {"records": [...]}', field="body"
            )
        result = self._score(columns)
        body: dict[str, Any] = {"predictions": result.labels}
        if result.probabilities is not None:  # classification with predict_proba
            body["probabilities"] = result.probabilities
            body["classes"] = self.model.classes
        return 200, _dumps(body), n, self._scored(payload, columns, result)


def _request_id(scope: Scope) -> str:
    """The client's (or the front's) X-Request-ID when it is short and printable, else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            if 0 < len(value) <= 128 and value.isascii() and value.decode().isprintable():
                return value.decode()
            break
    return os.urandom(12).hex()


def _error(message: str, code: str) -> bytes:
    return _dumps({"error_code": code, "message": message})


def create_app(bundle_dir: Path | str | None = None) -> ServingApp:
    """Load the bundle ($MLCI_MODEL_DIR by default) and return the ASGI app (uvicorn factory)."""
    max_body = int(os.environ.get("MLCI_SERVE_MAX_BODY_BYTES", DEFAULT_MAX_BODY))
    return ServingApp(load_bundle(bundle_dir), max_body=max_body, log_config=LogConfig.from_env())
