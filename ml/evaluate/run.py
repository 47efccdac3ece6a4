"""The evaluate stage: score the held-out split, apply the gate and the behaviour checks, write
reports, log the verdict."""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ml.config import Settings
from ml.data.dataset import DatasetVersion, file_digest
from ml.errors import GateFailed, InputError
from ml.evaluate.behaviour import behaviour_checks
from ml.evaluate.gate import EvaluationVerdict, judge
from ml.evaluate.report import (
    clean_metrics,
    summary_markdown,
    write_json,
    write_junit,
    write_plots,
)
from ml.registry import tags as T
from ml.registry.client import ModelRegistry, load_logged_model
from ml.registry.runs import RunRecord, read_record, record_from_run
from ml.registry.tracking import connect, mlflow_errors
from ml.session import Session
from ml.tasks import Predictions
from ml.train.data import features, json_label, labels, load_frame, split_rows

EVALUATE_DIR = "evaluate"
SMOKE_SAMPLES = 8
BEHAVIOUR_SUITE = "model-behaviour"


@dataclass
class EvaluationResult:
    run_id: str
    metrics: dict[str, float]
    verdict: EvaluationVerdict
    champion: dict[str, Any] | None
    out_dir: Path
    summary: str
    seconds: float
    task: str = "binary"
    # What the HTML report shows (ml.evaluate.html_report): held-out labels and predictions.
    y_true: Any = field(default=None, repr=False)
    candidate: Predictions | None = field(default=None, repr=False)
    champion_predictions: Predictions | None = field(default=None, repr=False)

    def raise_if_failed(self) -> None:
        if not self.verdict.passed:
            failing = "; ".join(c.message for c in self.verdict.failures)
            raise GateFailed(
                f"evaluation gate failed: {failing} (see {self.out_dir / 'summary.md'})"
            )


def _held_out(
    settings: Settings, record: RunRecord, session: Session | None
) -> tuple[Any, np.ndarray, Any]:
    """The exact rows the run held out, checked against the digests recorded at training."""
    path = Path(record.dataset_path)
    if not path.is_file():
        raise InputError(
            f"{path}: the dataset of run {record.run_id} is gone; restore "
            f"version {record.dataset_version} (md5 {record.dataset_digest})"
        )
    dataset = DatasetVersion(record.dataset_version, path, file_digest(path))
    if dataset.digest != record.dataset_digest:
        raise InputError(
            f"{path}: changed since run {record.run_id} was trained (md5 "
            f"{dataset.digest}, trained on {record.dataset_digest}); retrain"
        )
    frame = load_frame(settings, dataset, session)
    split_settings = settings.model_copy(
        update={
            "train": settings.train.model_copy(
                update={"seed": record.split.seed, "task": record.task}
            ),
            "data": settings.data.model_copy(update={"test_size": record.split.test_size}),
        }
    )
    y = labels(frame, split_settings, path)
    key = (str(dataset.path.resolve()), dataset.digest)
    split = split_rows(frame, y, split_settings, session, key)
    if split.test_ids_sha256 != record.split.test_ids_sha256:
        raise InputError(
            f"{path}: the held-out rows differ from those of run {record.run_id} "
            f"(split digest mismatch); retrain"
        )
    return frame.iloc[split.test_idx], y[split.test_idx], features(frame, settings, split.test_idx)


def _load_candidate(settings: Settings, record: RunRecord, session: Session | None) -> Any:
    if session is not None and record.model_uri in session.models:
        return session.models[record.model_uri]
    return load_logged_model(settings, record.model_uri)


def _native(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    return json_label(v)


def smoke_samples(
    settings: Settings,
    record: RunRecord,
    rows: Any,
    X: Any,
    y: np.ndarray,
    pred: Predictions,
    n: int = SMOKE_SAMPLES,
) -> dict[str, Any]:
    """Recorded inputs and outputs the deploy smoke test replays (layout: docs/byod.md)."""
    n = min(n, len(X))
    idc = settings.data.id_column
    samples = []
    for i in range(n):
        sample: dict[str, Any] = {
            "id": str(rows[idc].iloc[i]) if idc else None,
            "features": {k: _native(v) for k, v in X.iloc[i].to_dict().items()},
            "label": _native(y[i]),
            "prediction": (
                float(pred.labels[i]) if record.task == "regression" else _native(pred.labels[i])
            ),
        }
        if pred.proba is not None:
            sample["probabilities"] = [float(p) for p in pred.proba[i]]
        if record.task == "binary" and pred.scores is not None and pred.scores_are_proba:
            sample["probability"] = float(pred.scores[i])
        samples.append(sample)
    return {
        "run_id": record.run_id,
        "model_uri": record.model_uri,
        "task": record.task,
        "classes": pred.classes,
        "samples": samples,
    }


def evaluate_run(
    settings: Settings,
    run_id: str | None = None,
    say: Callable[[str], None] = lambda _m: None,
    session: Session | None = None,
) -> EvaluationResult:
    """Score run `run_id` (default: build/train/run.json) and write build/evaluate/*."""
    start = time.perf_counter()
    record = record_from_run(settings, run_id) if run_id else read_record(settings)
    connect(settings, session)
    task = record.task
    if task != settings.train.task:
        raise InputError(
            f"run {record.run_id} was trained for task {task} but train.task is "
            f"{settings.train.task}; retrain or evaluate with the run's mlci.yaml"
        )
    rows, y, X = _held_out(settings, record, session)
    say(f"evaluate: run {record.run_id}, {len(X)} held-out rows of {record.dataset_version}")
    model = _load_candidate(settings, record, session)
    pos = record.positive_class
    pred = Predictions(model, X, task, pos)
    metrics = pred.metrics(y, pos)

    registry = ModelRegistry(settings)
    champ = registry.champion()
    champion_metrics = champion_info = champion_pred = None
    label = "champion"
    if champ is not None and champ.run_id != record.run_id:
        champ_task = champ.tags.get(T.MODEL_TASK, "binary")
        if champ_task != task:
            say(f"evaluate: champion v{champ.version} is a {champ_task} model; not compared")
        else:
            say(f"evaluate: scoring champion v{champ.version} on the same rows")
            champion_pred = Predictions(
                registry.load_model(champ.name, champ.version), X, task, pos
            )
            champion_metrics = champion_pred.metrics(y, pos)
            label = f"champion v{champ.version}"
            champion_info = {
                "version": champ.version,
                "run_id": champ.run_id,
                "metrics": clean_metrics(champion_metrics),
            }
    verdict = judge(metrics, settings.evaluate, champion_metrics, label)
    t0 = time.perf_counter()
    feats = settings.data.features
    behaviour = behaviour_checks(
        model, X, task, pred.classes, list(feats.numeric), list(feats.categorical)
    )
    behaviour_seconds = time.perf_counter() - t0
    verdict = EvaluationVerdict([*verdict.checks, *behaviour])

    out = settings.build_dir / EVALUATE_DIR
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    seconds = time.perf_counter() - start
    summary = summary_markdown(
        verdict, metrics, champion_metrics, label, record.run_id, record.dataset_version, len(X)
    )
    (out / "summary.md").write_text(summary, encoding="utf-8")
    gate_only = EvaluationVerdict([c for c in verdict.checks if c.kind != "behaviour"])
    write_junit(out / "junit.xml", gate_only, seconds)
    write_junit(
        out / "behaviour.xml",
        EvaluationVerdict(behaviour),
        behaviour_seconds,
        suite=BEHAVIOUR_SUITE,
    )
    write_plots(out, y, pred.labels, task, pred.scores, pred.classes, pos)
    write_json(out / "smoke_samples.json", smoke_samples(settings, record, rows, X, y, pred))
    write_json(
        out / "metrics.json",
        {
            "run_id": record.run_id,
            "model_uri": record.model_uri,
            "task": task,
            "dataset": {"version": record.dataset_version, "digest": record.dataset_digest},
            "n_test": len(X),
            "metrics": clean_metrics(metrics),
            "verdict": verdict.word,
            "checks": [c.to_dict() for c in verdict.checks],
            "champion": champion_info,
        },
    )

    import mlflow

    with mlflow_errors(settings.tracking_uri, f"run {record.run_id}"):
        client = mlflow.MlflowClient()
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        primary = settings.evaluate.primary_metric or ""
        client.log_batch(
            record.run_id,
            metrics=[
                Metric(f"test_{k}", v, now, 0) for k, v in metrics.items() if not math.isnan(v)
            ],
            tags=[
                RunTag(T.GATE_VERDICT, verdict.word),
                RunTag(
                    T.GATE_PRIMARY_METRIC,
                    f"{primary}={metrics.get(primary, float('nan')):.4f}",
                ),
            ],
        )
        client.log_artifacts(record.run_id, str(out), artifact_path=EVALUATE_DIR)
    say(f"evaluate: gate {verdict.word} ({len(verdict.failures)} failing of {len(verdict.checks)})")
    return EvaluationResult(
        record.run_id,
        metrics,
        verdict,
        champion_info,
        out,
        summary,
        time.perf_counter() - start,
        task,
        y,
        pred,
        champion_pred,
    )
