"""The reading side without services: segments in an archive (torn and bad lines), `--since`
forms, and the container settings a serving container gets."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime

import pytest

from ml.config import EnvironmentSettings, PredictionLogSettings, load_settings
from ml.deploy.predictions import LOG_DIR, container_config, parse_segments, parse_since
from ml.errors import InputError
from tests.conftest import REPO


def _tar(files: dict[str, tuple[bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, (data, mtime) in files.items():
            info = tarfile.TarInfo(f"predictions/{name}")
            info.size, info.mtime = len(data), mtime
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _line(i: int) -> bytes:
    return json.dumps({"id": f"w-{i}", "ts": "2026-12-01T10:00:00.000Z"}).encode() + b"\n"


def test_segments_oldest_first_and_a_torn_last_line_is_skipped():
    raw = _tar(
        {
            "c.w.000002.jsonl": (_line(3) + b'{"id": "w-4", "ts"', 200),
            "c.w.000001.jsonl": (_line(1) + _line(2), 100),
            "notes.txt": (b"not a segment", 100),
        }
    )
    assert [r["id"] for r in parse_segments(raw)] == ["w-1", "w-2", "w-3"]
    assert [r["id"] for r in parse_segments(raw, newer_than=150)] == ["w-3"]


def test_a_bad_line_inside_a_segment_names_it():
    raw = _tar({"c.w.000001.jsonl": (_line(1) + b"garbage\n" + _line(2), 100)})
    with pytest.raises(InputError, match=r"segment predictions/c.w.000001.jsonl:2: not a JSON"):
        parse_segments(raw)


def test_since_accepts_ages_and_iso_times():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert parse_since("90s", now) == datetime(2026, 12, 1, 11, 58, 30, tzinfo=UTC)
    assert parse_since("2h", now) == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert parse_since("1d", now) == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert parse_since("2026-12-01T10:00:00Z") == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert parse_since("2026-12-01T10:00") == datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert parse_since(None) is None
    with pytest.raises(InputError, match="--since 'yesterday': expected an ISO 8601 time"):
        parse_since("yesterday")


def test_container_config_mounts_the_environment_volume():
    settings = load_settings(REPO / "mlci.yaml", environ={})
    env = EnvironmentSettings(
        port=9000,
        container="shop",
        prediction_log=PredictionLogSettings(sample_rate=0.25, max_mb=64, segment_mb=4),
    )
    kw = container_config(settings, "production", env, container_name="shop-r1", version="7")
    assert kw["volumes"] == {"shop-predictions": {"bind": LOG_DIR, "mode": "rw"}}
    e = kw["environment"]
    assert e["MLCI_PREDLOG_DIR"] == LOG_DIR and e["MLCI_PREDLOG_SAMPLE_RATE"] == "0.25"
    assert (e["MLCI_PREDLOG_MAX_MB"], e["MLCI_PREDLOG_SEGMENT_MB"]) == ("64", "4")
    assert (e["MLCI_PREDLOG_ENV"], e["MLCI_PREDLOG_CONTAINER"]) == ("production", "shop-r1")
    assert e["MLCI_PREDLOG_ID_COLUMN"] == "customer_id"
    off = env.model_copy(update={"prediction_log": PredictionLogSettings(enabled=False)})
    assert container_config(settings, "production", off, container_name="x", version="7") == {}


def test_segment_larger_than_the_cap_is_a_config_error():
    from ml.errors import ConfigError

    with pytest.raises(ConfigError, match=r"segment_mb \(300\) must not exceed"):
        load_settings(
            REPO / "mlci.yaml",
            environ={"MLCI_ENVIRONMENTS__PRODUCTION__PREDICTION_LOG__SEGMENT_MB": "300"},
        )
