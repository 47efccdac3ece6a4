"""Fixtures with the real model image: trained versions, built by `ml.image.build` and pushed to
the test registry, so deploys, replicas and canaries run the serving app users run.

Three versions in one MLflow store (built once per session):
  1 and 2  the same pipeline on the same rows: identical predictions (a canary promotes);
  3        a much weaker model (few rows, few iterations): its predictions differ from 1 and 2,
           so a canary of it breaks the disagreement bound and is rolled back.
Each run records smoke samples as `mlci evaluate` does (evaluate/smoke_samples.json).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, write_project
from tests.fixtures.mlflow_server import free_port

MODEL = "churn-classifier"
TRAINING = {"1": (3000, 60), "2": (3000, 60), "3": (150, 3)}  # rows, max_iter


@dataclass(frozen=True)
class RealModels:
    root: Path
    tracking_uri: str
    registry_url: str
    repository: str
    versions: tuple[str, ...]


def _train_and_register(settings, rows: int, max_iter: int) -> str:
    import mlflow
    from mlflow.models import infer_signature

    from ml.data.dataset import read_frame, resolve_dataset
    from ml.registry import ModelRegistry
    from ml.registry import tags as T
    from ml.registry.tracking import connect
    from ml.train.model import build_pipeline, feature_frame
    from ml.train.serialization import TRUSTED_TYPES

    dataset = resolve_dataset(settings)
    frame = read_frame(dataset, settings).head(rows)
    X, y = feature_frame(frame, settings), frame[settings.data.target]
    pipe = build_pipeline(settings)
    pipe.set_params(**{f"{pipe.steps[-1][0]}__max_iter": max_iter})
    model = pipe.fit(X, y)
    held = feature_frame(read_frame(dataset, settings).tail(8), settings)
    proba = model.predict_proba(held)
    labels = model.predict(held)
    classes = [int(c) for c in model.classes_]
    samples = {
        "task": "binary",
        "classes": classes,
        "samples": [
            {
                "id": None,
                "features": json.loads(held.iloc[[i]].to_json(orient="records"))[0],
                "label": None,
                "prediction": int(labels[i]),
                "probabilities": [float(p) for p in proba[i]],
                "probability": float(proba[i][classes.index(1)]),
            }
            for i in range(len(held))
        ],
    }
    with mlflow.start_run(experiment_id=connect(settings)) as run:
        mlflow.log_metrics({"roc_auc": 0.84, "f1": 0.61})
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(X, model.predict(X)),
            input_example=X.head(2),
            serialization_format="skops",
            skops_trusted_types=TRUSTED_TYPES,
        )
        samples.update(run_id=run.info.run_id, model_uri=info.model_uri)
        mlflow.log_dict(samples, "evaluate/smoke_samples.json")
    reg = ModelRegistry(settings)
    v = reg.register(
        info.model_uri,
        run.info.run_id,
        {
            T.DATASET_VERSION: dataset.version,
            T.DATASET_DIGEST: dataset.digest,
            T.GIT_COMMIT: "0123456789abcdef0123456789abcdef01234567",
            T.APPROVAL_STATUS: "pending",
        },
    )
    reg.approve(None, v.version, by="alice", reason="deploy tests")
    return v.version


@pytest.fixture(scope="session")
def real_models(docker_client, registry, tmp_path_factory) -> RealModels:
    """Versions 1..3 trained, approved, built into model images and pushed (once per run)."""
    return prepare_models(
        tmp_path_factory.mktemp("real-models"), registry.url, registry.user, registry.password
    )


def prepare_models(
    root: Path,
    registry_url: str,
    user: str,
    password: str,
    training: dict[str, tuple[int, int]] = TRAINING,
) -> RealModels:
    """Train, approve, build and push the versions of `training` (also used by benchmarks)."""
    from ml.config import load_settings
    from ml.image.build import build_model_image
    from ml.image.push import push_model_image

    tracking = f"sqlite:///{root / 'mlflow.db'}"
    repository = f"mlci-test/real-{uuid.uuid4().hex[:6]}"
    config = write_project(
        root,
        {
            "mlflow.tracking_uri": tracking,
            "mlflow.artifact_root": str(root / "artifacts"),
            "registry.url": registry_url,
            "image.repository": repository,
        },
    )
    cache = REPO / ".mlci" / "cache"  # the wheelhouse cache of the checkout, keyed by lock hash
    (root / ".mlci").mkdir(exist_ok=True)
    if cache.is_dir() and not (root / ".mlci" / "cache").exists():
        (root / ".mlci" / "cache").symlink_to(cache)
    environ = {"MLCI_REGISTRY_USER": user, "MLCI_REGISTRY_PASSWORD": password}
    saved = {k: os.environ.get(k) for k in environ}
    os.environ.update(environ)
    try:
        settings = load_settings(config, environ={})
        versions = []
        for version, (rows, max_iter) in training.items():
            got = _train_and_register(settings, rows, max_iter)
            assert got == version
            build_model_image(settings, None, got)
            push_model_image(settings, None, got)
            versions.append(got)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return RealModels(root, tracking, registry_url, repository, tuple(versions))


@dataclass
class RealProject:
    config: Path
    port: int
    prefix: str
    env: str  # a name no other test uses: deploy code of other branches on this engine
    # may still treat every container labelled `staging` as its own

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def real_project_fixture(tmp_path, monkeypatch, docker_client, registry, real_models, **env):
    """A project on the shared real-model registry with one environment private to one test
    (its registry alias is `staging`)."""
    for var in [v for v in os.environ if v.startswith("MLCI_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("MLCI_REGISTRY_USER", registry.user)
    monkeypatch.setenv("MLCI_REGISTRY_PASSWORD", registry.password)
    prefix = f"mlcitest-{uuid.uuid4().hex[:8]}"
    env_name = f"stg-{prefix[-8:]}"
    port = free_port()
    staging = {
        "port": port,
        "container": f"{prefix}-staging",
        "alias": "staging",
        "bind": "127.0.0.1",
        "ready_timeout": 60,
        "drain_seconds": 0.5,
        "stop_timeout": 5,
        "cpus": 1.0,
        "memory": "512m",
        **env,
    }
    config = write_project(
        tmp_path / "proj",
        {
            "mlflow.tracking_uri": real_models.tracking_uri,
            "mlflow.artifact_root": str(real_models.root / "artifacts"),
            "registry.url": real_models.registry_url,
            "image.repository": real_models.repository,
            "environments": {env_name: staging},
        },
    )
    monkeypatch.setenv("MLCI_CONFIG", str(config))
    monkeypatch.chdir(config.parent)
    return RealProject(config=config, port=port, prefix=prefix, env=env_name)


def remove_environment(docker_client, prefix: str) -> None:
    for c in docker_client.containers.list(ignore_removed=True, all=True):
        if c.name.startswith(prefix):
            c.remove(force=True)
    for n in docker_client.networks.list():
        if n.name.startswith(prefix):
            n.remove()
    for v in docker_client.volumes.list():
        if v.name.startswith(prefix):
            v.remove(force=True)
