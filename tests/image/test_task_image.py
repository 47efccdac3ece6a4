"""A multiclass model with named classes as a real model image: built by `mlci model build`'s
code from a registered MLflow version, run in Docker, answering in the user's labels.

One extra image build (the serving dependency layers are shared with the churn image).
"""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
import requests

from ml.config import load_settings
from ml.image import labels as L
from tests.conftest import REPO, write_project
from tests.fixtures.mlflow_server import free_port
from tests.image.tasks import fit, hgb, wine

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAMES = np.array(["barolo", "grignolino", "barbera"], dtype=object)


@pytest.fixture(scope="module")
def wine_version(tmp_path_factory):
    """wine-classifier version 1 in its own project and store, logged as contracts.md says."""
    import mlflow

    from ml.registry import ModelRegistry
    from ml.registry import tags as T
    from ml.registry.tracking import connect
    from ml.train.serialization import TRUSTED_TYPES

    root = tmp_path_factory.mktemp("wine-proj")
    repo = f"mlci-test/wine-{uuid.uuid4().hex[:8]}"
    config = write_project(
        root,
        overrides={
            "image.repository": repo,
            "mlflow.model_name": "wine-classifier",
            "mlflow.experiment": "wine",
        },
    )
    cache = REPO / ".mlci" / "cache"  # the wheelhouse, keyed by the lock's hash
    (root / ".mlci").mkdir(exist_ok=True)
    if cache.is_dir():
        (root / ".mlci" / "cache").symlink_to(cache)
    settings = load_settings(config, environ={})
    X, y = wine()
    case = fit("wine", hgb(X, max_iter=30, random_state=0), X, NAMES[y])
    classes = sorted(NAMES.tolist())
    exp = connect(settings)
    with mlflow.start_run(experiment_id=exp) as run:
        mlflow.log_metrics({"accuracy": 0.97, "f1_macro": 0.96})
        info = mlflow.sklearn.log_model(
            case.model,
            name="model",
            signature=mlflow.models.infer_signature(X, case.model.predict(X)),
            input_example=X,  # the parity rows: no dataset version of this project holds them
            serialization_format="skops",
            skops_trusted_types=TRUSTED_TYPES,
            metadata={
                "mlci": {
                    "task": "multiclass",
                    "classes": classes,
                    "positive_class": None,
                    "target": "cultivar",
                }
            },
        )
    reg = ModelRegistry(settings)
    v = reg.register(info.model_uri, run.info.run_id, {T.APPROVAL_STATUS: "pending"})
    return settings, v.version, case


@pytest.fixture(scope="module")
def wine_image(wine_version, docker_client):
    from ml.image.build import build_model_image

    settings, version, _ = wine_version
    result = build_model_image(settings, None, version)
    yield result
    docker_client.images.remove(result.image, force=True)


@pytest.fixture(scope="module")
def wine_container(wine_image, docker_client):
    port = free_port()
    c = docker_client.containers.run(
        wine_image.image,
        detach=True,
        name=f"mlcitest-wine-{uuid.uuid4().hex[:8]}",
        ports={"8080/tcp": ("127.0.0.1", port)},
        environment={"MLCI_SERVE_WORKERS": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if requests.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"container never became ready:\n{c.logs().decode()}")
            time.sleep(0.3)
        yield base
    finally:
        c.remove(force=True)


def test_multiclass_image_is_onnx_and_labelled_with_its_task(wine_image, docker_client):
    assert (wine_image.task, wine_image.runtime) == ("multiclass", "onnx"), wine_image
    assert wine_image.parity["label_agreement"] == 1.0
    assert wine_image.parity["max_abs_diff"] < 1e-5
    labels = docker_client.images.get(wine_image.image).labels
    assert labels[L.MODEL_TASK] == "multiclass"
    assert labels[L.RUNTIME] == "onnx"
    assert labels[L.METRIC_PREFIX + "f1_macro"] == "0.96"
    assert wine_image.added_bytes <= 150e6, wine_image.added_bytes
    size, added = wine_image.size_bytes / 1e6, wine_image.added_bytes / 1e6
    print(f"\n{wine_image.image}: {size:.1f} MB, {added:.1f} MB over the base")


def test_container_answers_in_the_users_class_names(wine_container, wine_version):
    _, _, case = wine_version
    X = case.X.sample(25, random_state=1)
    rows = X.astype(object).where(X.notna(), None).to_dict(orient="records")
    meta = requests.get(f"{wine_container}/metadata").json()
    assert (meta["task"], meta["classes"]) == ("multiclass", ["barbera", "barolo", "grignolino"])
    out = requests.post(f"{wine_container}/predict", json=rows).json()
    assert out["predictions"] == case.model.predict(X).tolist()
    assert set(out["predictions"]) == {"barbera", "barolo", "grignolino"}
    assert out["classes"] == meta["classes"]
    assert np.abs(np.array(out["probabilities"]) - case.model.predict_proba(X)).max() < 1e-5
    inv = requests.post(f"{wine_container}/invocations", json={"dataframe_records": rows})
    assert inv.json() == {"predictions": out["predictions"]}
