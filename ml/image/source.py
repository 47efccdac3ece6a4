"""Everything a model image is built from, gathered from the registry in one place."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ml.config import Settings
from ml.errors import InputError
from ml.registry import tags as T
from ml.registry.client import ModelRegistry, ModelVersionInfo
from ml.registry.tracking import mlflow_errors

SAMPLE_ROWS = 2000


@dataclass
class ModelSource:
    """A registered model version with its fitted model, signature, metrics and sample rows."""

    info: ModelVersionInfo
    model: Any
    inputs: list[dict[str, Any]]
    metrics: dict[str, float]
    sample: Any  # pandas DataFrame of real rows for the ONNX parity check, or None
    sample_origin: str
    declared: dict[str, Any] | None = None  # the MLmodel's `metadata.mlci` (task, classes...)


def _declared_task(model_dir: Path) -> dict[str, Any] | None:
    """What training recorded about the task (`metadata: {mlci: {task, classes, ...}}`)."""
    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text()) or {}
    declared = (mlmodel.get("metadata") or {}).get("mlci")
    return declared if isinstance(declared, dict) else None


def _signature_inputs(model_dir: Path) -> list[dict[str, Any]]:
    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text())
    raw = (mlmodel.get("signature") or {}).get("inputs")
    if not raw:
        raise InputError(
            f"{model_dir / 'MLmodel'}: the model has no input signature; log it with "
            "a signature (mlflow.models.infer_signature) so the server can check "
            "requests"
        )
    return json.loads(raw) if isinstance(raw, str) else raw


def _sample(
    settings: Settings, info: ModelVersionInfo, model_dir: Path, columns: list[str]
) -> tuple[Any, str]:
    """Real rows to compare ONNX with scikit-learn: the training dataset version if it is
    present here, else the model's logged input example."""
    import pandas as pd

    from ml.data.dataset import read_frame, resolve_dataset

    version = info.tags.get(T.DATASET_VERSION)
    if version:
        try:
            dataset = resolve_dataset(settings, version)
        except InputError:
            dataset = None
        if dataset is not None:
            frame = read_frame(dataset, settings)
            rows = frame.sample(n=min(SAMPLE_ROWS, len(frame)), random_state=0)
            return rows[columns].reset_index(drop=True), f"dataset {dataset.version}"
    for name in ("input_example.json", "serving_input_example.json"):
        path = model_dir / name
        if path.is_file():
            doc = json.loads(path.read_text())
            doc = doc.get("dataframe_split", doc) if isinstance(doc, dict) else doc
            if isinstance(doc, dict) and "columns" in doc:
                frame = pd.DataFrame(doc["data"], columns=doc["columns"])
            else:
                frame = pd.DataFrame(doc)
            if set(columns) <= set(frame.columns):
                return frame[columns], f"input example {name}"
    return None, "none"


def load_source(
    settings: Settings, name: str | None, version: str | int, work_dir: Path
) -> ModelSource:
    """Fetch version `version` of `name` (default: the configured model) into `work_dir`."""
    from ml.registry.serialization import load_pipeline, trusted_types

    registry = ModelRegistry(settings)
    info = registry.get_version(name, version)
    model_dir = registry.download_model(info.name, info.version, work_dir / "mlflow-model")
    model = load_pipeline(model_dir, trusted_types(settings))  # + the project's own types
    inputs = _signature_inputs(model_dir)
    metrics: dict[str, float] = {}
    if info.run_id:
        with mlflow_errors(registry.uri, f"run {info.run_id}"):
            metrics = dict(registry.client.get_run(info.run_id).data.metrics)
    sample, origin = _sample(settings, info, model_dir, [c["name"] for c in inputs])
    return ModelSource(info, model, inputs, metrics, sample, origin, _declared_task(model_dir))


def source_url(settings: Settings) -> str:
    """The repository URL for `org.opencontainers.image.source` (credentials stripped)."""
    import os
    import re

    url = os.environ.get("GIT_URL", "")
    if not url:
        try:
            url = subprocess.run(
                ["git", "config", "--get", "remote.origin.url"],
                cwd=settings.root,
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            url = ""
    return re.sub(r"//[^/@]+@", "//", url)
