"""The evaluate stage: score the held-out split, apply the gate, write reports, log the verdict."""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ml.config import Settings
from ml.data.dataset import DatasetVersion, file_digest
from ml.errors import GateFailed, InputError
from ml.evaluate.gate import EvaluationVerdict, judge
from ml.evaluate.html_report import ReportInputs, write_html_report
from ml.evaluate.metrics import compute_metrics, positive_proba
from ml.evaluate.report import (
    clean_metrics,
    summary_markdown,
    write_json,
    write_junit,
    write_plots,
)
from ml.registry import tags as T
from ml.registry.tracking import connect, mlflow_errors
from ml.train.data import features, labels, load_frame, split_rows
from ml.train.record import RunRecord, SplitSpec, read_record

EVALUATE_DIR = "evaluate"
SMOKE_SAMPLES = 8


@dataclass
class EvaluationResult:
    run_id: str
    metrics: dict[str, float]
    verdict: EvaluationVerdict
    champion: dict[str, Any] | None
    out_dir: Path
    summary: str
    seconds: float

    def raise_if_failed(self) -> None:
        if not self.verdict.passed:
            failing = "; ".join(c.message for c in self.verdict.failures)
            raise GateFailed(
                f"evaluation gate failed: {failing} (see {self.out_dir / 'summary.md'})"
            )


def record_from_run(settings: Settings, run_id: str) -> RunRecord:
    """Rebuild the train stage's record from an MLflow run (for `mlci evaluate --run`)."""
    connect(settings)
    import mlflow

    uri = settings.tracking_uri
    with mlflow_errors(uri, f"run {run_id}"):
        run = mlflow.MlflowClient().get_run(run_id)
    tags, params = run.data.tags, run.data.params
    if T.RUN_MODEL_URI not in tags:
        raise InputError(
            f"run {run_id} in MLflow at {uri} was not made by `mlci train` "
            f"(no {T.RUN_MODEL_URI} tag)"
        )
    return RunRecord(
        run_id=run_id,
        experiment_id=run.info.experiment_id,
        model_uri=tags[T.RUN_MODEL_URI],
        tracking_uri=uri,
        dataset_version=tags[T.DATASET_VERSION],
        dataset_path=tags[T.RUN_DATASET_PATH],
        dataset_digest=tags[T.DATASET_DIGEST],
        split=SplitSpec(
            seed=int(params["seed"]),
            test_size=float(params["test_size"]),
            stratify=params["stratify"],
            n_train=int(params["n_train"]),
            n_test=int(params["n_test"]),
            test_ids_sha256=tags[T.RUN_SPLIT_TEST_IDS],
        ),
        estimator=params["estimator"],
    )


def _held_out(settings: Settings, record: RunRecord) -> tuple[Any, np.ndarray, Any]:
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
    frame = load_frame(settings, dataset)
    y = labels(frame, settings, path)
    split_settings = settings.model_copy(
        update={
            "train": settings.train.model_copy(update={"seed": record.split.seed}),
            "data": settings.data.model_copy(update={"test_size": record.split.test_size}),
        }
    )
    split = split_rows(frame, y, split_settings)
    if split.test_ids_sha256 != record.split.test_ids_sha256:
        raise InputError(
            f"{path}: the held-out rows differ from those of run {record.run_id} "
            f"(split digest mismatch); retrain"
        )
    return frame.iloc[split.test_idx], y[split.test_idx], features(frame, settings, split.test_idx)


def _load_candidate(settings: Settings, record: RunRecord) -> Any:
    from ml.train.serialization import cached_model, load_pipeline

    model = cached_model(record.model_uri)
    if model is not None:
        return model
    import tempfile

    import mlflow.artifacts

    with (
        tempfile.TemporaryDirectory(prefix="mlci-model-") as tmp,
        mlflow_errors(settings.tracking_uri, f"model {record.model_uri}"),
    ):
        local = mlflow.artifacts.download_artifacts(artifact_uri=record.model_uri, dst_path=tmp)
        return load_pipeline(Path(local))


def _smoke_samples(
    settings: Settings, rows: Any, X: Any, y: np.ndarray, model: Any, proba: np.ndarray
) -> list[dict[str, Any]]:
    n = min(SMOKE_SAMPLES, len(X))
    preds = model.predict(X.iloc[:n])
    samples = []
    for i in range(n):
        feats = {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in X.iloc[i].to_dict().items()
        }
        samples.append(
            {
                "id": str(rows[settings.data.id_column].iloc[i]),
                "features": feats,
                "label": int(y[i]),
                "prediction": int(preds[i]),
                "probability": float(proba[i]),
            }
        )
    return samples


def evaluate_run(
    settings: Settings,
    run_id: str | None = None,
    say: Callable[[str], None] = lambda _m: None,
) -> EvaluationResult:
    """Score run `run_id` (default: build/train/run.json) and write build/evaluate/*."""
    start = time.perf_counter()
    record = record_from_run(settings, run_id) if run_id else read_record(settings)
    connect(settings)
    rows, y, X = _held_out(settings, record)
    say(f"evaluate: run {record.run_id}, {len(X)} held-out rows of {record.dataset_version}")
    model = _load_candidate(settings, record)
    proba = positive_proba(model, X)
    metrics = compute_metrics(y, proba)

    from ml.registry import ModelRegistry

    registry = ModelRegistry(settings)
    champ = registry.champion()
    champion_metrics = champion_info = champion_proba = None
    label = "champion"
    if champ is not None and champ.run_id != record.run_id:
        say(f"evaluate: scoring champion v{champ.version} on the same rows")
        champion_proba = positive_proba(registry.load_model(champ.name, champ.version), X)
        champion_metrics = compute_metrics(y, champion_proba)
        label = f"champion v{champ.version}"
        champion_info = {
            "version": champ.version,
            "run_id": champ.run_id,
            "metrics": clean_metrics(champion_metrics),
        }
    verdict = judge(metrics, settings.evaluate, champion_metrics, label)

    out = settings.build_dir / EVALUATE_DIR
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    seconds = time.perf_counter() - start
    summary = summary_markdown(
        verdict, metrics, champion_metrics, label, record.run_id, record.dataset_version, len(X)
    )
    (out / "summary.md").write_text(summary, encoding="utf-8")
    write_junit(out / "junit.xml", verdict, seconds)
    write_plots(out, y, proba)
    write_json(
        out / "smoke_samples.json",
        {
            "run_id": record.run_id,
            "model_uri": record.model_uri,
            "samples": _smoke_samples(settings, rows, X, y, model, proba),
        },
    )
    write_json(
        out / "metrics.json",
        {
            "run_id": record.run_id,
            "model_uri": record.model_uri,
            "dataset": {"version": record.dataset_version, "digest": record.dataset_digest},
            "n_test": len(X),
            "metrics": clean_metrics(metrics),
            "verdict": verdict.word,
            "checks": [c.to_dict() for c in verdict.checks],
            "champion": champion_info,
        },
    )

    # report: the champion-vs-challenger page (report.html + report.css), logged with the rest.
    write_html_report(
        out,
        ReportInputs(
            task="binary",
            run_id=record.run_id,
            y_true=y,
            y_pred=(proba >= 0.5).astype(int),
            scores=proba,
            classes=[0, 1],
            positive_class=1,
            metrics=metrics,
            checks=[c.to_dict() for c in verdict.checks],
            champion_pred=None if champion_proba is None else (champion_proba >= 0.5).astype(int),
            champion_scores=champion_proba,
            champion_metrics=champion_metrics,
            champion_label=label,
            champion_run_id=champion_info["run_id"] if champion_info else None,
            dataset_version=record.dataset_version,
            dataset_digest=record.dataset_digest,
            model_name=settings.mlflow.model_name,
        ),
    )

    import mlflow

    with mlflow_errors(settings.tracking_uri, f"run {record.run_id}"):
        client = mlflow.MlflowClient()
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        client.log_batch(
            record.run_id,
            metrics=[
                Metric(f"test_{k}", v, now, 0) for k, v in metrics.items() if not math.isnan(v)
            ],
            tags=[
                RunTag(T.GATE_VERDICT, verdict.word),
                RunTag(
                    T.GATE_PRIMARY_METRIC,
                    f"{settings.evaluate.primary_metric}="
                    f"{metrics.get(settings.evaluate.primary_metric, float('nan')):.4f}",
                ),
            ],
        )
        client.log_artifacts(record.run_id, str(out), artifact_path=EVALUATE_DIR)
    say(f"evaluate: gate {verdict.word} ({len(verdict.failures)} failing of {len(verdict.checks)})")
    return EvaluationResult(
        record.run_id, metrics, verdict, champion_info, out, summary, time.perf_counter() - start
    )
