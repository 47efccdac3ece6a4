"""Every task through the bundle compiler and the serving app, in-process (no Docker).

Binary with word labels, multiclass with integer and named classes, regression; tree, linear
and margin-only estimators. Each model is compiled (ONNX + parity check, or the scikit-learn
fallback with its reason), served by the ASGI app, and its answers compared with scikit-learn's
own on the same rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from ml.serve.app import create_app
from ml.serve.compile import PROBA_TOLERANCE, build_bundle, check_parity, resolve_task
from ml.serve.predictor import TaskSpec
from tests.image.tasks import Case, all_cases, diabetes, fit, forest, hgb, linear, wine

pytestmark = pytest.mark.slow

META = {"model": {"name": "m", "version": "3", "run_id": "r"}, "metrics": {}}


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    return all_cases()


@pytest.fixture(scope="module")
def bundles(cases, tmp_path_factory) -> dict[tuple[str, str], tuple[Path, object]]:
    root = tmp_path_factory.mktemp("task-bundles")
    out = {}
    for name, case in cases.items():
        for runtime in ("auto", "sklearn"):
            folder = root / f"{name}-{runtime}"
            report = build_bundle(
                case.model, case.inputs, folder, META, case.X, runtime, declared=case.declared
            )
            out[name, runtime] = (folder, report)
    return out


def _rows(case: Case, n: int = 40) -> list[dict]:
    """Request rows with exact floats (pandas' to_json rounds to 10 digits, which can move a
    value across a tree threshold); null for missing."""
    head = case.X.head(n).astype(object)
    return json.loads(json.dumps(head.where(head.notna(), None).to_dict(orient="records")))


CASE_NAMES = [
    "binary-str-hgb",
    "binary-bool-logreg",
    "multiclass-int-hgb",
    "multiclass-str-logreg",
    "multiclass-str-svc",
    "regression-hgb",
    "regression-forest",
    "regression-linear",
]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_every_task_compiles_to_onnx_with_parity(name, cases, bundles):
    case = cases[name]
    folder, report = bundles[name, "auto"]
    assert report.runtime == "onnx", report.reason
    parity = report.parity
    assert parity.passed and parity.rows == len(case.X)
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["runtime"]["name"] == "onnx"
    if name.startswith("regression"):
        assert (meta["task"], meta["classes"], meta["positive_class"]) == ("regression", None, None)
        assert parity.compared == "values" and parity.label_agreement is None
        assert parity.max_rel_diff <= PROBA_TOLERANCE
    else:
        classes = np.unique(case.y).tolist()
        assert meta["task"] == ("binary" if len(classes) == 2 else "multiclass")
        assert meta["classes"] == classes  # the user's values, JSON-native (str, int, bool)
        assert [type(c) for c in meta["classes"]] == [type(c) for c in classes]
        assert parity.label_agreement == 1.0 and parity.label_mismatches == 0
        if name.endswith("svc"):  # no predict_proba: labels are all there is to compare
            assert parity.compared == "labels" and meta["probabilities"] is False
        else:
            assert parity.compared == "probabilities"
            assert parity.max_abs_diff <= PROBA_TOLERANCE


def test_declared_positive_class_is_kept(bundles):
    meta = json.loads((bundles["binary-str-hgb", "auto"][0] / "metadata.json").read_text())
    assert meta["positive_class"] == "malignant"
    meta = json.loads((bundles["binary-bool-logreg", "auto"][0] / "metadata.json").read_text())
    assert meta["positive_class"] is True  # inferred: classes_[1], as scikit-learn scores it


@pytest.mark.parametrize("runtime", ["auto", "sklearn"])
@pytest.mark.parametrize("name", CASE_NAMES)
def test_served_answers_are_the_models_in_the_users_values(name, runtime, cases, bundles):
    case = cases[name]
    folder, _ = bundles[name, runtime]
    rows = _rows(case)
    X = case.X.head(len(rows))
    with TestClient(create_app(folder)) as client:
        out = client.post("/predict", json=rows).json()
        inv = client.post("/invocations", json={"dataframe_records": rows}).json()
        meta = client.get("/metadata").json()
    want = [v.item() if hasattr(v, "item") else v for v in case.model.predict(X)]
    assert inv == {"predictions": out["predictions"]}
    if name.startswith("regression"):
        assert set(out) == {"predictions"} and meta["task"] == "regression"
        got = np.array(out["predictions"])
        assert all(type(v) is float for v in out["predictions"])
        assert np.all(np.abs(got - want) <= PROBA_TOLERANCE * np.maximum(1, np.abs(want)))
        return
    assert out["predictions"] == want
    assert [type(v) for v in out["predictions"]] == [type(v) for v in want]
    assert meta["classes"] == np.unique(case.y).tolist()
    if name.endswith("svc"):
        assert set(out) == {"predictions"}
        return
    assert out["classes"] == meta["classes"]
    proba = case.model.predict_proba(X)
    assert np.abs(np.array(out["probabilities"]) - proba).max() < 1e-5


def test_binary_word_labels_keep_todays_response_shape(cases, bundles):
    """The fields existing clients read, with the words the user trained on."""
    with TestClient(create_app(bundles["binary-str-hgb", "auto"][0])) as client:
        out = client.post("/predict", json={"records": _rows(cases["binary-str-hgb"], 3)}).json()
        meta = client.get("/metadata").json()
    assert set(out) == {"predictions", "probabilities", "classes"}
    assert out["classes"] == ["benign", "malignant"]
    assert set(out["predictions"]) <= {"benign", "malignant"}
    assert all(len(p) == 2 and abs(sum(p) - 1) < 1e-6 for p in out["probabilities"])
    assert (meta["task"], meta["positive_class"]) == ("binary", "malignant")


def test_input_validation_is_the_same_for_every_task(cases, bundles):
    case = cases["regression-hgb"]
    row = _rows(case, 1)[0]
    with TestClient(create_app(bundles["regression-hgb", "auto"][0])) as client:
        bad = client.post("/predict", json=[{**row, "sex": 1}])
        missing = client.post("/invocations", json={"dataframe_records": [{"age": 0.1}]})
    assert bad.status_code == 422
    assert bad.json()["message"] == "column 'sex' (row 0): expected string, got integer 1"
    assert missing.status_code == 422 and missing.json()["field"] == "sex"


def test_unconvertible_model_falls_back_to_sklearn_and_says_why(tmp_path):
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import LinearRegression

    X, y = diabetes()
    est = TransformedTargetRegressor(LinearRegression(), func=np.log, inverse_func=np.exp)
    case = fit("ttr", linear(X, est), X, y)
    report = build_bundle(case.model, case.inputs, tmp_path / "b", META, X)
    assert report.runtime == "sklearn"
    assert report.reason.startswith("skl2onnx could not convert the model: MissingShapeCalculator")
    meta = json.loads((tmp_path / "b" / "metadata.json").read_text())
    assert (meta["task"], meta["runtime"]["name"]) == ("regression", "sklearn")
    assert meta["runtime"]["reason"] == report.reason
    with TestClient(create_app(tmp_path / "b")) as client:
        got = client.post("/predict", json=_rows(case, 5)).json()["predictions"]
    assert np.allclose(got, case.model.predict(X.head(5)), rtol=0, atol=1e-9)


def test_parity_check_refuses_a_graph_that_disagrees(cases, bundles):
    """The ONNX graph of one model checked against another: labels and values differ."""
    from sklearn.svm import LinearSVC

    from ml.serve.schema import InputSchema

    w = cases["multiclass-int-hgb"]
    shuffled = np.random.default_rng(0).permutation(w.y)
    other = fit("other", linear(w.X, LinearSVC()), w.X, shuffled)
    onnx = bundles["multiclass-int-hgb", "auto"][0] / "model.onnx"
    task = resolve_task(other.model)
    report = check_parity(other.model, onnx, InputSchema.from_json(w.inputs), w.X, task=task)
    assert not report.passed and report.label_mismatches > 0

    d = cases["regression-hgb"]
    shifted = fit("short", hgb(d.X, regression=True, max_iter=5), d.X, d.y).model
    onnx = bundles["regression-hgb", "auto"][0] / "model.onnx"
    schema = InputSchema.from_json(d.inputs)
    report = check_parity(shifted, onnx, schema, d.X, task=resolve_task(shifted))
    assert not report.passed and report.max_rel_diff > PROBA_TOLERANCE


def test_declared_task_must_match_the_model(cases):
    b, d = cases["binary-str-hgb"], cases["regression-hgb"]
    with pytest.raises(ValueError, match="lists classes \\['no', 'yes'\\] but the fitted model"):
        resolve_task(b.model, {"task": "binary", "classes": ["no", "yes"]})
    with pytest.raises(ValueError, match="positive_class 'yes' is not among the classes"):
        resolve_task(b.model, {"task": "binary", "positive_class": "yes"})
    with pytest.raises(ValueError, match="task 'regression' but the fitted model is a classifier"):
        resolve_task(b.model, {"task": "regression"})
    with pytest.raises(ValueError, match="task 'multiclass' but the fitted model is not a class"):
        resolve_task(d.model, {"task": "multiclass"})
    with pytest.raises(ValueError, match="task 'binary' but the model has 3 classes"):
        resolve_task(cases["multiclass-int-hgb"].model, {"task": "binary"})
    # models logged before tasks: inferred from the estimator
    assert resolve_task(b.model) == TaskSpec("binary", ["benign", "malignant"], "malignant", True)
    assert resolve_task(d.model) == TaskSpec("regression", None, None, False)


def test_bundles_from_before_tasks_read_as_binary():
    """metadata.json written by the previous compiler: classes [0, 1], no task fields."""
    spec = TaskSpec.from_metadata({"classes": [0, 1], "inputs": []})
    assert spec == TaskSpec("binary", [0, 1], 1, True)
    assert TaskSpec.from_metadata({"classes": None}).task == "regression"
    with pytest.raises(ValueError, match="task must be one of"):
        TaskSpec.from_metadata({"task": "ranking", "classes": None})


def test_wine_named_classes_unseen_category_and_nulls(tmp_path):
    """A category never seen in training and a null numeric are scored like scikit-learn."""
    X, y = wine()
    names = np.array(["barolo", "grignolino", "barbera"], dtype=object)[y]
    case = fit("w", hgb(X, max_iter=20), X, names)
    build_bundle(case.model, case.inputs, tmp_path / "b", META, X)
    row = {**_rows(case, 1)[0], "hue_band": "violet", "alcohol": None}
    frame = X.head(1).copy()
    frame["hue_band"], frame["alcohol"] = "violet", np.nan
    with TestClient(create_app(tmp_path / "b")) as client:
        out = client.post("/predict", json=[row]).json()
    assert out["predictions"] == case.model.predict(frame).tolist()
    assert np.abs(np.array(out["probabilities"]) - case.model.predict_proba(frame)).max() < 1e-5


def test_regression_split_finer_than_float32_falls_back_to_sklearn(tmp_path):
    """The ONNX graph reads float32 inputs: two values 1e-10 apart are one value there. When the
    model splits between them, parity fails and the image serves scikit-learn, saying why."""
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    near = 0.1 + rng.integers(0, 2, 400) * 1e-10  # distinct in float64, equal in float32
    X = pd.DataFrame({"x": near, "noise": rng.normal(size=400)})
    y = np.where(near > 0.1, 300.0, 100.0)
    case = fit("f32", forest(X, HistGradientBoostingRegressor(max_iter=20)), X, y)
    assert np.ptp(case.model.predict(X)) > 100  # scikit-learn tells the two values apart
    report = build_bundle(case.model, case.inputs, tmp_path / "b", META, X)
    assert report.runtime == "sklearn"
    assert report.reason.startswith("ONNX parity failed: max |y_onnx - y_sklearn| / max(1, |y")
    assert report.parity.max_rel_diff > 0.1
    meta = json.loads((tmp_path / "b" / "metadata.json").read_text())
    assert meta["runtime"]["parity"]["passed"] is False
