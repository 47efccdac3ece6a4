"""The deploy smoke check per task, against the real model server (uvicorn, on a free port).

Samples are recorded the way `mlci evaluate` records them (contracts.md layout: task, classes,
per-sample prediction and class probabilities) from real scikit-learn models; the server scores
the ONNX bundle of the same model. A wrong recorded label, probability or value fails, naming
the sample and its id; differences within the tolerance pass.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ml.deploy.smoke import CheckFailure, check_predictions, load_samples
from ml.errors import InputError
from ml.serve.app import create_app
from ml.serve.compile import build_bundle
from tests.fixtures.mlflow_server import free_port
from tests.image.tasks import breast_cancer, diabetes, fit, hgb, wine

pytestmark = pytest.mark.slow

TOL = 1e-4
N = 12


def _native(v):
    return v.item() if hasattr(v, "item") else v


def record(case, task: str, positive=None) -> dict:
    """smoke_samples.json as `mlci evaluate` writes it (contracts.md)."""
    X = case.X.head(N)
    feats = X.astype(object).where(X.notna(), None).to_dict(orient="records")
    preds = [_native(v) for v in case.model.predict(X)]
    classes = None
    proba = None
    if task != "regression":
        classes = [_native(c) for c in case.model.classes_]
        proba = case.model.predict_proba(X)
    samples = []
    for i in range(N):
        s = {
            "id": f"P{i:04d}",
            "features": json.loads(json.dumps(feats[i])),
            "label": _native(case.y[i]),
            "prediction": preds[i],
        }
        if proba is not None:
            s["probabilities"] = proba[i].tolist()
        if task == "binary":
            s["probability"] = float(proba[i][classes.index(positive)])
        samples.append(s)
    return {"run_id": "r", "model_uri": "runs:/r/model", "task": task, "classes": classes,
            "samples": samples}  # fmt: skip


class Served:
    """A bundle served by uvicorn in a thread."""

    def __init__(self, folder: Path) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            create_app(folder), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"model server on port {self.port} did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """task -> (server, recorded samples doc) for word-label binary, multiclass, regression."""
    root = tmp_path_factory.mktemp("smoke")
    Xb, yb = breast_cancer()
    Xw, yw = wine()
    Xd, yd = diabetes()
    cases = {
        "binary": (fit("b", hgb(Xb, max_iter=30), Xb, yb), "malignant"),
        "multiclass": (fit("m", hgb(Xw, max_iter=30), Xw, yw), None),
        "regression": (fit("r", hgb(Xd, regression=True, max_iter=40), Xd, yd), None),
    }
    out = {}
    for task, (case, positive) in cases.items():
        declared = {"task": task, "positive_class": positive}
        report = build_bundle(case.model, case.inputs, root / task, {}, case.X, declared=declared)
        assert report.runtime == "onnx", report.reason
        out[task] = (Served(root / task), record(case, task, positive))
    yield out
    for server, _ in out.values():
        server.stop()


def _check(tmp_path: Path, server: Served, doc: dict) -> dict:
    path = tmp_path / "smoke_samples.json"
    path.write_text(json.dumps(doc))
    return check_predictions(server.url, load_samples(path, 20), TOL, 10)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_recorded_samples_pass_per_task(task, served, tmp_path):
    server, doc = served[task]
    result = _check(tmp_path, server, doc)
    assert result["samples"] == N and result["task"] == task
    assert result["compared"] == ("predictions" if task == "regression" else "probabilities")
    assert result["max_diff"] == result["max_probability_diff"]
    # float32 ONNX vs float64 scikit-learn: ~1e-7 on probabilities, ~1e-5 on values of ~150
    assert 0 < result["max_diff"] < (1e-3 if task == "regression" else 1e-5)


def test_a_wrong_label_fails_naming_the_sample(served, tmp_path):
    server, doc = served["binary"]
    doc = copy.deepcopy(doc)
    s = doc["samples"][3]
    flipped = "benign" if s["prediction"] == "malignant" else "malignant"
    s["prediction"] = flipped
    with pytest.raises(CheckFailure) as err:
        _check(tmp_path, server, doc)
    assert err.value.check == "smoke"
    other = "malignant" if flipped == "benign" else "benign"
    assert err.value.detail == f"sample 3: predicted '{other}', recorded '{flipped}' (id 'P0003')"


def test_a_label_of_another_kind_fails(served, tmp_path):
    """Recorded "2" (text) is not the served 2: the user's label types are part of the answer."""
    server, doc = served["multiclass"]
    doc = copy.deepcopy(doc)
    doc["samples"][0]["prediction"] = str(doc["samples"][0]["prediction"])
    with pytest.raises(CheckFailure, match=r"sample 0: predicted \d, recorded '\d' \(id 'P0000'\)"):
        _check(tmp_path, server, doc)


def test_a_class_probability_off_by_more_than_the_tolerance_fails(served, tmp_path):
    server, doc = served["multiclass"]
    doc = copy.deepcopy(doc)
    probs = doc["samples"][5]["probabilities"]
    probs[2] = probs[2] + 3 * TOL
    with pytest.raises(CheckFailure) as err:
        _check(tmp_path, server, doc)
    assert err.value.detail.startswith("sample 5: probability of class 2 ")
    assert err.value.detail.endswith("> tolerance 0.0001 (id 'P0005')")


def test_classes_are_matched_by_value_not_position(served, tmp_path):
    server, doc = served["binary"]
    doc = copy.deepcopy(doc)
    doc["classes"] = doc["classes"][::-1]
    for s in doc["samples"]:
        s["probabilities"] = s["probabilities"][::-1]
    assert _check(tmp_path, server, doc)["max_diff"] < 1e-5
    doc["classes"] = ["no", "yes"]
    with pytest.raises(CheckFailure, match=r"serves classes \['benign', 'malignant'\], recorded"):
        _check(tmp_path, server, doc)


def test_regression_tolerance_is_relative_above_one(served, tmp_path):
    server, doc = served["regression"]
    doc = copy.deepcopy(doc)
    values = [s["prediction"] for s in doc["samples"]]
    assert min(values) > 10  # diabetes progression: abs diffs exceed 1e-4, relative ones do not
    for s in doc["samples"]:
        s["prediction"] *= 1 + TOL / 2
    assert _check(tmp_path, server, doc)["max_diff"] > TOL  # absolute, yet within relative
    doc["samples"][7]["prediction"] *= 1 + 3 * TOL
    with pytest.raises(CheckFailure) as err:
        _check(tmp_path, server, doc)
    assert err.value.detail.startswith("sample 7: predicted ")
    assert "> tolerance 0.0001 x max(1, |recorded|)" in err.value.detail
    assert err.value.detail.endswith("(id 'P0007')")


def test_the_layout_before_tasks_still_works(served, tmp_path):
    """No `task`, P(positive) as `probability`: compared as the deploy check always did."""
    server, doc = served["binary"]
    old = {
        "run_id": "r",
        "samples": [
            {k: v for k, v in s.items() if k not in ("probabilities",)} for s in doc["samples"]
        ],
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    samples = load_samples(path, 20)
    assert samples.task is None and samples.class_probabilities is None
    # without `task` the positive class is guessed as today (1/true/yes, else the last class):
    # "malignant" sorts last, so P(malignant) is compared
    result = check_predictions(server.url, samples, TOL, 10)
    assert result["compared"] == "probabilities" and result["max_diff"] < 1e-5
    np.testing.assert_allclose(samples.probabilities, [s["probability"] for s in doc["samples"]])


def test_malformed_task_layout_names_the_sample(tmp_path, served):
    _, doc = served["multiclass"]
    doc = copy.deepcopy(doc)
    doc["samples"][2]["probabilities"] = [0.5, 0.5]
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=r"samples\[2\].probabilities must hold one value per"):
        load_samples(path, 20)
    path.write_text(json.dumps({**doc, "task": "ranking"}))
    with pytest.raises(InputError, match="task must be one of binary, multiclass, regression"):
        load_samples(path, 20)
    path.write_text(json.dumps({**doc, "classes": None}))
    with pytest.raises(InputError, match="a multiclass sample file needs 'classes'"):
        load_samples(path, 20)
