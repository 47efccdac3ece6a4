"""Turn a fitted scikit-learn model into a serving bundle, compiled to ONNX when that is safe.

The ONNX graph is accepted only when it reproduces scikit-learn on real rows (the parity check):
classification labels must be the same on every row (a row whose two most probable classes are
within the tolerance of each other is a near-tie and may go either way) and class probabilities
within PROBA_TOLERANCE; regression predictions within PROBA_TOLERANCE x max(1, |prediction|)
(absolute for small targets, relative for large ones). Otherwise the bundle carries the
scikit-learn model itself and says why in metadata.json. This runs at image build time on the
host, never in the serving image.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.serve.predictor import (
    METADATA_FILE,
    ONNX_FILE,
    SKLEARN_FILE,
    TASKS,
    OnnxPredictor,
    TaskSpec,
)
from ml.serve.schema import InputSchema

PARITY_ROWS = 2000
PROBA_TOLERANCE = 1e-4  # float32 trees vs float64 scikit-learn: observed ~4e-7


@dataclass
class ParityReport:
    """ONNX vs scikit-learn on `rows` rows. `compared`: probabilities, labels (a classifier
    without predict_proba) or values (regression). `max_abs_diff`: of probabilities or values;
    `max_rel_diff`: regression, |d| / max(1, |value|), the figure held to `tolerance`."""

    rows: int
    max_abs_diff: float
    label_agreement: float | None
    tolerance: float
    passed: bool
    compared: str = "probabilities"
    max_rel_diff: float | None = None
    near_ties: int = 0
    label_mismatches: int = 0


@dataclass
class BundleReport:
    """What was baked: which runtime, why, and the parity figures behind the choice."""

    runtime: str
    reason: str
    parity: ParityReport | None = None
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def _protobuf_bool_shim() -> Iterator[None]:
    """skl2onnx passes numpy/Python bools in repeated int attributes (tree node flags), which
    protobuf >= 6 rejects; cast them to int for the duration of one conversion."""
    import skl2onnx.common._container as container

    original = container.make_node

    def make_node(*args: Any, **attrs: Any) -> Any:
        for key, value in attrs.items():
            if isinstance(value, list | tuple) and any(
                isinstance(v, bool | np.bool_) for v in value
            ):
                attrs[key] = [int(v) for v in value]
        return original(*args, **attrs)

    container.make_node = make_node
    try:
        yield
    finally:
        container.make_node = original


def _string_imputers_on_empty(model: Any) -> Any:
    """A copy of `model` whose string SimpleImputers treat "" as missing instead of NaN.

    skl2onnx only converts string imputers with a string missing value; the server feeds a
    null string as "" to the ONNX graph, so the two are equivalent (the parity check verifies
    it on real rows, nulls included).
    """
    import copy

    from sklearn.impute import SimpleImputer

    clone = copy.deepcopy(model)
    stack = [clone]
    while stack:
        node = stack.pop()
        if isinstance(node, SimpleImputer):
            stats = getattr(node, "statistics_", None)
            missing = node.missing_values
            if (
                stats is not None
                and stats.dtype == object
                and isinstance(missing, float)
                and math.isnan(missing)
            ):
                node.missing_values = ""
            continue
        for attr in ("steps", "transformers_"):
            for item in getattr(node, attr, None) or []:
                stack.append(item[1])
        stack.extend(v for v in (getattr(node, "named_transformers_", None) or {}).values())
    return clone


def _native(value: Any) -> Any:
    """A numpy scalar as the JSON-native Python value (np.str_ -> str, np.int64 -> int...)."""
    return value.item() if isinstance(value, np.generic) else value


def resolve_task(model: Any, declared: dict[str, Any] | None = None) -> TaskSpec:
    """The task from the model's `mlci` metadata (contracts.md), checked against the estimator;
    inferred from it (is_classifier, classes_) for models logged before tasks existed."""
    from sklearn.base import is_classifier

    declared = declared or {}
    classifier = is_classifier(model) or hasattr(model, "classes_")
    classes = [_native(c) for c in np.asarray(model.classes_).tolist()] if classifier else None
    task = declared.get("task")
    if task is None:
        task = "regression" if classes is None else "binary" if len(classes) == 2 else "multiclass"
    if task not in TASKS:
        raise ValueError(f"model metadata: task must be one of {', '.join(TASKS)}, got {task!r}")
    if (task == "regression") == classifier:
        kind = "a classifier" if classifier else "not a classifier"
        raise ValueError(f"model metadata says task {task!r} but the fitted model is {kind}")
    if task == "binary" and len(classes) != 2:
        raise ValueError(f"task 'binary' but the model has {len(classes)} classes: {classes}")
    meta_classes = declared.get("classes")
    if classes is not None and meta_classes is not None and meta_classes != classes:
        raise ValueError(
            f"model metadata lists classes {meta_classes} but the fitted model has {classes}"
        )
    positive = None
    if task == "binary":
        positive = declared.get("positive_class")
        if positive is None:
            positive = classes[1]  # scikit-learn's convention: predict_proba[:, 1]
        elif positive not in classes:
            raise ValueError(f"positive_class {positive!r} is not among the classes {classes}")
    return TaskSpec(task, classes, positive, classifier and hasattr(model, "predict_proba"))


def to_onnx(model: Any, schema: InputSchema, task: TaskSpec | None = None) -> bytes:
    """Convert with one [N, 1] input per signature column; probabilities as a plain tensor."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    model = _string_imputers_on_empty(model)

    initial_types = [
        (c.name, StringTensorType([None, 1]) if c.type == "string" else FloatTensorType([None, 1]))
        for c in schema.columns
    ]
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    probabilities = task.probabilities if task else hasattr(final, "predict_proba")
    classifier = task.is_classifier if task else probabilities
    options = None
    if probabilities:
        options = {id(final): {"zipmap": False}}
    elif classifier:  # else skl2onnx's Pipeline parser asks for zipmap, which it then refuses
        options = {id(final): {"nocl": False}}
    from ml.serve.hgb_onnx import registered

    with _protobuf_bool_shim(), registered():
        onx = convert_sklearn(
            model,
            initial_types=initial_types,
            options=options,
            target_opset={"": 17, "ai.onnx.ml": 3},
        )
    return onx.SerializeToString()


def _columns(frame: pd.DataFrame, schema: InputSchema) -> dict[str, list[Any]]:
    """A frame as the server sees a request: one list of JSON-like values per column."""
    out: dict[str, list[Any]] = {}
    for c in schema.columns:
        values = frame[c.name].astype(object).where(frame[c.name].notna(), None).tolist()
        if c.type != "string":
            values = [math.nan if v is None else float(v) for v in values]
        out[c.name] = values
    return out


def check_parity(
    model: Any,
    onnx_path: Path,
    schema: InputSchema,
    sample: pd.DataFrame,
    tolerance: float = PROBA_TOLERANCE,
    task: TaskSpec | None = None,
) -> ParityReport:
    """Score `sample` with scikit-learn and with the ONNX graph (through the serving code path)."""
    task = task or resolve_task(model)
    sample = sample.head(PARITY_ROWS)
    X = sample[schema.names]
    got = OnnxPredictor(onnx_path, schema, task).predict(_columns(sample, schema))
    if not task.is_classifier:
        expected = np.asarray(model.predict(X), dtype=np.float64).reshape(-1)
        values = np.asarray(got.labels, dtype=np.float64)
        diff = np.abs(values - expected)
        rel = diff / np.maximum(1.0, np.abs(expected))
        worst = float(np.max(rel)) if len(rel) else 0.0
        return ParityReport(
            rows=len(sample),
            max_abs_diff=float(np.max(diff)) if len(diff) else 0.0,
            label_agreement=None,
            tolerance=tolerance,
            passed=bool(np.all(np.isfinite(values))) and worst <= tolerance,
            compared="values",
            max_rel_diff=worst,
        )
    sk_labels = [_native(v) for v in np.asarray(model.predict(X)).tolist()]
    same = np.array(
        [a == b and type(a) is type(b) for a, b in zip(sk_labels, got.labels, strict=True)]
    )
    ties = np.zeros(len(same), dtype=bool)
    diff = 0.0
    if task.probabilities and got.probabilities is not None:
        expected = np.asarray(model.predict_proba(X), dtype=np.float64)
        diff = float(np.max(np.abs(expected - np.asarray(got.probabilities, dtype=np.float64))))
        top2 = np.sort(expected, axis=1)[:, -2:]
        ties = (top2[:, 1] - top2[:, 0]) <= tolerance
    mismatches = int(np.sum(~same & ~ties))
    return ParityReport(
        rows=len(sample),
        max_abs_diff=diff,
        label_agreement=float(np.mean(same)) if len(same) else 1.0,
        tolerance=tolerance,
        passed=diff <= tolerance and mismatches == 0,
        compared="probabilities" if task.probabilities else "labels",
        near_ties=int(np.sum(ties)),
        label_mismatches=mismatches,
    )


def _parity_failure(parity: ParityReport) -> str:
    if parity.label_mismatches:
        return (
            f"ONNX parity failed: {parity.label_mismatches} of {parity.rows} rows get another "
            "label than scikit-learn"
        )
    if parity.compared == "values":
        return (
            f"ONNX parity failed: max |y_onnx - y_sklearn| / max(1, |y_sklearn|) = "
            f"{parity.max_rel_diff:.2e} > {parity.tolerance:.0e}"
        )
    return (
        f"ONNX parity failed: max |p_onnx - p_sklearn| = "
        f"{parity.max_abs_diff:.2e} > {parity.tolerance:.0e}"
    )


def _example(sample: pd.DataFrame | None, schema: InputSchema) -> list[dict[str, Any]] | None:
    if sample is None:
        return None
    strict = [c.name for c in schema.columns if not c.nullable]
    sample = sample.dropna(subset=strict)  # the example must be a request the server accepts
    if sample.empty:
        return None
    cols = _columns(sample.head(1), schema)
    row = {
        k: (None if isinstance(v[0], float) and math.isnan(v[0]) else v[0]) for k, v in cols.items()
    }
    for c in schema.columns:
        if c.type in ("long", "integer") and row[c.name] is not None:
            row[c.name] = int(row[c.name])
    return [row]


def build_bundle(
    model: Any,
    inputs: list[dict[str, Any]],
    out_dir: Path,
    metadata: dict[str, Any],
    sample: pd.DataFrame | None,
    runtime: str = "auto",
    declared: dict[str, Any] | None = None,
) -> BundleReport:
    """Write metadata.json plus model.onnx (fast path) or model.joblib (fallback) to `out_dir`.

    runtime: `auto` (ONNX if conversion and parity succeed), `onnx` (fail otherwise) or
    `sklearn` (skip compilation). `declared`: the model's `mlci` metadata (task, classes,
    positive_class), else the task is inferred from the estimator.
    """
    start = time.monotonic()
    schema = InputSchema.from_json(inputs)
    task = resolve_task(model, declared)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    report: BundleReport | None = None
    if runtime in ("auto", "onnx"):
        onnx_path = out_dir / ONNX_FILE
        try:
            onnx_path.write_bytes(to_onnx(model, schema, task))
        except Exception as e:
            reason = f"skl2onnx could not convert the model: {type(e).__name__}: {str(e)[:300]}"
            report = BundleReport("sklearn", reason)
        else:
            if sample is None or sample.empty:
                report = BundleReport("sklearn", "no sample rows to verify ONNX parity against")
            else:
                try:
                    parity = check_parity(model, onnx_path, schema, sample, task=task)
                except Exception as e:  # the graph loads but cannot score the rows
                    reason = f"ONNX graph failed on the sample rows: {type(e).__name__}: {e}"
                    report = BundleReport("sklearn", reason[:400])
                else:
                    if parity.passed:
                        report = BundleReport("onnx", "converted; parity check passed", parity)
                    else:
                        report = BundleReport("sklearn", _parity_failure(parity), parity)
        if report.runtime != "onnx":
            onnx_path.unlink(missing_ok=True)
            if runtime == "onnx":
                raise ValueError(f"ONNX runtime required but unavailable: {report.reason}")
    else:
        report = BundleReport("sklearn", "scikit-learn runtime requested")
    if report.runtime == "sklearn":
        import joblib

        joblib.dump(model, out_dir / SKLEARN_FILE)
    doc = {
        **metadata,
        "runtime": {
            "name": report.runtime,
            "reason": report.reason,
            "parity": asdict(report.parity) if report.parity else None,
        },
        "inputs": schema.to_json(),
        "task": task.task,
        "classes": task.classes,
        "positive_class": task.positive_class,
        "probabilities": task.probabilities,
        "input_example": _example(sample, schema),
    }
    (out_dir / METADATA_FILE).write_text(json.dumps(doc, indent=2, sort_keys=True, default=str))
    report.files = sorted(p.name for p in out_dir.iterdir())
    report.seconds = round(time.monotonic() - start, 3)
    return report
