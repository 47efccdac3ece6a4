"""Training runs: run.json (what `train` hands to `evaluate` and `register`) and the same record
rebuilt from an MLflow run (`--run RUN_ID`). Lives in the registry layer, below train and
evaluate, because register reads it too."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ml.config import Settings
from ml.errors import InputError
from ml.registry import tags as T
from ml.registry.tracking import connect, mlflow_errors

RUN_FILE = Path("train/run.json")


@dataclass
class SplitSpec:
    """How the held-out rows were chosen, so evaluate scores exactly the same rows."""

    seed: int
    test_size: float
    stratify: str  # the target column, or "none" (regression: a plain random split)
    n_train: int
    n_test: int
    test_ids_sha256: str


@dataclass
class RunRecord:
    run_id: str
    experiment_id: str
    model_uri: str
    tracking_uri: str
    dataset_version: str
    dataset_path: str
    dataset_digest: str
    split: SplitSpec
    estimator: str
    train_metrics: dict[str, float] = field(default_factory=dict)
    task: str = "binary"
    classes: list | None = None  # label values the model knows (classification)
    positive_class: object = None  # binary: the label scored as positive

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, doc: dict) -> RunRecord:
        doc = dict(doc)
        doc["split"] = SplitSpec(**doc["split"])
        return cls(**doc)


def run_file(settings: Settings) -> Path:
    return settings.build_dir / RUN_FILE


def write_record(settings: Settings, record: RunRecord) -> Path:
    path = run_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.part")
    tmp.write_text(record.to_json() + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_record(settings: Settings) -> RunRecord:
    path = run_file(settings)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{path}: no training run recorded; run `mlci train` first or pass --run RUN_ID"
        ) from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON ({e}); re-run `mlci train`") from None
    try:
        return RunRecord.from_dict(doc)
    except TypeError as e:
        raise InputError(f"{path}: unexpected content ({e}); re-run `mlci train`") from None


def record_from_run(settings: Settings, run_id: str) -> RunRecord:
    """Rebuild the train stage's record from an MLflow run (for `--run RUN_ID`)."""
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
    meta = json.loads(tags.get(T.RUN_LABELS, "{}") or "{}")
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
        task=tags.get(T.MODEL_TASK, "binary"),
        classes=meta.get("classes"),
        positive_class=meta.get("positive_class"),
    )
