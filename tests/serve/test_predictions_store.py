"""Shipping the prediction log to the team's PostgreSQL (the team stack): records logged by the
real server go in once however often they are shipped, and come back filtered."""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
import requests

from ml.config import load_settings
from ml.deploy.predictions import parse_since, ship, stored_records
from ml.errors import ServiceError
from tests.conftest import write_project
from tests.fixtures.serving import serve
from tests.image.helpers import ROW

pytestmark = pytest.mark.slow


def test_shipped_records_are_stored_once_and_read_back(team_stack, bundles, tmp_path, monkeypatch):
    for var in [v for v in os.environ if v.startswith("MLCI_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("PGPASSWORD", team_stack.exports["PGPASSWORD"])
    project = f"p{uuid.uuid4().hex[:8]}"
    config = write_project(tmp_path / "ws", {"project": project, "state.url": team_stack.state_url})
    settings = load_settings(config)
    with serve(bundles["strong"], tmp_path, container="c-store") as srv:
        for _ in range(4):
            assert requests.post(f"{srv.url}/invocations", json={"inputs": [ROW, ROW]}).ok
        deadline = time.monotonic() + 10
        while True:
            lines = [
                line
                for f in sorted(srv.log_dir.glob("*.jsonl"))
                for line in f.read_text().splitlines()
            ]
            if len(lines) >= 8 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    records = [json.loads(line) for line in lines]
    assert len(records) == 8
    assert ship(settings, "production", records) == 8
    assert ship(settings, "production", records) == 0  # shipped twice: nothing new
    assert ship(settings, "staging", records[:3]) == 3  # environments are apart

    stored = stored_records(settings, "production", None, None, None)
    assert sorted(r["id"] for r in stored) == sorted(r["id"] for r in records)
    assert {r["id"]: r for r in stored} == {r["id"]: r for r in records}  # as logged
    assert stored_records(settings, "production", "c-store", "1", parse_since("1h")) == stored
    assert stored_records(settings, "production", None, "2", None) == []
    assert stored_records(settings, "production", None, None, parse_since("2999-01-01")) == []
    assert len(stored_records(settings, "staging", None, None, None)) == 3

    monkeypatch.setenv("PGPASSWORD", "wrong-password-xyz")
    with pytest.raises(ServiceError) as err:
        ship(settings, "production", records)
    assert "(state.url) failed" in str(err.value) and "wrong-password-xyz" not in str(err.value)
