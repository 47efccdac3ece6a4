"""The checks a new container passes before it gets traffic: ready, right version, same answers.

The recorded inputs are `smoke_samples.json`, written by `mlci evaluate` (held-out rows and the
model's predictions at evaluation time) and logged as an artifact of the model version's run.
The served model must return what was recorded, per task (`smoke.tolerance` = tol):

- classification: the same label, in the user's values and type ("yes" is not True, 1 is not
  "1"), except on a near-tie (the recorded top two class probabilities within tol); every
  class probability within tol (classes matched by value, so their order may differ);
- regression: |served - recorded| <= tol x max(1, |recorded|): absolute for values up to 1,
  relative above (float32 ONNX trees carry ~1e-7 relative error on any scale).

`/metadata` must name the version being deployed. The layout before tasks (binary 0/1 labels,
"probability" = P(1) per sample, no "task") is read as before.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from ml.errors import InputError

INPUT_KEYS = ("inputs", "records", "rows", "instances")
ROW_INPUT_KEYS = ("input", "inputs", "features", "record")
TASKS = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class SmokeSamples:
    """Recorded inputs and what the model answered at evaluation time.

    `task` is None for the layout before tasks; `class_probabilities` rows align with
    `classes`; `probabilities` is P(positive class) (binary only)."""

    inputs: list[dict[str, Any]]
    predictions: list[Any]
    probabilities: list[float] | None
    source: str
    task: str | None = None
    classes: list[Any] | None = None
    class_probabilities: list[list[float]] | None = None
    ids: list[Any] | None = None
    positive_class: Any = None


class CheckFailure(Exception):
    """One named deploy check did not pass (carried to DeployFailed with its name)."""

    def __init__(self, check: str, detail: str) -> None:
        super().__init__(f"{check}: {detail}")
        self.check = check
        self.detail = detail


def _task_layout(path: Path, doc: dict[str, Any], limit: int) -> SmokeSamples:
    """`{"task", "classes", "samples": [{"id", "features", "label", "prediction",
    "probabilities"?, "probability"?}]}` (contracts.md; written by `mlci evaluate`)."""
    task, classes, rows = doc["task"], doc.get("classes"), doc["samples"]
    if task not in TASKS:
        raise InputError(f"{path}: task must be one of {', '.join(TASKS)}, got {task!r}")
    if task != "regression" and (not isinstance(classes, list) or len(classes) < 2):
        raise InputError(f"{path}: a {task} sample file needs 'classes' (a list of labels)")
    if not rows:
        raise InputError(f"{path}: 'samples' is empty; re-run `mlci evaluate`")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("features"), dict):
            raise InputError(f"{path}: samples[{i}] needs 'features' (an object)")
        if "prediction" not in row:
            raise InputError(f"{path}: samples[{i}] has no 'prediction'")
        probs = row.get("probabilities")
        if probs is not None and (not isinstance(probs, list) or len(probs) != len(classes)):
            raise InputError(
                f"{path}: samples[{i}].probabilities must hold one value per class "
                f"({len(classes or [])} classes)"
            )
    rows = rows[:limit]
    full = all(r.get("probabilities") is not None for r in rows) and task != "regression"
    positive = all(r.get("probability") is not None for r in rows) and task == "binary"
    return SmokeSamples(
        inputs=[r["features"] for r in rows],
        predictions=[r["prediction"] for r in rows],
        probabilities=[float(r["probability"]) for r in rows] if positive else None,
        source=str(path),
        task=task,
        classes=classes if task != "regression" else None,
        class_probabilities=[[float(p) for p in r["probabilities"]] for r in rows]
        if full
        else None,
        ids=[r.get("id") for r in rows],
        positive_class=doc.get("positive_class"),
    )


def load_samples(path: Path, limit: int) -> SmokeSamples:
    """Read smoke_samples.json: the task layout, or (before tasks) columns of lists or a list
    of row objects."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read the smoke samples ({e})") from None
    inputs: list[dict[str, Any]]
    probs: list[float] | None
    ids: list[Any] | None = None
    if isinstance(doc, dict) and isinstance(doc.get("samples"), list):
        if "task" in doc:
            return _task_layout(path, doc, limit)
        doc = doc["samples"]  # mlci evaluate: {"run_id", "model_uri", "samples": [rows]}
    if isinstance(doc, dict):
        key = next((k for k in INPUT_KEYS if k in doc), None)
        if key is None or "predictions" not in doc:
            raise InputError(
                f"{path}: expected keys {'/'.join(INPUT_KEYS)} and 'predictions' "
                f"(found {sorted(doc)}); re-run `mlci evaluate` to record samples"
            )
        inputs, preds = list(doc[key]), list(doc["predictions"])
        probs = doc.get("probabilities")
    elif isinstance(doc, list) and doc and isinstance(doc[0], dict):
        key = next((k for k in ROW_INPUT_KEYS if k in doc[0]), None)
        if key is None:
            raise InputError(f"{path}: rows need one of {ROW_INPUT_KEYS} and 'prediction'")
        inputs = [r[key] for r in doc]
        preds = [r.get("prediction") for r in doc]
        probs = [r["probability"] for r in doc] if "probability" in doc[0] else None
        ids = [r.get("id") for r in doc][:limit]
    else:
        raise InputError(f"{path}: expected an object or a non-empty list of rows")
    if not inputs or len(inputs) != len(preds) or (probs is not None and len(probs) != len(preds)):
        raise InputError(f"{path}: inputs, predictions and probabilities differ in length")
    return SmokeSamples(
        inputs=inputs[:limit],
        predictions=preds[:limit],
        probabilities=None if probs is None else [float(p) for p in probs[:limit]],
        source=str(path),
        ids=ids,
    )


def wait_ready(base_url: str, timeout: float, container: Any | None = None) -> float:
    """Poll GET /ready until 200; return the seconds it took. Fails fast if the container dies."""
    start = time.monotonic()
    last = "no answer yet"
    while time.monotonic() - start < timeout:
        if container is not None:
            container.reload()
            if container.status in ("exited", "dead"):
                raise CheckFailure("ready", f"container exited ({container.status}) before /ready")
        try:
            r = requests.get(f"{base_url}/ready", timeout=2)
            if r.status_code == 200:
                return time.monotonic() - start
            last = f"HTTP {r.status_code}"
        except requests.RequestException as e:
            last = e.__class__.__name__
        time.sleep(0.25)
    raise CheckFailure("ready", f"GET {base_url}/ready not 200 within {timeout:g}s (last: {last})")


def served_version(metadata: dict[str, Any]) -> str | None:
    """The model version named by /metadata: `model.version` (mlci images), else top level."""
    model = metadata.get("model")
    nodes = [model] if isinstance(model, dict) else []
    for node in [*nodes, metadata]:
        for key in ("version", "model_version"):
            if node.get(key) is not None:
                return str(node[key])
    return None


def check_metadata(base_url: str, name: str, version: str, timeout: float) -> dict[str, Any]:
    try:
        r = requests.get(f"{base_url}/metadata", timeout=timeout)
        r.raise_for_status()
        meta = r.json()
    except (requests.RequestException, ValueError) as e:
        raise CheckFailure("metadata", f"GET {base_url}/metadata failed: {e}") from None
    got = served_version(meta)
    if got != str(version):
        raise CheckFailure(
            "metadata", f"/metadata names version {got!r}, expected {version!r} of {name}"
        )
    return meta


def _predict(base_url: str, rows: list[dict[str, Any]], timeout: float) -> dict[str, Any]:
    try:
        r = requests.post(f"{base_url}/predict", json={"records": rows}, timeout=timeout)
    except requests.RequestException as e:
        raise CheckFailure("predict", f"POST {base_url}/predict failed: {e}") from None
    if r.status_code != 200:
        raise CheckFailure(
            "predict", f"POST {base_url}/predict returned HTTP {r.status_code}: {r.text[:200]}"
        )
    try:
        return r.json()
    except ValueError:
        raise CheckFailure("predict", f"POST {base_url}/predict returned non-JSON") from None


def _positive_index(classes: Any, positive: Any = None) -> int:
    """Where P(positive class) sits in a row of class probabilities (the last by default)."""
    if isinstance(classes, list):
        if positive is not None:
            for i, c in enumerate(classes):
                if same_label(c, positive):
                    return i
        for i, c in enumerate(classes):
            if str(c).lower() in ("1", "true", "yes"):
                return i
    return -1


def same_label(a: Any, b: Any) -> bool:
    """Labels are equal in value and kind: a bool only equals a bool, a string a string, and
    numbers compare by value (1 == 1.0)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _sample_name(samples: SmokeSamples, i: int) -> str:
    ident = samples.ids[i] if samples.ids and i < len(samples.ids) else None
    return f" (id {ident!r})" if ident is not None else ""


def _check_labels(
    preds: list[Any], samples: SmokeSamples, tolerance: float, near_tie: list[bool]
) -> None:
    loose = samples.task is None  # before tasks: 0/1 labels compared as text, as always
    for i, (got, want) in enumerate(zip(preds, samples.predictions, strict=True)):
        equal = str(got) == str(want) if loose else same_label(got, want)
        if not equal and not near_tie[i]:
            raise CheckFailure(
                "smoke",
                f"sample {i}: predicted {got!r}, recorded {want!r}{_sample_name(samples, i)}",
            )


def _check_regression(preds: list[Any], samples: SmokeSamples, tolerance: float) -> float:
    max_diff = 0.0
    for i, (got, want) in enumerate(zip(preds, samples.predictions, strict=True)):
        where = _sample_name(samples, i)
        if isinstance(got, bool) or not isinstance(got, int | float) or not math.isfinite(got):
            raise CheckFailure("smoke", f"sample {i}: predicted {got!r}, not a number{where}")
        diff = abs(float(got) - float(want))
        max_diff = max(max_diff, diff)
        bound = tolerance * max(1.0, abs(float(want)))
        if diff > bound:
            raise CheckFailure(
                "smoke",
                f"sample {i}: predicted {float(got):.6g}, recorded {float(want):.6g}: differs "
                f"by {diff:.2e} > tolerance {tolerance:g} x max(1, |recorded|) = "
                f"{bound:.2e}{where}",
            )
    return max_diff


def _check_class_probabilities(
    out: dict[str, Any], samples: SmokeSamples, tolerance: float
) -> float:
    probs, served = out.get("probabilities"), out.get("classes")
    recorded = samples.class_probabilities or []
    if not isinstance(probs, list) or len(probs) != len(recorded):
        raise CheckFailure("smoke", "/predict returned no class probabilities to compare")
    classes = samples.classes or []
    if not isinstance(served, list) or len(served) != len(classes):
        raise CheckFailure("smoke", f"/predict serves classes {served!r}, recorded {classes!r}")
    index = []
    for c in classes:
        j = next((j for j, s in enumerate(served) if same_label(s, c)), None)
        if j is None:
            raise CheckFailure(
                "smoke", f"/predict serves classes {served!r}, recorded {classes!r} (no {c!r})"
            )
        index.append(j)
    max_diff = 0.0
    for i, (got, want) in enumerate(zip(probs, recorded, strict=True)):
        if not isinstance(got, list) or len(got) != len(served):
            raise CheckFailure("smoke", f"sample {i}: /predict returned {got!r} as probabilities")
        for c, j, p in zip(classes, index, want, strict=True):
            diff = abs(float(got[j]) - p)
            max_diff = max(max_diff, diff)
            if diff > tolerance:
                raise CheckFailure(
                    "smoke",
                    f"sample {i}: probability of class {c!r} {float(got[j]):.6f} differs from "
                    f"recorded {p:.6f} by {diff:.2e} > tolerance {tolerance:g}"
                    f"{_sample_name(samples, i)}",
                )
    return max_diff


def _check_positive_probability(
    out: dict[str, Any], samples: SmokeSamples, tolerance: float
) -> float:
    probs = out.get("probabilities")
    recorded = samples.probabilities or []
    if not isinstance(probs, list) or len(probs) != len(recorded):
        raise CheckFailure("smoke", "/predict returned no probabilities to compare")
    positive = _positive_index(out.get("classes"), samples.positive_class)
    max_diff = 0.0
    for i, (got, want) in enumerate(zip(probs, recorded, strict=True)):
        value = got[positive] if isinstance(got, list) else got
        diff = abs(float(value) - want)
        max_diff = max(max_diff, diff)
        if diff > tolerance:
            raise CheckFailure(
                "smoke",
                f"sample {i}: probability {float(value):.6f} differs from recorded "
                f"{want:.6f} by {diff:.2e} > tolerance {tolerance:g}{_sample_name(samples, i)}",
            )
    return max_diff


def check_predictions(
    base_url: str, samples: SmokeSamples, tolerance: float, timeout: float
) -> dict[str, Any]:
    """Replay the recorded inputs and compare per task (see the module docstring).

    Returns the sample count, the task and `max_diff` (of the probabilities, or of the
    predictions for regression; also under its older name `max_probability_diff`)."""
    out = _predict(base_url, samples.inputs, timeout)
    preds = out.get("predictions")
    if not isinstance(preds, list) or len(preds) != len(samples.inputs):
        raise CheckFailure(
            "smoke",
            f"/predict returned {len(preds or [])} predictions for {len(samples.inputs)} inputs",
        )
    task = samples.task or "binary"
    if task == "regression":
        max_diff = _check_regression(preds, samples, tolerance)
        compared = "predictions"
    else:
        if samples.class_probabilities is not None:
            near_tie = [_margin(p) <= tolerance for p in samples.class_probabilities]
        elif samples.probabilities is not None:
            near_tie = [abs(p - 0.5) <= tolerance for p in samples.probabilities]
        else:
            near_tie = [False] * len(preds)
        _check_labels(preds, samples, tolerance, near_tie)
        if samples.class_probabilities is not None:
            max_diff = _check_class_probabilities(out, samples, tolerance)
            compared = "probabilities"
        elif samples.probabilities is not None:
            max_diff = _check_positive_probability(out, samples, tolerance)
            compared = "probabilities"
        else:
            max_diff, compared = 0.0, "labels"
    return {
        "samples": len(samples.inputs),
        "task": task,
        "compared": compared,
        "max_diff": max_diff,
        "max_probability_diff": max_diff,
    }


def _margin(probabilities: list[float]) -> float:
    """The gap between the two most probable classes (a near-tie may flip either way)."""
    top = sorted(probabilities)[-2:]
    return top[1] - top[0] if len(top) == 2 else 1.0
