"""run.json: what `train` hands to `evaluate` and `register` (and what `--run` rebuilds)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ml.config import Settings
from ml.errors import InputError

RUN_FILE = Path("train/run.json")


@dataclass
class SplitSpec:
    """How the held-out rows were chosen, so evaluate scores exactly the same rows."""

    seed: int
    test_size: float
    stratify: str
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
