"""Load a model bundle (metadata.json + model.onnx, or model.joblib in fallback) and score rows.

A bundle is what `mlci model build` bakes into the image. The ONNX path is the fast one; the
scikit-learn path exists for models that skl2onnx cannot convert or that failed the parity check
at build time (metadata.json says which, and why).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml.serve.schema import INTEGER_TYPES, NUMBER_TYPES, InputSchema, numpy_dtype

METADATA_FILE = "metadata.json"
ONNX_FILE = "model.onnx"
SKLEARN_FILE = "model.joblib"


@dataclass
class Prediction:
    labels: list[Any]
    probabilities: np.ndarray | None


class OnnxPredictor:
    """ONNX Runtime on one thread: one input tensor per signature column."""

    runtime = "onnx"

    def __init__(self, path: Path, schema: InputSchema) -> None:
        import onnxruntime as ort

        ort.disable_telemetry_events()
        ort.set_default_logger_severity(3)  # errors only: no per-worker warnings in the logs
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.dtypes = {i.name: numpy_dtype(i.type) for i in self.session.get_inputs()}
        missing = [c for c in schema.names if c not in self.dtypes]
        if missing:
            raise ValueError(f"{path}: ONNX graph has no input for signature columns {missing}")
        outputs = [o.name for o in self.session.get_outputs()]
        self.label_output = outputs[0]
        self.proba_output = outputs[1] if len(outputs) > 1 else None
        self.outputs = outputs[:2]

    def predict(self, columns: dict[str, list[Any]]) -> Prediction:
        feeds = {}
        for name, dtype in self.dtypes.items():
            values = columns[name]
            if dtype is object and None in values:
                values = ["" if v is None else v for v in values]  # "" = missing (see compile)
            feeds[name] = np.array(values, dtype=dtype).reshape(-1, 1)
        result = self.session.run(self.outputs, feeds)
        return Prediction(result[0].tolist(), result[1] if len(result) > 1 else None)


class SklearnPredictor:
    """The fitted scikit-learn model itself, fed a one-batch pandas DataFrame."""

    runtime = "sklearn"

    def __init__(self, path: Path, schema: InputSchema) -> None:
        import joblib
        import pandas as pd

        self._pd = pd
        self.model = joblib.load(path)
        self.schema = schema

    def predict(self, columns: dict[str, list[Any]]) -> Prediction:
        frame = {}
        for col in self.schema.columns:
            values = columns[col.name]
            if col.type in NUMBER_TYPES:
                frame[col.name] = np.array(values, dtype=np.float64)
            elif col.type in INTEGER_TYPES:
                frame[col.name] = np.array(values, dtype=np.int64)
            else:  # scikit-learn's imputers see NaN, not None, as missing in object columns
                frame[col.name] = np.array(
                    [np.nan if v is None else v for v in values], dtype=object
                )
        df = self._pd.DataFrame(frame, columns=self.schema.names)
        proba = self.model.predict_proba(df) if hasattr(self.model, "predict_proba") else None
        if proba is not None:
            labels = self.model.classes_[np.argmax(proba, axis=1)].tolist()
        else:
            labels = np.asarray(self.model.predict(df)).tolist()
        return Prediction(labels, proba)


@dataclass
class LoadedModel:
    """A bundle in memory: its metadata, its input schema and a ready predictor."""

    metadata: dict[str, Any]
    schema: InputSchema
    predictor: OnnxPredictor | SklearnPredictor

    @property
    def classes(self) -> list[Any] | None:
        return self.metadata.get("classes")


def load_bundle(bundle_dir: Path | str | None = None) -> LoadedModel:
    """Read the bundle in `bundle_dir` (default: $MLCI_MODEL_DIR, else /opt/model)."""
    folder = Path(bundle_dir or os.environ.get("MLCI_MODEL_DIR", "/opt/model"))
    meta_path = folder / METADATA_FILE
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{meta_path}: no model bundle here (set MLCI_MODEL_DIR)") from None
    schema = InputSchema.from_json(metadata["inputs"])
    runtime = metadata.get("runtime", {}).get("name", "onnx")
    if runtime == "onnx":
        predictor: OnnxPredictor | SklearnPredictor = OnnxPredictor(folder / ONNX_FILE, schema)
    elif runtime == "sklearn":
        predictor = SklearnPredictor(folder / SKLEARN_FILE, schema)
    else:
        raise ValueError(f"{meta_path}: runtime.name must be 'onnx' or 'sklearn', got {runtime!r}")
    return LoadedModel(metadata, schema, predictor)
