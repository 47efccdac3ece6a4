"""The training data of one run: the frame, features, labels (any type, per task), the split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ml.config import Settings
from ml.data.dataset import DatasetVersion, read_frame
from ml.errors import InputError
from ml.session import Session
from ml.tasks import is_classification
from ml.train.model import feature_frame


def load_frame(
    settings: Settings, dataset: DatasetVersion, session: Session | None = None
) -> pd.DataFrame:
    """The dataset's frame with every configured column present (read once per session)."""
    key = (str(dataset.path.resolve()), dataset.digest)
    if session is not None and key in session.frames:
        return session.frames[key]
    frame = read_frame(dataset, settings)
    d = settings.data
    needed = [*([d.id_column] if d.id_column else []), d.target, *d.features.all]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(
            f"{dataset.path}: missing column(s) {', '.join(missing)} "
            f"(see data.features/target/id_column in mlci.yaml)"
        )
    if session is not None:
        session.frames.clear()  # one dataset at a time: a 1M-row frame is large
        session.frames[key] = frame
    return frame


@dataclass
class Split:
    train_idx: np.ndarray
    test_idx: np.ndarray
    test_ids_sha256: str


def labels(frame: pd.DataFrame, settings: Settings, path: object) -> np.ndarray:
    """The target column as the model learns it: numbers for regression, the values themselves
    (strings, integers, booleans) for classification."""
    target, task = settings.data.target, settings.train.task
    col = frame[target]
    if task == "regression":
        y = pd.to_numeric(col, errors="coerce")
        bad = int(y.isna().sum())
        if bad or not np.isfinite(y.to_numpy(dtype=np.float64)).all():
            raise InputError(
                f"{path}: column {target!r} must hold finite numbers for train.task regression "
                f"({bad} row(s) empty or not numeric; run `mlci data validate` for details)"
            )
        return y.to_numpy(dtype=np.float64)
    missing = int(col.isna().sum())
    if missing:
        raise InputError(
            f"{path}: column {target!r} has {missing} empty label(s); every training row needs "
            f"one (run `mlci data validate` for details)"
        )
    y = col.to_numpy()
    if y.dtype.kind in "OUT" or str(col.dtype).startswith("string"):
        y = col.astype(object).to_numpy()
    n = len(pd.unique(y))
    if task == "binary" and n != 2:
        hint = "set train.task: multiclass" if n > 2 else "the data needs both classes"
        raise InputError(
            f"{path}: column {target!r} holds {n} distinct value(s) but train.task is binary "
            f"({hint})"
        )
    if task == "multiclass" and n < 2:
        raise InputError(f"{path}: column {target!r} holds a single class; nothing to learn")
    return y


def positive_class(settings: Settings, y: np.ndarray) -> Any:
    """The binary task's positive label: train.positive_class matched against the labels seen
    (YAML may turn `yes` into True or `1` into 1 where the CSV held strings), else the minority
    class (ties: the first in sorted order)."""
    values, counts = np.unique(y, return_counts=True)
    wanted = settings.train.positive_class
    if wanted is None:
        order = sorted(
            zip(counts.tolist(), [str(v) for v in values], range(len(values)), strict=True)
        )
        return json_label(values[order[0][2]])
    for v in values:
        if v == wanted or str(v) == str(wanted):
            return json_label(v)
    if isinstance(wanted, bool):
        words = {True: ("yes", "true", "y", "1"), False: ("no", "false", "n", "0")}[wanted]
        for v in values:
            if str(v).strip().lower() in words:
                return json_label(v)
    raise InputError(
        f"train.positive_class: {wanted!r} is not one of the labels of column "
        f"{settings.data.target!r} ({', '.join(repr(v) for v in values.tolist())})"
    )


def json_label(v: Any) -> Any:
    """A label as JSON-native data (numpy scalars become Python ones)."""
    return v.item() if isinstance(v, np.generic) else v


def ids_digest(ids: pd.Series) -> str:
    return hashlib.sha256("\n".join(ids.astype(str)).encode()).hexdigest()


def split_rows(
    frame: pd.DataFrame,
    y: np.ndarray,
    settings: Settings,
    session: Session | None = None,
    key: tuple = (),
) -> Split:
    """Seeded train/test split (stratified for classification); the same file and settings
    give the same rows. The digest names the held-out rows by ID (by row number without an
    ID column), so evaluate can prove it scores the rows training held out.

    `key` (the dataset's path and digest) lets a session reuse the split for evaluate.
    """
    full_key = (
        *key,
        len(frame),
        settings.train.seed,
        settings.data.test_size,
        settings.data.id_column,
        settings.train.task,
    )
    if session is not None and key and full_key in session.splits:
        return session.splits[full_key]
    from sklearn.model_selection import train_test_split

    train_idx, test_idx = train_test_split(
        np.arange(len(frame)),
        test_size=settings.data.test_size,
        random_state=settings.train.seed,
        stratify=y if is_classification(settings.train.task) else None,
    )
    idc = settings.data.id_column
    test_ids = frame[idc].iloc[test_idx] if idc else pd.Series(test_idx)
    split = Split(train_idx, test_idx, ids_digest(test_ids))
    if session is not None and key:
        session.splits.clear()
        session.splits[full_key] = split
    return split


def features(
    frame: pd.DataFrame, settings: Settings, idx: np.ndarray | None = None
) -> pd.DataFrame:
    part = frame if idx is None else frame.iloc[idx]
    return feature_frame(part, settings)
