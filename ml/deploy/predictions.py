"""The prediction log, seen from mlci: how serving containers are started to write it, how it is
read back (and shipped to the team's store), and how two versions compare on the same requests.

Where the records are (docs/serve.md#prediction-log):

- every serving container of an environment mounts one Docker volume
  (`environments.<env>.prediction_log.volume`, default `<container>-predictions`) at LOG_DIR;
  each worker appends JSON-lines segments there (ml/serve/predlog.py). The volume lives on the
  environment's Docker host, so this works for a remote DOCKER_HOST too: mlci reads it with
  `docker cp` (the archive API) from a container that mounts it, and nothing else is exposed.
- with `state.url` set (PostgreSQL, the team's store), `read_predictions` first ships the
  volume's records into the table `mlci_predictions` (idempotent: a record's id is unique, a
  second shipment adds nothing) and then answers from the table, so records outlive the volume's
  cap and any Docker host. Without it, the volume is the log (one machine).

The serving image never talks to the database: it has no driver and no password.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tarfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ml.config import EnvironmentSettings, Settings
from ml.errors import InputError, ServiceError

LOG_DIR = "/var/lib/mlci/predictions"  # the mount point docker/serve.Dockerfile prepares
LABEL = "org.mlci"  # as ml/deploy/docker_env.py labels the containers it starts
TABLE = "mlci_predictions"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    id TEXT NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    version TEXT NOT NULL,
    container TEXT NOT NULL,
    record JSONB NOT NULL,
    PRIMARY KEY (project, env, id)
);
CREATE INDEX IF NOT EXISTS {TABLE}_by_time ON {TABLE} (project, env, ts);
"""
_SCHEMA_LOCK_KEY = 0x6D6C6370  # "mlcp": serialises concurrent CREATE TABLE IF NOT EXISTS
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")


def _environment(settings: Settings, env_name: str) -> EnvironmentSettings:
    return settings.environment(env_name)


def volume_name(env: EnvironmentSettings) -> str:
    """The Docker volume an environment's serving containers write their log to."""
    return env.prediction_log.volume or f"{env.container}-predictions"


def container_config(
    settings: Settings,
    env_name: str,
    env: EnvironmentSettings,
    *,
    container_name: str,
    version: str,
) -> dict[str, Any]:
    """Extra `containers.run` kwargs so a serving container logs its requests.

    Returns {"environment": {...}, "volumes": {...}} (or {} when the log is off). The caller
    merges `environment` into its own variables. Nothing secret goes in: the container only
    writes files; shipping to `state.url` is mlci's job.
    """
    cfg = env.prediction_log
    if not cfg.enabled:
        return {}
    environment = {
        "MLCI_PREDLOG_DIR": LOG_DIR,
        "MLCI_PREDLOG_SAMPLE_RATE": repr(float(cfg.sample_rate)),
        "MLCI_PREDLOG_MAX_MB": f"{cfg.max_mb:g}",
        "MLCI_PREDLOG_SEGMENT_MB": f"{cfg.segment_mb:g}",
        "MLCI_PREDLOG_QUEUE": str(cfg.queue_size),
        "MLCI_PREDLOG_ENV": env_name,
        "MLCI_PREDLOG_CONTAINER": container_name,
        "MLCI_PREDLOG_VERSION": str(version),
    }
    if settings.data.id_column:
        environment["MLCI_PREDLOG_ID_COLUMN"] = settings.data.id_column
    return {
        "environment": environment,
        "volumes": {volume_name(env): {"bind": LOG_DIR, "mode": "rw"}},
    }


# ---- reading the volume ------------------------------------------------------------------------


def parse_since(since: str | None, now: datetime | None = None) -> datetime | None:
    """`since` as an aware UTC time: an ISO 8601 time (UTC when it has no zone) or an age such
    as 90s, 15m, 2h, 1d."""
    if since is None or since == "":
        return None
    text = since.strip()
    m = _DURATION.match(text)
    if m:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return (now or datetime.now(UTC)) - timedelta(**{unit: float(m.group(1))})
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"--since {since!r}: expected an ISO 8601 time (2026-12-01T10:00:00Z) or an age "
            "such as 30m, 2h, 1d"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _record_time(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(record["ts"]).replace("Z", "+00:00"))


def _reader_container(
    client: Any, env_name: str, env: EnvironmentSettings, fallback_image: str
) -> tuple[Any, bool]:
    """A container that mounts the log volume: a serving container of the environment when one
    does, else a created (never started) one from an image the environment already has (or
    `fallback_image`, the base image, when the engine has it)."""
    import docker.errors

    volume = volume_name(env)
    candidates = client.containers.list(
        ignore_removed=True,
        all=True,
        filters={"label": [f"{LABEL}.role=model", f"{LABEL}.env={env_name}"]},
    )
    for c in candidates:
        for m in c.attrs.get("Mounts") or []:
            if m.get("Type") == "volume" and m.get("Name") == volume:
                return c, False
    image = None
    for c in candidates:
        image = c.attrs.get("Config", {}).get("Image") or c.image.id
        break
    if image is None:
        try:
            image = client.images.get(fallback_image).id
        except docker.errors.ImageNotFound:
            raise InputError(
                f"environment {env_name!r} has no serving container on "
                f"{env.docker_host or 'the local engine'} and the engine has no image "
                f"{fallback_image!r} (image.base_image) to read the prediction log volume "
                f"{volume!r} with; deploy a version first"
            ) from None
    reader = client.containers.create(
        image,
        entrypoint=["true"],
        volumes={volume: {"bind": LOG_DIR, "mode": "ro"}},
        labels={f"{LABEL}.role": "predlog-reader", f"{LABEL}.env": env_name},
    )
    return reader, True


def volume_records(
    client: Any,
    settings: Settings,
    env_name: str,
    env: EnvironmentSettings,
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    """The records in the environment's log volume (oldest segment first); with `since`, the
    segments last written before it are not parsed (their records are all older)."""
    import docker.errors

    try:
        client.volumes.get(volume_name(env))
    except docker.errors.NotFound:
        return []
    reader, created = _reader_container(client, env_name, env, settings.image.base_image)
    try:
        try:
            stream, _ = reader.get_archive(LOG_DIR + "/.")
        except docker.errors.NotFound:
            return []
        raw = b"".join(stream)
    except docker.errors.APIError as e:
        raise ServiceError(
            f"reading the prediction log volume {volume_name(env)!r} through container "
            f"{reader.name} failed: {e.explanation or e}"
        ) from None
    finally:
        if created:
            with contextlib.suppress(docker.errors.APIError):
                reader.remove(force=True)
    return parse_segments(raw, since.timestamp() if since else None)


def parse_segments(tar_bytes: bytes, newer_than: float | None = None) -> list[dict[str, Any]]:
    """Records of every `*.jsonl` segment in a tar archive (modified at or after `newer_than`,
    a POSIX time, when given); a torn last line (a worker was writing it) is skipped, any other
    bad line is an error naming the segment and line."""
    segments = []
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        for member in tar.getmembers():
            if newer_than is not None and member.mtime + 1 < newer_than:
                continue  # tar keeps whole seconds
            if member.isfile() and member.name.endswith(".jsonl"):
                data = tar.extractfile(member).read()
                segments.append((member.mtime, member.name, data))
    segments.sort()
    out: list[dict[str, Any]] = []
    for _, name, data in segments:
        lines = data.split(b"\n")
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as e:
                if n == len(lines):  # no newline yet: being written right now
                    continue
                raise InputError(
                    f"prediction log segment {name}:{n}: not a JSON record ({e})"
                ) from None
            out.append(record)
    return out


def _filtered(
    records: Iterable[dict[str, Any]],
    container: str | None,
    version: str | None,
    since: datetime | None,
) -> list[dict[str, Any]]:
    out = []
    for r in records:
        if container is not None and r.get("container") != container:
            continue
        if version is not None and str(r.get("version")) != str(version):
            continue
        if since is not None and _record_time(r) < since:
            continue
        out.append(r)
    out.sort(key=lambda r: (r["ts"], r["id"]))
    return out


# ---- the team's store ---------------------------------------------------------------------------


def _connect(settings: Settings) -> Any:
    import psycopg

    from ml.state.postgres import public_url

    try:
        conn = psycopg.connect(
            settings.state.url,
            autocommit=True,
            connect_timeout=max(1, round(settings.state.connect_timeout)),
            application_name="mlci-predictions",
        )
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
            conn.execute(_SCHEMA)
    except psycopg.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise ServiceError(
            f"PostgreSQL at {public_url(settings.state.url)} (state.url) failed: {first}; "
            "start it (scripts/team-stack.sh up), fix state.url or PGPASSWORD"
        ) from None
    return conn


def ship(settings: Settings, env_name: str, records: list[dict[str, Any]]) -> int:
    """Add `records` to the team's table (already present ones are skipped); returns how many
    were new."""
    if not records:
        return 0
    import psycopg

    rows = [
        (
            settings.project,
            env_name,
            str(r["id"]),
            _record_time(r),
            str(r.get("version", "")),
            str(r.get("container", "")),
            json.dumps(r, sort_keys=True),
        )
        for r in records
    ]
    conn = _connect(settings)
    try:
        with conn.transaction(), conn.cursor() as cur:
            before = cur.execute(
                f"SELECT count(*) FROM {TABLE} WHERE project = %s AND env = %s",
                (settings.project, env_name),
            ).fetchone()[0]
            cur.executemany(
                f"INSERT INTO {TABLE} (project, env, id, ts, version, container, record) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING",
                rows,
            )
            after = cur.execute(
                f"SELECT count(*) FROM {TABLE} WHERE project = %s AND env = %s",
                (settings.project, env_name),
            ).fetchone()[0]
    except psycopg.Error as e:
        raise ServiceError(f"shipping prediction records to {TABLE} failed: {e}") from None
    finally:
        conn.close()
    return int(after - before)


def stored_records(
    settings: Settings,
    env_name: str,
    container: str | None,
    version: str | None,
    since: datetime | None,
) -> list[dict[str, Any]]:
    """Records of `env_name` in the team's table, oldest first (filters as read_predictions)."""
    where = ["project = %s", "env = %s"]
    args: list[Any] = [settings.project, env_name]
    if container is not None:
        where.append("container = %s")
        args.append(container)
    if version is not None:
        where.append("version = %s")
        args.append(str(version))
    if since is not None:
        where.append("ts >= %s")
        args.append(since)
    conn = _connect(settings)
    try:
        rows = conn.execute(
            f"SELECT record FROM {TABLE} WHERE {' AND '.join(where)} ORDER BY ts, id", args
        ).fetchall()
    finally:
        conn.close()
    return [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in rows]


def read_predictions(
    settings: Settings,
    env_name: str,
    *,
    container: str | None = None,
    version: str | None = None,
    since: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Logged records of `env_name`, oldest first (the newest `limit` when given).

    Each record: {"id", "ts", "env", "model", "version", "container", "request_id", "row",
    "endpoint", "inputs": {column: value}, "prediction", "probabilities" (list or None),
    "classes" (the order of probabilities, or None), "latency_ms", "status"}, plus "data_id"
    when the request held `data.id_column`.
    With `state.url` set, the records read from the volume (those of segments written since
    `since`) are shipped to the team's store first; `ship_predictions` ships them all.
    """
    from ml.deploy import docker_env as de

    env = _environment(settings, env_name)
    after = parse_since(since)
    client = de.docker_client(env)
    local = volume_records(client, settings, env_name, env, after)
    if settings.state.shared:
        ship(settings, env_name, local)
        records = stored_records(settings, env_name, container, version, after)
    else:
        records = _filtered(local, container, version, after)
    if limit is not None:
        records = records[-limit:] if limit > 0 else []
    return records


def ship_predictions(settings: Settings, env_name: str) -> tuple[int, int]:
    """Ship the volume's records to `state.url`: (records in the volume, new in the store)."""
    from ml.deploy import docker_env as de

    if not settings.state.shared:
        raise InputError(
            "state.url is empty: the prediction log stays in the environment's volume; set "
            "state.url (MLCI_STATE__URL) to a postgresql:// URL to ship it to the team's store"
        )
    env = _environment(settings, env_name)
    local = volume_records(de.docker_client(env), settings, env_name, env)
    return len(local), ship(settings, env_name, local)


# ---- the same requests on another version --------------------------------------------------------


@dataclass
class Disagreement:
    """How often another version answered the logged requests differently."""

    n: int  # records replayed
    disagreed: int
    rate: float  # disagreed / n (0.0 when n == 0)
    detail: str


def _same(a: Any, b: Any, task: str, tolerance: float) -> bool:
    if task == "regression":
        try:
            x, y = float(a), float(b)
        except (TypeError, ValueError):
            return False
        return abs(x - y) <= tolerance * max(abs(x), abs(y), 1.0)
    return a == b or str(a) == str(b)


def disagreement(
    records: list[dict[str, Any]],
    other_base_url: str,
    task: str,
    *,
    tolerance: float = 0.01,
    timeout: float = 10.0,
    batch: int = 200,
) -> Disagreement:
    """Replay the records' inputs on the other version's /invocations and compare predictions.

    Classification: labels differ. Regression: |a - b| > tolerance * max(|a|, |b|, 1) (relative,
    1% by default). Records that were not answered 200 are skipped.
    """
    import requests

    rows = [r for r in records if r.get("status", 200) == 200 and "inputs" in r]
    url = other_base_url.rstrip("/") + "/invocations"
    if not rows:
        return Disagreement(0, 0, 0.0, f"no logged requests to replay on {url}")
    disagreed = 0
    examples: list[str] = []
    started = time.perf_counter()
    with requests.Session() as session:
        for i in range(0, len(rows), batch):
            chunk = rows[i : i + batch]
            body = {"dataframe_records": [r["inputs"] for r in chunk]}
            try:
                resp = session.post(url, json=body, timeout=timeout)
            except requests.RequestException as e:
                raise ServiceError(
                    f"replaying logged requests on {url} failed: {e.__class__.__name__}: {e}"
                ) from None
            if resp.status_code != 200:
                raise ServiceError(
                    f"replaying logged requests on {url}: HTTP {resp.status_code} {resp.text[:300]}"
                )
            answers = resp.json().get("predictions")
            if not isinstance(answers, list) or len(answers) != len(chunk):
                raise ServiceError(
                    f"replaying {len(chunk)} logged requests on {url}: expected as many "
                    f"predictions, got {answers!r:.200}"
                )
            for r, other in zip(chunk, answers, strict=True):
                if not _same(r["prediction"], other, task, tolerance):
                    disagreed += 1
                    if len(examples) < 3:
                        examples.append(
                            f"request {r.get('request_id')} row {r.get('row', 0)}: "
                            f"{r['prediction']!r} vs {other!r}"
                        )
    n = len(rows)
    rate = disagreed / n
    detail = (
        f"{disagreed} of {n} logged predictions differ on {other_base_url} "
        f"({rate:.2%}; replayed in {time.perf_counter() - started:.2f}s)"
        + (f", e.g. {'; '.join(examples)}" if examples else "")
    )
    return Disagreement(n, disagreed, rate, detail)
