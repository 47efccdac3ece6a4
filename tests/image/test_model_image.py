"""The model image against the real Docker Engine and a real registry: labels, size, every
endpoint in a running container, no secret anywhere, approved-only pushes, clean failures."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import requests
from click.testing import CliRunner

from ml.cli import cli
from ml.config import load_settings
from ml.errors import ServiceError
from ml.image import labels as L
from ml.registry import ModelRegistry
from ml.registry import tags as T
from tests.fixtures.mlflow_server import free_port
from tests.image.test_serve_app import ROW

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CANARY = "canary-Zq81-not-a-real-password"


@pytest.fixture(scope="module")
def canary_build(image_project, docker_client, monkeypatch_module):
    """Build with a canary secret in every credential variable, as a CI agent would have."""
    from ml.image.build import build_model_image

    for var in ("MLCI_REGISTRY_PASSWORD", "JENKINS_TOKEN", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch_module.setenv(var, CANARY)
    return build_model_image(image_project.settings, None, image_project.approved)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def container(canary_build, docker_client):
    port = free_port()
    c = docker_client.containers.run(
        canary_build.image,
        detach=True,
        ports={"8080/tcp": ("127.0.0.1", port)},
        environment={"MLCI_SERVE_WORKERS": "2"},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/ready", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.3)
    else:
        logs = c.logs().decode()
        c.remove(force=True)
        pytest.fail(f"container never became ready:\n{logs}")
    yield c, base
    c.remove(force=True)


def test_image_labels_carry_lineage(canary_build, image_project, docker_client):
    labels = docker_client.images.get(canary_build.image).labels
    assert labels[L.MODEL_NAME] == "churn-classifier"
    assert labels[L.MODEL_VERSION] == image_project.approved
    assert labels[L.APPROVAL_STATUS] == "approved"
    assert labels[L.APPROVAL_BY] == "alice"
    assert labels[L.DATASET_VERSION] == "2025Q1"
    assert len(labels[L.DATASET_DIGEST]) == 32
    assert (
        labels[L.GIT_COMMIT] == labels["org.opencontainers.image.revision"] == "0123456789ab"
        "cdef0123456789abcdef01234567"
    )
    assert labels["org.opencontainers.image.version"] == image_project.approved
    assert labels["org.opencontainers.image.title"] == "churn-classifier"
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert "org.opencontainers.image.source" in labels
    assert labels[L.METRIC_PREFIX + "roc_auc"] == "0.84"
    assert labels[L.RUNTIME] == "onnx"
    assert len(labels[L.RUN_ID]) == 32


def test_onnx_image_adds_at_most_150_mb(canary_build):
    assert canary_build.runtime == "onnx"
    assert canary_build.added_bytes <= 150e6, canary_build.added_bytes


def test_every_endpoint_in_the_container(container):
    _, base = container
    assert requests.get(f"{base}/health").json() == {"status": "ok"}
    meta = requests.get(f"{base}/metadata").json()
    assert meta["model"]["name"] == "churn-classifier"
    assert meta["lineage"][T.APPROVAL_STATUS] == "approved"
    assert meta["runtime"]["name"] == "onnx"
    out = requests.post(f"{base}/predict", json=[ROW, ROW]).json()
    assert len(out["predictions"]) == 2 and len(out["probabilities"][0]) == 2
    inv = requests.post(f"{base}/invocations", json={"dataframe_records": [ROW]})
    assert inv.status_code == 200 and set(inv.json()) == {"predictions"}
    bad = requests.post(f"{base}/invocations", json={"dataframe_records": [{"x": 1}]})
    assert bad.status_code == 422 and bad.json()["field"] == "tenure_months"
    junk = requests.post(f"{base}/predict", data=b"{", headers={"content-type": "application/json"})
    assert junk.status_code == 400
    assert (
        requests.post(
            f"{base}/predict",
            data=b"[" + b" " * (2 << 20) + b"]",
            headers={"content-type": "application/json"},
        ).status_code
        == 413
    )
    metrics = requests.get(f"{base}/metrics").text
    assert 'mlci_http_requests_total{endpoint="predict",status="200"}' in metrics


def test_workers_are_pinned_to_one_thread(container):
    c, _ = container
    _code, out = c.exec_run(
        [
            "sh",
            "-c",
            "for p in /proc/[0-9]*; do tr '\\0' '\\n' < $p/environ "
            "2>/dev/null | grep '^OMP_NUM_THREADS='; done | sort -u",
        ]
    )
    assert out.decode().split() == ["OMP_NUM_THREADS=1"]


def test_no_secret_in_history_labels_env_or_logs(canary_build, container, docker_client):
    c, base = container
    requests.post(f"{base}/predict", json=[ROW])
    history = subprocess.run(
        ["docker", "history", "--no-trunc", canary_build.image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    attrs = docker_client.images.get(canary_build.image).attrs
    dumped = json.dumps(attrs) + history + c.logs().decode()
    dumped += c.exec_run(["sh", "-c", "env; cat /opt/model/metadata.json"]).output.decode()
    assert CANARY not in dumped


def _invoke(image_project, registry, *args, password=None):
    env = {
        "MLCI_CONFIG": str(image_project.config),
        "MLCI_REGISTRY__URL": registry.url,
        "MLCI_REGISTRY_USER": registry.user,
        "MLCI_REGISTRY_PASSWORD": password or registry.password,
    }
    return CliRunner().invoke(cli, list(args), env=env)


def _image_tags(image_project, version):
    info = ModelRegistry(image_project.settings).get_version(None, version)
    return {k: v for k, v in info.tags.items() if k.startswith("image.")}


def test_push_refuses_unapproved_version(image_project, registry):
    result = _invoke(image_project, registry, "model", "push", image_project.pending)
    assert result.exit_code == 3
    assert result.output == (
        f"Error: model 'churn-classifier' version {image_project.pending} is pending; approve "
        f"it first with `mlci model approve {image_project.pending} --reason ...`\n"
    )


def test_wrong_password_is_a_clear_error(image_project, registry, canary_build):
    result = _invoke(
        image_project,
        registry,
        "model",
        "push",
        image_project.approved,
        "--attempts",
        "1",
        password="wrong-password",
    )
    assert result.exit_code == 4, result.output
    assert f"registry {registry.url} refused the push" in result.output
    assert "wrong-password" not in result.output
    assert _image_tags(image_project, image_project.approved) == {}


def test_registry_stopped_mid_push_leaves_tags_unchanged(image_project, registry, canary_build):
    from ml.image.push import push_model_image

    settings = load_settings(image_project.config, environ={"MLCI_REGISTRY__URL": registry.url})
    stopped = []

    def stop_registry(line: str) -> None:
        if not stopped:
            stopped.append(registry.run("stop").returncode)

    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MLCI_REGISTRY_USER", registry.user)
            mp.setenv("MLCI_REGISTRY_PASSWORD", registry.password)
            with pytest.raises(ServiceError) as err:
                push_model_image(
                    settings,
                    None,
                    image_project.approved,
                    attempts=2,
                    backoff=0.2,
                    progress=stop_registry,
                )
    finally:
        assert registry.run("start").returncode == 0
    assert stopped == [0]
    assert f"to registry {registry.url} failed after 2 attempts" in str(err.value)
    assert _image_tags(image_project, image_project.approved) == {}


def test_push_confirms_digest_and_records_it(image_project, registry, canary_build):
    result = _invoke(image_project, registry, "model", "push", image_project.approved, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    ref = f"{registry.url}/mlci-test/churn:v{image_project.approved}"
    assert out["image_ref"] == ref
    head = requests.head(
        f"http://{registry.url}/v2/mlci-test/churn/manifests/v{image_project.approved}",
        auth=(registry.user, registry.password),
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert head.headers["Docker-Content-Digest"] == out["digest"]
    assert _image_tags(image_project, image_project.approved) == {
        T.IMAGE_REF: ref,
        T.IMAGE_DIGEST: out["digest"],
    }


def test_inspect_prints_lineage_labels(image_project, canary_build):
    result = CliRunner().invoke(
        cli,
        ["model", "inspect", canary_build.image, "--json"],
        env={"MLCI_CONFIG": str(image_project.config)},
    )
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert view["mlci"]["model.version"] == image_project.approved
    assert view["oci"]["title"] == "churn-classifier"
    assert view["metrics"] == {"f1": "0.61", "roc_auc": "0.84"}
    text = (
        CliRunner()
        .invoke(
            cli,
            ["model", "inspect", canary_build.image],
            env={"MLCI_CONFIG": str(image_project.config)},
        )
        .output
    )
    assert "mlci.approval.by" in text and "alice" in text


def test_build_of_unknown_version_is_bad_input(image_project):
    result = CliRunner().invoke(
        cli, ["model", "build", "99"], env={"MLCI_CONFIG": str(image_project.config)}
    )
    assert result.exit_code == 2
    assert "has no version 99" in result.output
