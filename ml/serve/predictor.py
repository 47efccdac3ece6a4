"""Load a model bundle (metadata.json + model.onnx, or model.joblib in fallback) and score rows.

A bundle is what `mlci model build` bakes into the image. The ONNX path is the fast one; the
scikit-learn path exists for models that skl2onnx cannot convert or that failed the parity check
at build time (metadata.json says which, and why).

Both predictors answer in the task's terms (metadata.json `task`): classification returns labels
in the user's own values (the `classes` list: strings stay strings, ints ints, bools bools) and
class probabilities aligned with `classes` when the model has them; regression returns floats.
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
TASKS = ("binary", "multiclass", "regression")


@dataclass
class Prediction:
    """`labels`: class labels (classification) or predicted values (regression)."""

    labels: list[Any]
    probabilities: np.ndarray | None


@dataclass(frozen=True)
class TaskSpec:
    """What the model predicts: the task, its classes (user values) and the positive class."""

    task: str
    classes: list[Any] | None = None
    positive_class: Any = None
    probabilities: bool = False  # classification with predict_proba

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> TaskSpec:
        """Read metadata.json; bundles written before tasks existed were binary classifiers
        with probabilities whenever they list classes."""
        classes = meta.get("classes")
        task = meta.get("task")
        if task is None:
            task = (
                "regression"
                if classes is None
                else ("binary" if len(classes) == 2 else "multiclass")
            )
        if task not in TASKS:
            raise ValueError(f"metadata.json: task must be one of {TASKS}, got {task!r}")
        if task != "regression" and not classes:
            raise ValueError(f"metadata.json: a {task} model needs its 'classes'")
        positive = meta.get("positive_class")
        if task == "binary" and positive is None:
            positive = classes[-1]
        return cls(
            task,
            classes if task != "regression" else None,
            positive if task == "binary" else None,
            bool(meta.get("probabilities", task != "regression")),
        )

    @property
    def is_classifier(self) -> bool:
        return self.task != "regression"

    def label_lookup(self) -> dict[str, Any]:
        """How a label the ONNX graph emits (int64 or string) maps to the user's value."""
        out: dict[str, Any] = {}
        for c in self.classes or []:
            out[str(c)] = c
            if isinstance(c, bool) or (isinstance(c, float) and c.is_integer()):
                out[str(int(c))] = c  # boolean (and 0.0/1.0) classes come out as int64
        return out


class OnnxPredictor:
    """ONNX Runtime on one thread: one input tensor per signature column."""

    runtime = "onnx"

    def __init__(self, path: Path, schema: InputSchema, task: TaskSpec) -> None:
        import onnxruntime as ort

        ort.disable_telemetry_events()
        ort.set_default_logger_severity(3)  # errors only: no per-worker warnings in the logs
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.task = task
        graph_inputs = self.session.get_inputs()
        names = [i.name for i in graph_inputs]
        if set(schema.names) <= set(names):
            pairs = [(c, c) for c in schema.names]
        elif len(names) == len(schema.names):
            # skl2onnx renames inputs that are not valid ONNX names (e.g. 'a/b'); the graph
            # keeps the order of the signature columns it was converted with
            pairs = list(zip(schema.names, names, strict=True))
        else:
            missing = [c for c in schema.names if c not in names]
            raise ValueError(f"{path}: ONNX graph has no input for signature columns {missing}")
        types = {i.name: numpy_dtype(i.type) for i in graph_inputs}
        self.feeds = [(column, name, types[name]) for column, name in pairs]
        outputs = [o.name for o in self.session.get_outputs()]
        self.label_output = outputs[0]
        proba = self.task.is_classifier and self.task.probabilities and len(outputs) > 1
        self.proba_output = outputs[1] if proba else None
        self.outputs = outputs[:2] if proba else outputs[:1]
        self.lookup = self.task.label_lookup()

    def predict(self, columns: dict[str, list[Any]]) -> Prediction:
        feeds = {}
        for column, name, dtype in self.feeds:
            values = columns[column]
            if dtype is object and None in values:
                values = ["" if v is None else v for v in values]  # "" = missing (see compile)
            feeds[name] = np.array(values, dtype=dtype).reshape(-1, 1)
        result = self.session.run(self.outputs, feeds)
        if not self.task.is_classifier:
            values = np.asarray(result[0], dtype=np.float64).reshape(-1)
            return Prediction(values.tolist(), None)
        lookup = self.lookup
        try:
            labels = [lookup[str(v)] for v in result[0].tolist()]
        except KeyError as e:
            raise ValueError(f"the ONNX graph emitted label {e} not among classes") from None
        return Prediction(labels, result[1] if len(result) > 1 else None)


class SklearnPredictor:
    """The fitted scikit-learn model itself, fed a one-batch pandas DataFrame."""

    runtime = "sklearn"

    def __init__(self, path: Path, schema: InputSchema, task: TaskSpec) -> None:
        import joblib
        import pandas as pd

        self._pd = pd
        self.model = joblib.load(path)
        self.schema = schema
        self.task = task

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
        if not self.task.is_classifier:
            values = np.asarray(self.model.predict(df), dtype=np.float64).reshape(-1)
            return Prediction(values.tolist(), None)
        proba = self.model.predict_proba(df) if self.task.probabilities else None
        if proba is not None:  # multiclass HistGradientBoosting returns a transposed view
            proba = np.ascontiguousarray(proba)
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
    task: TaskSpec

    @property
    def classes(self) -> list[Any] | None:
        return self.task.classes


def load_bundle(bundle_dir: Path | str | None = None) -> LoadedModel:
    """Read the bundle in `bundle_dir` (default: $MLCI_MODEL_DIR, else /opt/model)."""
    folder = Path(bundle_dir or os.environ.get("MLCI_MODEL_DIR", "/opt/model"))
    meta_path = folder / METADATA_FILE
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{meta_path}: no model bundle here (set MLCI_MODEL_DIR)") from None
    schema = InputSchema.from_json(metadata["inputs"])
    task = TaskSpec.from_metadata(metadata)
    runtime = metadata.get("runtime", {}).get("name", "onnx")
    if runtime == "onnx":
        predictor: OnnxPredictor | SklearnPredictor = OnnxPredictor(
            folder / ONNX_FILE, schema, task
        )
    elif runtime == "sklearn":
        predictor = SklearnPredictor(folder / SKLEARN_FILE, schema, task)
    else:
        raise ValueError(f"{meta_path}: runtime.name must be 'onnx' or 'sklearn', got {runtime!r}")
    return LoadedModel(metadata, schema, predictor, task)
