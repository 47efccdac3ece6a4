"""Turn a fitted scikit-learn model into a serving bundle, compiled to ONNX when that is safe.

The ONNX graph is accepted only when it reproduces scikit-learn's class probabilities on real
rows (the parity check); otherwise the bundle carries the scikit-learn model itself and says
why in metadata.json. This runs at image build time on the host, never in the serving image.
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

from ml.serve.predictor import METADATA_FILE, ONNX_FILE, SKLEARN_FILE, OnnxPredictor
from ml.serve.schema import InputSchema

PARITY_ROWS = 2000
PROBA_TOLERANCE = 1e-4  # float32 trees vs float64 scikit-learn: observed ~4e-7


@dataclass
class ParityReport:
    rows: int
    max_abs_diff: float
    label_agreement: float
    tolerance: float
    passed: bool


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


def to_onnx(model: Any, schema: InputSchema) -> bytes:
    """Convert with one [N, 1] input per signature column; probabilities as a plain tensor."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    model = _string_imputers_on_empty(model)

    initial_types = [
        (c.name, StringTensorType([None, 1]) if c.type == "string" else FloatTensorType([None, 1]))
        for c in schema.columns
    ]
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    options = {id(final): {"zipmap": False}} if hasattr(final, "predict_proba") else None
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
) -> ParityReport:
    """Score `sample` with scikit-learn and with the ONNX graph (through the serving code path)."""
    sample = sample.head(PARITY_ROWS)
    expected = np.asarray(model.predict_proba(sample[schema.names]))
    got = OnnxPredictor(onnx_path, schema).predict(_columns(sample, schema))
    diff = float(np.max(np.abs(expected - np.asarray(got.probabilities, dtype=np.float64))))
    sk_labels = np.asarray(model.classes_)[expected.argmax(axis=1)]
    agreement = float(np.mean(sk_labels == np.asarray(got.labels)))
    return ParityReport(
        rows=len(sample),
        max_abs_diff=diff,
        label_agreement=agreement,
        tolerance=tolerance,
        passed=diff <= tolerance,
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
) -> BundleReport:
    """Write metadata.json plus model.onnx (fast path) or model.joblib (fallback) to `out_dir`.

    runtime: `auto` (ONNX if conversion and parity succeed), `onnx` (fail otherwise) or
    `sklearn` (skip compilation).
    """
    start = time.monotonic()
    schema = InputSchema.from_json(inputs)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    report: BundleReport | None = None
    if runtime in ("auto", "onnx"):
        onnx_path = out_dir / ONNX_FILE
        try:
            onnx_path.write_bytes(to_onnx(model, schema))
        except Exception as e:
            reason = f"skl2onnx could not convert the model: {type(e).__name__}: {str(e)[:300]}"
            report = BundleReport("sklearn", reason)
        else:
            if sample is None or sample.empty:
                report = BundleReport("sklearn", "no sample rows to verify ONNX parity against")
            else:
                parity = check_parity(model, onnx_path, schema, sample)
                if parity.passed:
                    report = BundleReport("onnx", "converted; parity check passed", parity)
                else:
                    report = BundleReport(
                        "sklearn",
                        f"ONNX parity failed: max |p_onnx - p_sklearn| = "
                        f"{parity.max_abs_diff:.2e} > {parity.tolerance:.0e}",
                        parity,
                    )
        if report.runtime != "onnx":
            onnx_path.unlink(missing_ok=True)
            if runtime == "onnx":
                raise ValueError(f"ONNX runtime required but unavailable: {report.reason}")
    else:
        report = BundleReport("sklearn", "scikit-learn runtime requested")
    if report.runtime == "sklearn":
        import joblib

        joblib.dump(model, out_dir / SKLEARN_FILE)
    classes = getattr(model, "classes_", None)
    doc = {
        **metadata,
        "runtime": {
            "name": report.runtime,
            "reason": report.reason,
            "parity": asdict(report.parity) if report.parity else None,
        },
        "inputs": schema.to_json(),
        "classes": np.asarray(classes).tolist() if classes is not None else None,
        "input_example": _example(sample, schema),
    }
    (out_dir / METADATA_FILE).write_text(json.dumps(doc, indent=2, sort_keys=True, default=str))
    report.files = sorted(p.name for p in out_dir.iterdir())
    report.seconds = round(time.monotonic() - start, 3)
    return report
