"""Deploy test fixtures: three pushed serving images and a registry with three model versions.

Images are built from tests/deploy/serving_image (a stdlib stand-in for the model server, so the
tests do not depend on training) and pushed to the test registry (tests/fixtures/registry.py),
so deploys pull by digest exactly as in production. Version 3 serves shifted probabilities:
its smoke test must fail.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from ml.registry import tags
from tests.conftest import REPO, write_project
from tests.deploy.real_images import remove_environment
from tests.fixtures.mlflow_server import free_port
from tests.fixtures.registry import Registry

MODEL = "churn-classifier"
BIASES = {"1": 0.0, "2": 0.0, "3": 0.7}


@dataclass(frozen=True)
class PushedImage:
    ref: str
    digest: str


@pytest.fixture(scope="session")
def front_image(docker_client) -> str:
    """The HAProxy front image (front.image default), built once by its bootstrap script."""
    import subprocess

    from ml.config import FrontSettings

    image = FrontSettings().image
    proc = subprocess.run(
        [str(REPO / "scripts" / "bootstrap-front-image.sh")],
        cwd=REPO,
        env={**os.environ, "FRONT_IMAGE": image},
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/bootstrap-front-image.sh failed:\n{proc.stderr[-2000:]}")
    return image


@pytest.fixture(scope="session")
def model_image(docker_client, tmp_path_factory) -> str:
    """The real mlci model image (ml/serve behind uvicorn) of a freshly trained model, built
    once per session: the fault tests compare the front with the serving app itself."""
    from ml.config import load_settings
    from ml.image.build import build_model_image
    from tests.image.helpers import register_version

    root = tmp_path_factory.mktemp("deploy-model-image")
    config = write_project(
        root,
        overrides={"image.repository": "mlci-test/deploy-model", "train.params.max_iter": 60},
    )
    cache = REPO / ".mlci" / "cache"  # the checkout's wheelhouse cache, keyed by the lock
    (root / ".mlci").mkdir(exist_ok=True)
    if cache.is_dir():
        (root / ".mlci" / "cache").symlink_to(cache, target_is_directory=True)
    settings = load_settings(config, environ={})
    version = register_version(settings, approve=True)
    return build_model_image(settings, None, version).image


@pytest.fixture(scope="session")
def pushed_images(docker_client, registry: Registry) -> dict[str, PushedImage]:
    """version -> image pushed to the test registry (built once per session)."""
    auth = {"username": registry.user, "password": registry.password}
    image_repo = f"{registry.url}/mlci-test/serve"
    out = {}
    for version, bias in BIASES.items():
        tag = f"{image_repo}:v{version}"
        docker_client.images.build(
            path=str(Path(__file__).parent / "serving_image"),
            tag=tag,
            rm=True,
            pull=False,
            buildargs={"MODEL_VERSION": version, "MODEL_BIAS": str(bias)},
        )
        for line in docker_client.images.push(
            image_repo, tag=f"v{version}", auth_config=auth, stream=True, decode=True
        ):
            if "error" in line:
                pytest.fail(f"push {tag}: {line['error']}")
        digests = docker_client.images.get(tag).attrs["RepoDigests"]
        digest = next(d for d in digests if d.startswith(image_repo + "@")).split("@")[1]
        out[version] = PushedImage(ref=tag, digest=digest)
    return out


def expected_probability(row: dict) -> float:
    z = 0.05 * (float(row["monthly_charges"]) - 60) - 0.04 * (float(row["tenure_months"]) - 24)
    return 1 / (1 + math.exp(-z))


def smoke_samples(n: int = 10) -> dict:
    """Recorded samples in the layout `mlci evaluate` writes (evaluate/smoke_samples.json)."""
    frame = pd.read_csv(REPO / "data" / "snapshots" / "2025Q1.csv", nrows=n)
    rows = json.loads(frame.drop(columns=["churned"]).to_json(orient="records"))
    samples = []
    for row in rows:
        ident = row.pop("customer_id")
        p = expected_probability(row)
        samples.append(
            {
                "id": ident,
                "features": row,
                "label": 0,
                "prediction": int(p >= 0.5),
                "probability": p,
            }
        )
    return {"run_id": "test", "model_uri": "runs:/test/model", "samples": samples}


@dataclass
class DeployProject:
    config: Path
    staging_port: int
    production_port: int
    prefix: str


def register_versions(
    tracking_uri: str,
    images: dict[str, PushedImage],
    tmp: Path,
    approved: tuple[str, ...] = ("1", "2", "3"),
    without_image: tuple[str, ...] = (),
) -> None:
    """Create model versions 1..N with smoke samples, approval and image tags, as mlci would."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    exp = client.create_experiment("churn", artifact_location=str(tmp / "artifacts"))
    client.create_registered_model(MODEL)
    samples = tmp / "evaluate" / "smoke_samples.json"
    samples.parent.mkdir(parents=True, exist_ok=True)
    samples.write_text(json.dumps(smoke_samples()))
    for version in sorted(images):
        run = client.create_run(exp)
        client.log_artifact(run.info.run_id, str(samples), artifact_path="evaluate")
        client.set_terminated(run.info.run_id)
        mv = client.create_model_version(
            MODEL, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
        )
        assert str(mv.version) == version
        client.set_model_version_tag(MODEL, version, tags.APPROVAL_STATUS, "pending")
        if version not in without_image:
            client.set_model_version_tag(MODEL, version, tags.IMAGE_REF, images[version].ref)
            client.set_model_version_tag(MODEL, version, tags.IMAGE_DIGEST, images[version].digest)
        if version in approved:  # as `mlci model approve` does: with a signed proof
            from ml.config import load_settings
            from ml.registry import ModelRegistry

            ModelRegistry(load_settings()).approve(MODEL, version, "deploy-tests", "fixture")


@pytest.fixture
def deploy_project(tmp_path, monkeypatch, docker_client, registry, pushed_images, front_image):
    """A project whose staging/production are private to this test; cleaned up afterwards."""
    for var in [v for v in os.environ if v.startswith("MLCI_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("MLCI_REGISTRY_USER", registry.user)
    monkeypatch.setenv("MLCI_REGISTRY_PASSWORD", registry.password)
    prefix = f"mlcitest-{uuid.uuid4().hex[:8]}"
    ports = free_port(), free_port()
    env = {
        "ready_timeout": 30,
        "drain_seconds": 0.5,
        "stop_timeout": 5,
        "cpus": 0.5,
        "memory": "128m",
        "bind": "127.0.0.1",
        "smoke": {"tolerance": 1e-6},
    }
    config = write_project(
        tmp_path / "proj",
        {
            "mlflow.tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "registry.url": registry.url,
            "environments": {
                "staging": {**env, "port": ports[0], "container": f"{prefix}-staging"},
                "production": {
                    **env,
                    "port": ports[1],
                    "container": f"{prefix}-production",
                    "requires": "staging",
                },
            },
        },
    )
    monkeypatch.setenv("MLCI_CONFIG", str(config))
    monkeypatch.chdir(config.parent)
    register_versions(f"sqlite:///{tmp_path / 'mlflow.db'}", pushed_images, tmp_path)
    yield DeployProject(
        config=config, staging_port=ports[0], production_port=ports[1], prefix=prefix
    )
    remove_environment(docker_client, prefix)
