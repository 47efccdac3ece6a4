"""The serving app in-process (no Docker): endpoints, the MLflow protocol, 4xx on bad input,
and the ONNX bundle's parity with scikit-learn."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from ml.config import load_settings
from ml.serve.app import create_app
from ml.serve.compile import build_bundle
from tests.conftest import REPO
from tests.image.helpers import ROW


@pytest.fixture(scope="module")
def trained():
    from mlflow.models import infer_signature

    from ml.data.dataset import read_frame, resolve_dataset
    from ml.train.model import build_pipeline, feature_frame

    settings = load_settings(REPO / "mlci.yaml", environ={"MLCI_TRAIN__PARAMS__MAX_ITER": "40"})
    frame = read_frame(resolve_dataset(settings), settings).head(3000)
    X = feature_frame(frame, settings)
    model = build_pipeline(settings).fit(X, frame[settings.data.target])
    inputs = infer_signature(X, model.predict(X)).inputs.to_dict()
    return model, inputs, X


@pytest.fixture(scope="module")
def bundles(trained, tmp_path_factory):
    model, inputs, X = trained
    root = tmp_path_factory.mktemp("bundles")
    meta = {"model": {"name": "churn", "version": "7", "run_id": "r1"}, "metrics": {"f1": 0.6}}
    onnx = build_bundle(model, inputs, root / "onnx", meta, X)
    sk = build_bundle(model, inputs, root / "sk", meta, X, runtime="sklearn")
    return {"onnx": (root / "onnx", onnx), "sklearn": (root / "sk", sk)}


@pytest.fixture(scope="module", params=["onnx", "sklearn"])
def client(request, bundles):
    with TestClient(create_app(bundles[request.param][0])) as c:
        yield c


def test_default_pipeline_compiles_to_onnx_with_parity(bundles):
    report = bundles["onnx"][1]
    assert report.runtime == "onnx", report.reason
    assert report.parity.rows == 2000
    assert report.parity.max_abs_diff < 1e-5
    assert report.parity.label_agreement == 1.0
    assert report.files == ["metadata.json", "model.onnx"]


def test_without_sample_rows_it_falls_back_and_says_why(trained, tmp_path):
    model, inputs, _ = trained
    report = build_bundle(model, inputs, tmp_path / "b", {}, None)
    assert report.runtime == "sklearn"
    assert report.reason == "no sample rows to verify ONNX parity against"
    meta = json.loads((tmp_path / "b" / "metadata.json").read_text())
    assert meta["runtime"]["name"] == "sklearn"
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["metadata.json", "model.joblib"]


def test_probe_endpoints(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ping").status_code == 200
    assert client.get("/ready").json() == {"status": "ready"}
    meta = client.get("/metadata").json()
    assert meta["model"] == {"name": "churn", "version": "7", "run_id": "r1"}
    assert meta["metrics"] == {"f1": 0.6}
    assert [c["name"] for c in meta["inputs"]][:2] == ["tenure_months", "monthly_charges"]


def test_predict_matches_sklearn(client, trained):
    model, _, X = trained
    rows = json.loads(X.head(20).to_json(orient="records"))
    out = client.post("/predict", json=rows).json()
    want = model.predict_proba(X.head(20))
    assert out["classes"] == [0, 1]
    assert out["predictions"] == model.predict(X.head(20)).tolist()
    assert np.abs(np.array(out["probabilities"]) - want).max() < 1e-5
    assert (
        client.post("/predict", json={"records": rows}).json()["predictions"] == out["predictions"]
    )
    assert (
        client.post("/predict", json={"instances": rows}).json()["predictions"]
        == out["predictions"]
    )


def test_invocations_speaks_every_mlflow_format(client):
    cols = list(ROW)
    bodies = [
        {"dataframe_split": {"columns": cols, "data": [[ROW[c] for c in cols]] * 2}},
        {"dataframe_records": [ROW, ROW]},
        {"instances": [ROW, ROW]},
        {"inputs": {c: [ROW[c], ROW[c]] for c in cols}},
        {"dataframe_records": [ROW, ROW], "params": {}},
    ]
    answers = [client.post("/invocations", json=b) for b in bodies]
    assert {a.status_code for a in answers} == {200}
    first = answers[0].json()
    assert set(first) == {"predictions"} and len(first["predictions"]) == 2
    assert all(a.json() == first for a in answers)


def test_null_numeric_is_missing_not_an_error(client):
    row = {**ROW, "total_charges": None}
    assert client.post("/invocations", json={"dataframe_records": [row]}).status_code == 200


def _err(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def test_missing_column_names_the_field(client):
    row = {k: v for k, v in ROW.items() if k != "contract"}
    body = _err(client.post("/invocations", json={"dataframe_records": [row]}), 422)
    assert body == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "field": "contract",
        "message": "dataframe_records[0]: missing required column 'contract' (string)",
    }
    split = {"columns": ["tenure_months"], "data": [[1.0]]}
    body = _err(client.post("/invocations", json={"dataframe_split": split}), 422)
    assert body["field"] == "monthly_charges"


def test_wrong_type_names_the_field(client):
    body = _err(client.post("/predict", json=[{**ROW, "tenure_months": "ten"}]), 422)
    assert body["field"] == "tenure_months"
    assert body["message"] == "column 'tenure_months' (row 0): expected double, got string 'ten'"
    body = _err(client.post("/predict", json=[{**ROW, "contract": 3}]), 422)
    assert body["message"] == "column 'contract' (row 0): expected string, got integer 3"
    body = _err(client.post("/predict", json=[{**ROW, "senior_citizen": True}]), 422)
    assert body["field"] == "senior_citizen"
    body = _err(client.post("/predict", json=[{**ROW, "contract": None}]), 422)
    assert body["message"] == "column 'contract' (row 0): null is not allowed for a string column"


def test_malformed_and_misshapen_requests_are_400(client):
    body = _err(
        client.post(
            "/invocations",
            content=b'{"dataframe_records": [',
            headers={"content-type": "application/json"},
        ),
        400,
    )
    assert body["error_code"] == "MALFORMED_REQUEST"
    assert body["message"].startswith("malformed JSON in request body")
    body = _err(client.post("/invocations", json={"rows": []}), 400)
    assert body["message"] == (
        "request body must have exactly one of the keys dataframe_split, "
        "dataframe_records, instances, inputs; got keys ['rows']"
    )
    _err(client.post("/invocations", json=[ROW]), 400)
    _err(client.post("/predict", json=[]), 400)
    _err(client.post("/predict", json=["x"]), 400)
    split = {"columns": list(ROW), "data": [[1.0]]}
    body = _err(client.post("/invocations", json={"dataframe_split": split}), 400)
    assert body["message"] == (
        "dataframe_split.data[0]: expected a list of 8 values (one per column), got 1 values"
    )
    _err(client.post("/predict", content=b"", headers={"content-type": "application/json"}), 400)


def test_oversized_body_is_413(client):
    big = b"[" + b" " * (2 << 20) + b"]"
    body = _err(
        client.post("/predict", content=big, headers={"content-type": "application/json"}), 413
    )
    assert body["field"] == "body"
    assert "exceeds the limit of 1048576 bytes" in body["message"]


def test_wrong_media_type_path_and_method(client):
    body = _err(
        client.post("/invocations", content=b"a,b\n1,2", headers={"content-type": "text/csv"}), 415
    )
    assert body["field"] == "content-type"
    _err(client.get("/nope"), 404)
    body = _err(client.get("/predict"), 405)
    assert body["message"] == "GET is not allowed on /predict; use POST"


def test_metrics_count_requests_and_rows(client):
    client.post("/invocations", json={"dataframe_records": [ROW, ROW, ROW]})
    client.get("/nope")
    text = client.get("/metrics").text
    assert 'mlci_http_requests_total{endpoint="invocations",status="200"}' in text
    assert 'mlci_http_requests_total{endpoint="other",status="404"}' in text
    assert "# TYPE mlci_request_duration_seconds histogram" in text
    assert 'mlci_model_info{name="churn",version="7",runtime="' in text
    rows = next(line for line in text.splitlines() if line.startswith("mlci_predictions_total"))
    assert int(rows.split()[1]) >= 3


def test_string_nulls_are_imputed_like_sklearn(bundles, trained):
    """A required string column refuses null, an optional one scores it like scikit-learn."""
    model, inputs, X = trained
    relaxed = [{**c, "required": c["required"] and c["name"] != "payment_method"} for c in inputs]
    folder = Path(bundles["onnx"][0]).parent / "relaxed"
    sample = X.head(500).copy()
    sample.loc[sample.index[:50], "payment_method"] = np.nan
    report = build_bundle(model, relaxed, folder, {}, sample)
    assert report.runtime == "onnx", report.reason
    with TestClient(create_app(folder)) as c:
        row = {**ROW, "payment_method": None}
        got = c.post("/predict", json=[row]).json()["probabilities"][0][1]
    frame = X.head(1).copy()
    for k, v in ROW.items():
        frame[k] = [math.nan if k == "payment_method" else v]
    assert abs(got - model.predict_proba(frame)[0, 1]) < 1e-5
