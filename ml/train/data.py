"""The training data of one run: the frame (read once per process), features, label, split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.config import Settings
from ml.data.dataset import DatasetVersion, read_frame
from ml.errors import InputError
from ml.train.model import feature_frame

# One frame per process: `mlci pipeline run` runs train and evaluate in one process, and
# re-parsing a 1M-row CSV costs seconds. Keyed by path + digest, so a changed file is re-read.
_last_frame: tuple[tuple[str, str], pd.DataFrame] | None = None


def load_frame(settings: Settings, dataset: DatasetVersion) -> pd.DataFrame:
    global _last_frame
    key = (str(dataset.path.resolve()), dataset.digest)
    if _last_frame is not None and _last_frame[0] == key:
        return _last_frame[1]
    frame = read_frame(dataset, settings)
    needed = [settings.data.id_column, settings.data.target, *settings.data.features.all]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(
            f"{dataset.path}: missing column(s) {', '.join(missing)} "
            f"(see data.features/target/id_column in mlci.yaml)"
        )
    _last_frame = (key, frame)
    return frame


@dataclass
class Split:
    train_idx: np.ndarray
    test_idx: np.ndarray
    test_ids_sha256: str


def labels(frame: pd.DataFrame, settings: Settings, path: object) -> np.ndarray:
    y = pd.to_numeric(frame[settings.data.target], errors="coerce")
    if y.isna().any() or not y.isin([0, 1]).all():
        raise InputError(
            f"{path}: column {settings.data.target!r} must hold only 0/1 labels "
            f"(run `mlci data validate` for details)"
        )
    return y.to_numpy(dtype=np.int64)


def ids_digest(ids: pd.Series) -> str:
    return hashlib.sha256("\n".join(ids.astype(str)).encode()).hexdigest()


_last_split: tuple[tuple, Split] | None = None


def split_rows(frame: pd.DataFrame, y: np.ndarray, settings: Settings) -> Split:
    """Stratified, seeded train/test split; the same file and settings give the same rows.

    The last split is kept per process (keyed by the frame object, seed and size), so evaluate
    in `mlci pipeline run` does not redo train's split of a large file.
    """
    global _last_split
    key = (
        id(frame),
        len(frame),
        settings.train.seed,
        settings.data.test_size,
        settings.data.id_column,
    )
    if (
        _last_split is not None
        and _last_split[0] == key
        and _last_frame is not None
        and _last_frame[1] is frame
    ):
        return _last_split[1]
    from sklearn.model_selection import train_test_split

    train_idx, test_idx = train_test_split(
        np.arange(len(frame)),
        test_size=settings.data.test_size,
        random_state=settings.train.seed,
        stratify=y,
    )
    test_ids = frame[settings.data.id_column].iloc[test_idx]
    split = Split(train_idx, test_idx, ids_digest(test_ids))
    _last_split = (key, split)
    return split


def features(
    frame: pd.DataFrame, settings: Settings, idx: np.ndarray | None = None
) -> pd.DataFrame:
    part = frame if idx is None else frame.iloc[idx]
    return feature_frame(part, settings)
