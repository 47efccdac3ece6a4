"""The train stage: read the dataset once, split, fit, log to MLflow, write build/train/run.json."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ml.config import Settings
from ml.data.dataset import DatasetVersion, resolve_dataset
from ml.errors import InputError
from ml.registry import tags as T
from ml.registry.runs import RunRecord, SplitSpec, run_file, write_record
from ml.registry.serialization import trusted_types, untrusted_error
from ml.registry.tracking import connect, describe_tags, mlflow_errors
from ml.session import Session
from ml.tasks import Predictions, is_classification
from ml.train.data import features, json_label, labels, load_frame, positive_class, split_rows
from ml.train.lineage import git_state, lock_hash
from ml.train.model import build_pipeline, final_estimator

MODEL_ARTIFACT = "model"
TRAIN_SETTINGS_ARTIFACT = "mlci/train_settings.json"
TRAIN_METRIC_SAMPLE = 20_000  # training metrics on a sample: predicting 800k rows costs seconds
# What the served model needs; pinned to this environment so the model image matches it.
SERVING_PACKAGES = ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")


@dataclass
class TrainResult:
    record: RunRecord
    run_file: Path
    seconds: float
    cache_hit: Any = None  # ml.cache.CacheHit when an earlier run was reused (nothing trained)
    cache_key: str = ""


def training_settings(settings: Settings) -> dict[str, Any]:
    """The data and train sections as trained with, JSON-native (paths as given)."""
    return {
        "project": settings.project,
        "data": settings.data.model_dump(mode="json"),
        "train": settings.train.model_dump(mode="json"),
    }


def dvc_record_name(path: Path) -> str:
    """`data/snapshots/2025Q1.csv.dvc` relative to its DVC project, or "" when untracked."""
    from ml.data.dvc import dvc_file, dvc_root

    record = dvc_file(path)
    root = dvc_root(path.parent)
    if not record.is_file() or root is None:
        return ""
    return record.resolve().relative_to(root).as_posix()


def serving_requirements() -> list[str]:
    return [f"{p}=={metadata.version(p)}" for p in SERVING_PACKAGES]


def _simple_params(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        if v is None or isinstance(v, bool | int | float | str | list | tuple):
            out[k] = v
    return out


@dataclass
class Prepared:
    """Everything before the fit: data read, split and features built (and maybe the fit)."""

    key: tuple
    dataset: DatasetVersion
    frame: Any
    y: np.ndarray
    split: Any
    X_train: Any
    positive_class: Any = None
    model: Any = None  # fitted ahead of the stage by `mlci pipeline run` (speculative fit)
    fit_seconds: float = 0.0


def _key(settings: Settings, dataset: DatasetVersion) -> tuple:
    return (
        str(dataset.path.resolve()),
        dataset.digest,
        settings.train.model_dump_json(),
        settings.data.model_dump_json(),
    )


def warm_imports() -> None:
    """Import what recording the run and evaluating need (skops, MLflow's sklearn flavour,
    matplotlib), so `mlci pipeline run` can pay for it while validation runs in its child."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot
    import mlflow.sklearn  # noqa: F401
    import skops.io  # noqa: F401


def prepare_training(
    settings: Settings,
    source: str | Path | None = None,
    fit: bool = False,
    session: Session | None = None,
) -> Prepared:
    """Read the dataset, split it, build the features (and, with `fit`, fit the model).

    Nothing here connects to MLflow, starts a run or logs anything, so `mlci pipeline run` can
    do it while the validate stage runs in another process and keep the result in its
    `session`; `train_model` then uses it, and only then records a run. If validation fails
    the result is simply dropped. The estimator is checked (import, params, capabilities)
    before any data is read.
    """
    model = build_pipeline(settings)
    dataset = resolve_dataset(settings, source)
    key = _key(settings, dataset)
    if session is not None and session.prepared is not None and session.prepared.key == key:
        return session.prepared
    frame = load_frame(settings, dataset, session)
    if len(frame) < 10:
        raise InputError(f"{dataset.path}: only {len(frame)} rows; need at least 10 to train")
    y = labels(frame, settings, dataset.path)
    split = split_rows(frame, y, settings, session, key[:2])
    X_train = features(frame, settings, split.train_idx)
    pos = positive_class(settings, y[split.train_idx]) if settings.train.task == "binary" else None
    prepared = Prepared(key, dataset, frame, y, split, X_train, pos)
    if fit:
        t0 = time.perf_counter()
        prepared.model = model.fit(X_train, y[split.train_idx])
        prepared.fit_seconds = time.perf_counter() - t0
    if session is not None:
        session.prepared = prepared
    return prepared


def label_metadata(settings: Settings, model: Any, pos: Any) -> dict[str, Any]:
    """What a reader of the stored model needs to know about its outputs (the `mlci` entry of
    the MLmodel metadata; see docs/byod.md)."""
    classes = None
    if is_classification(settings.train.task):
        classes = [json_label(c) for c in final_estimator(model).classes_]
    return {
        "task": settings.train.task,
        "classes": classes,
        "positive_class": json_label(pos) if pos is not None else None,
        "target": settings.data.target,
    }


def train_model(
    settings: Settings,
    source: str | Path | None = None,
    say: Callable[[str], None] = lambda _m: None,
    session: Session | None = None,
    use_cache: bool = True,
) -> TrainResult:
    """Fit the model on the training split of `source` and log the run; see module doc.

    With `use_cache` (and FORCE_RETRAIN unset), a registered version or finished run that
    recorded the same training-cache key is reused instead: nothing is fitted or logged.
    """
    start = time.perf_counter()
    from ml.cache import find_cached, training_key
    from ml.cache.key import cache_disabled, passed_validation, platform_facts

    # The training cache (docs/pipeline.md): the key needs only the settings, the code and
    # the dataset digest, so a hit costs no import of the training stack and no fit.
    requested = resolve_dataset(settings, source)
    cache = training_key(settings, requested.digest)
    if use_cache and not cache_disabled():
        hit = find_cached(settings, cache.key)
        if hit is not None:
            from ml.cache.reuse import reuse_run

            say(f"train: {hit.describe()} (run {hit.run_id}); nothing trained")
            record = reuse_run(settings, hit, requested)
            return TrainResult(
                record, run_file(settings), time.perf_counter() - start, hit, cache.key
            )
        say(f"train: cache miss, key {cache.short}")
    # Fail in seconds, before reading data, when the estimator or MLflow is wrong or down.
    build_pipeline(settings)
    exp_id = connect(settings, session)
    prep = prepare_training(settings, source, session=session)
    if session is not None:
        session.prepared = None  # used once: a later train in this session starts afresh
    dataset, frame, y, split, X_train = prep.dataset, prep.frame, prep.y, prep.split, prep.X_train
    task = settings.train.task
    say(f"train: dataset {dataset.version} ({dataset.path}, md5 {dataset.digest}), task {task}")
    y_train = y[split.train_idx]
    estimator = settings.train.estimator
    say(
        f"train: fitting {estimator.rsplit('.', 1)[-1]} on {len(X_train)} rows "
        f"({len(split.test_idx)} held out)"
    )
    if prep.model is not None:
        model, fit_seconds = prep.model, prep.fit_seconds
        say(f"train: fitted in {fit_seconds:.1f}s (while validation ran)")
    else:
        model = build_pipeline(settings)
        fit_start = time.perf_counter()
        model.fit(X_train, y_train)
        fit_seconds = time.perf_counter() - fit_start
        say(f"train: fitted in {fit_seconds:.1f}s")

    n_sample = min(len(split.train_idx), TRAIN_METRIC_SAMPLE)
    sample_pred = Predictions(model, X_train.iloc[:n_sample], task, prep.positive_class)
    train_metrics = {
        f"train_{k}": v
        for k, v in sample_pred.metrics(y_train[:n_sample], prep.positive_class).items()
        if not np.isnan(v)
    }
    train_metrics["fit_seconds"] = fit_seconds
    meta = label_metadata(settings, model, prep.positive_class)

    git = git_state(settings.root)
    env = platform_facts()
    run_tags = describe_tags(
        {
            T.GIT_COMMIT: git.commit,
            T.GIT_BRANCH: git.branch,
            T.GIT_DIRTY: git.dirty,
            T.DATASET_VERSION: dataset.version,
            T.DATASET_DIGEST: dataset.digest,
            T.RUN_DATASET_PATH: str(dataset.path.resolve()),
            T.LOCK_HASH: lock_hash(settings.root),
            T.RUN_SPLIT_TEST_IDS: split.test_ids_sha256,
            T.RUN_STAGE: "train",
            T.MODEL_TASK: task,
            T.RUN_LABELS: json.dumps(
                {"classes": meta["classes"], "positive_class": meta["positive_class"]}
            ),
            T.DATASET_NAME: settings.project,
            T.DATASET_DVC: dvc_record_name(dataset.path),
            T.CACHE_KEY: cache.key,
            **{f"{T.CACHE_PART}{k}": v for k, v in cache.parts.items()},
            T.ENV_PYTHON: env["python"],
            T.ENV_PLATFORM: env["platform"],
            T.ENV_STAGE_IMAGE: env["stage_image"],
            T.VALIDATION_KEY: passed_validation(settings, dataset.digest) or "",
        }
    )
    stratify = settings.data.target if is_classification(task) else "none"
    params = {
        "estimator": estimator,
        "task": task,
        "seed": settings.train.seed,
        "test_size": settings.data.test_size,
        "stratify": stratify,
        "n_rows": len(frame),
        "n_train": len(split.train_idx),
        "n_test": len(split.test_idx),
        **{
            f"model.{k}": v
            for k, v in _simple_params(final_estimator(model).get_params(deep=False)).items()
        },
    }

    import mlflow
    import mlflow.data
    import mlflow.sklearn
    from mlflow.models import infer_signature

    uri = settings.tracking_uri
    example = X_train.head(5)
    trusted = trusted_types(settings)
    with (
        mlflow_errors(uri),
        warnings.catch_warnings(),
        mlflow.start_run(
            experiment_id=exp_id, run_name=f"train-{dataset.version}", tags=run_tags
        ) as run,
    ):
        # MLflow's hints (ambiguous local source, integer schema) do not apply here.
        warnings.simplefilter("ignore", UserWarning)
        say(f"train: logging run {run.info.run_id} to {uri}")
        mlflow.log_params(params)
        mlflow.log_metrics(train_metrics)
        # Schema and profile come from a small head: the digest names the whole file and the
        # source its path, so MLflow need not hash or profile 1M rows.
        ds = mlflow.data.from_pandas(
            frame.head(1000),
            source=str(dataset.path.resolve()),
            targets=settings.data.target,
            name=dataset.version,
            digest=dataset.digest,
        )
        mlflow.log_input(ds, context="training")
        signature = infer_signature(example, model.predict(example))
        try:
            info = mlflow.sklearn.log_model(
                model,
                name=MODEL_ARTIFACT,
                signature=signature,
                input_example=example,
                serialization_format="skops",
                skops_trusted_types=trusted,
                pip_requirements=serving_requirements(),
                metadata={"mlci": meta},
            )
        except Exception as e:
            raise untrusted_error(e, trusted) from None
        mlflow.set_tag(T.RUN_MODEL_URI, info.model_uri)
        # The effective settings trained with (mlci.yaml + MLCI_* overrides): what
        # `mlci reproduce` trains with again.
        mlflow.log_dict(training_settings(settings), TRAIN_SETTINGS_ARTIFACT)
        if session is not None:
            session.models.clear()
            session.models[info.model_uri] = model
        record = RunRecord(
            run_id=run.info.run_id,
            experiment_id=exp_id,
            model_uri=info.model_uri,
            tracking_uri=uri,
            dataset_version=dataset.version,
            dataset_path=str(dataset.path.resolve()),
            dataset_digest=dataset.digest,
            split=SplitSpec(
                seed=settings.train.seed,
                test_size=settings.data.test_size,
                stratify=stratify,
                n_train=len(split.train_idx),
                n_test=len(split.test_idx),
                test_ids_sha256=split.test_ids_sha256,
            ),
            estimator=estimator,
            train_metrics=train_metrics,
            task=task,
            classes=meta["classes"],
            positive_class=meta["positive_class"],
        )
        path = write_record(settings, record)
    return TrainResult(
        record=record, run_file=path, seconds=time.perf_counter() - start, cache_key=cache.key
    )
