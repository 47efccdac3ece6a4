"""The prediction log in the real model image: a container started with `container_config`
writes to its environment's Docker volume, `read_predictions` returns what it served (also once
the container is gone), and no secret of mlci's side reaches the container."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests

from ml.config import EnvironmentSettings
from ml.deploy.predictions import container_config, read_predictions, volume_name
from tests.fixtures.mlflow_server import free_port
from tests.image.helpers import ROW

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CANARY = "canary-Pw7-predlog-not-a-password"


@pytest.fixture(scope="module")
def model_image(image_project, docker_client):
    from ml.image.build import build_model_image

    return build_model_image(image_project.settings, None, image_project.approved)


@pytest.fixture
def logging_env(image_project, docker_client, model_image, monkeypatch):
    """An environment private to this test, a serving container of it started as rollout
    starts one (container_config merged into the run kwargs), and a cleanup."""
    monkeypatch.setenv("PGPASSWORD", CANARY)
    prefix = f"mlcitest-{uuid.uuid4().hex[:8]}"
    env_name = f"{prefix}-env"
    env = EnvironmentSettings(port=free_port(), container=prefix)
    settings = image_project.settings.model_copy(update={"environments": {env_name: env}})
    team = settings.model_copy(
        update={"state": settings.state.model_copy(update={"url": "postgresql://u@db:5432/x"})}
    )
    name = f"{prefix}-a"
    extra = container_config(team, env_name, env, container_name=name, version="1")
    port = free_port()
    container = docker_client.containers.run(
        model_image.image,
        name=name,
        detach=True,
        ports={"8080/tcp": ("127.0.0.1", port)},
        labels={"org.mlci.role": "model", "org.mlci.env": env_name},
        environment={"MLCI_SERVE_WORKERS": "2", **extra["environment"]},
        volumes=extra["volumes"],
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{base}/ready", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            logs = container.logs().decode()
            container.remove(force=True)
            pytest.fail(f"container never became ready:\n{logs}")
        time.sleep(0.3)
    yield settings, env_name, env, container, base
    for c in docker_client.containers.list(ignore_removed=True, all=True):
        if c.name.startswith(prefix) or c.labels.get("org.mlci.env") == env_name:
            c.remove(force=True)
    for v in docker_client.volumes.list():
        if v.name.startswith(prefix):
            v.remove(force=True)


def _wait(settings, env_name, want, **kw):
    deadline = time.monotonic() + 15
    while True:
        recs = read_predictions(settings, env_name, **kw)
        if len(recs) >= want or time.monotonic() > deadline:
            return recs
        time.sleep(0.3)


def test_served_requests_come_back_from_the_volume(logging_env, docker_client, image_project):
    settings, env_name, env, container, base = logging_env
    served = {}
    for i in range(3):
        r = requests.post(
            f"{base}/invocations",
            json={"dataframe_records": [ROW]},
            headers={"X-Request-ID": f"req-{i}"},
        )
        served[r.headers["x-request-id"]] = r.json()["predictions"]
    r = requests.post(f"{base}/predict", json=[ROW, {**ROW, "tenure_months": 40.0}])
    served[r.headers["x-request-id"]] = r.json()["predictions"]
    recs = _wait(settings, env_name, 5)
    assert len(recs) == 5
    for rec in recs:
        assert rec["prediction"] == served[rec["request_id"]][rec["row"]]
        assert rec["container"] == container.name and rec["env"] == env_name
        assert rec["version"] == image_project.approved
    assert {r["inputs"]["tenure_months"] for r in recs} == {3.0, 40.0}
    assert [r["ts"] for r in recs] == sorted(r["ts"] for r in recs)

    assert read_predictions(settings, env_name, version="999") == []
    assert len(read_predictions(settings, env_name, container=container.name, since="1h")) == 5
    assert read_predictions(settings, env_name, since="2999-01-01T00:00:00Z") == []
    assert [r["id"] for r in read_predictions(settings, env_name, limit=2)] == [
        r["id"] for r in recs[-2:]
    ]
    metrics = requests.get(f"{base}/metrics").text
    assert "mlci_prediction_log_records_total 5" in metrics
    assert "mlci_prediction_log_dropped_total 0" in metrics

    # mlci's secrets (the state password) never reach the serving container
    inspected = json.dumps(docker_client.api.inspect_container(container.id))
    assert CANARY not in inspected and "postgresql://" not in inspected
    assert CANARY not in container.logs().decode()

    # the volume outlives the container: read through a reader container of its own
    container.remove(force=True)
    assert [r["id"] for r in read_predictions(settings, env_name)] == [r["id"] for r in recs]
    readers = docker_client.containers.list(
        ignore_removed=True, all=True, filters={"label": ["org.mlci.role=predlog-reader"]}
    )
    assert not [c for c in readers if c.labels.get("org.mlci.env") == env_name]
    assert docker_client.volumes.get(volume_name(env)).name == f"{env.container}-predictions"
