"""Profile a CSV for `mlci init`: column types, nulls, ranges, categories, the ID and the task.

The whole file is read once with the strict pyarrow parser (`ml.data.dataset.read_csv`, the
reader validation and training use, so the profiled dtypes are the ones the contract will see);
every statistic is a vectorised pandas call per column (min/max, null count, `nunique`, value
counts only for columns with few distinct values), so a 1M-row file profiles in about a second.

Task inference (`--task auto`), on the target's non-null values:
- text or boolean labels: 2 distinct values -> binary, 3 to MAX_CLASSES -> multiclass;
- numbers that are all whole numbers with 2 distinct values -> binary, 3 to MAX_INT_CLASSES
  distinct values -> multiclass (class codes such as 0/1/2);
- any other numbers (fractions, or more distinct whole numbers) -> regression.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml.errors import InputError

TASKS = ("binary", "multiclass", "regression")
MAX_CLASSES = 50  # text labels: more distinct values than this is not a classification target
MAX_INT_CLASSES = 20  # whole-number targets with more distinct values are treated as numbers
MIN_CLASS_ROWS = 5  # each class needs rows in the train split, the test split and CV folds
MAX_SET = 100  # categorical columns with at most this many values get a value-set expectation
MAX_CATEGORIES = 250  # more distinct values than this is not a usable categorical feature
ID_NAME = re.compile(r"(^|[_\W])id$|^id[_\W]", re.IGNORECASE)  # id, customer_id, ID-x
CAMEL_ID = re.compile(r"[a-z0-9](Id|ID)$")  # customerId, userID

NUMERIC, CATEGORICAL, ID, TARGET, IGNORED = "numeric", "categorical", "id", "target", "ignored"


@dataclass
class ColumnProfile:
    """What the first version says about one column."""

    name: str
    dtype: str  # as read by the strict reader: int64, float64, str, bool, ...
    kind: str  # numeric | categorical | id | target | ignored
    rows: int
    nulls: int
    distinct: int
    min: float | None = None
    max: float | None = None
    integer: bool = False  # numeric and every value a whole number
    values: list[Any] | None = None  # sorted distinct values, when there are few
    note: str = ""

    @property
    def null_fraction(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0

    @property
    def numeric(self) -> bool:
        return self.dtype.startswith(("int", "uint", "float"))


@dataclass
class DataProfile:
    """The profile of the whole file and the decisions taken from it."""

    path: Path
    rows: int
    columns: list[ColumnProfile]
    target: str
    id_column: str | None
    task: str
    task_reason: str
    classes: list[Any] | None  # classification: label values, sorted
    class_counts: dict[Any, int] = field(default_factory=dict)
    positive_class: Any = None
    seconds: float = 0.0
    frame: pd.DataFrame | None = field(default=None, repr=False)

    def column(self, name: str) -> ColumnProfile:
        return next(c for c in self.columns if c.name == name)

    @property
    def numeric(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == NUMERIC]

    @property
    def categorical(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == CATEGORICAL]

    @property
    def ignored(self) -> list[ColumnProfile]:
        return [c for c in self.columns if c.kind == IGNORED]


def native(value: Any) -> Any:
    """A numpy/pandas scalar as a plain Python value (for YAML and JSON)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _sort_key(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, int | float | bool) else (1, str(v))


def read_table(path: Path) -> pd.DataFrame:
    """Read the CSV strictly; a missing, empty or malformed file is bad input (exit 2)."""
    from ml.data.dataset import read_csv

    if not path.exists():
        raise InputError(f"{path}: CSV file not found (--data)")
    if not path.is_file():
        raise InputError(f"{path}: is not a file (--data)")
    frame = read_csv(path)  # UnreadableCsv is an InputError naming the file
    if frame.empty:
        raise InputError(f"{path}: the CSV has a header but no data rows (--data)")
    return frame


def _profile_column(s: pd.Series, name: str, rows: int) -> ColumnProfile:
    dtype = str(s.dtype)
    nulls = int(s.isna().sum())
    distinct = int(s.nunique(dropna=True))
    col = ColumnProfile(name, dtype, "", rows, nulls, distinct)
    present = s.dropna()
    if col.numeric and len(present):
        col.min, col.max = float(present.min()), float(present.max())
        col.integer = bool(dtype.startswith(("int", "uint")) or (present % 1 == 0).all())
    if distinct <= MAX_SET:
        col.values = sorted((native(v) for v in present.unique()), key=_sort_key)
    return col


def _is_id_like(col: ColumnProfile, rows: int) -> bool:
    unique = col.nulls == 0 and col.distinct == rows and rows > 1
    if not unique:
        return False
    return bool(ID_NAME.search(col.name) or CAMEL_ID.search(col.name)) or not col.numeric


def infer_task(target: ColumnProfile, frame_target: pd.Series) -> tuple[str, str]:
    """(task, the rule that chose it) for `--task auto`; see the module docstring."""
    n = target.distinct
    if not target.numeric:
        if n == 2:
            return "binary", "text/boolean target with 2 distinct values"
        if n <= MAX_CLASSES:
            return "multiclass", f"text/boolean target with {n} distinct values (3-{MAX_CLASSES})"
        raise InputError(
            f"--target {target.name!r}: a text column with {n} distinct values is neither a "
            f"class label (at most {MAX_CLASSES} classes) nor a number; choose another target"
        )
    if target.integer and n == 2:
        return "binary", "whole-number target with 2 distinct values"
    if target.integer and n <= MAX_INT_CLASSES:
        return "multiclass", (
            f"whole-number target with {n} distinct values (3-{MAX_INT_CLASSES}: class codes)"
        )
    why = "fractional values" if not target.integer else f"{n} distinct whole numbers"
    return "regression", f"numeric target with {why} (more than {MAX_INT_CLASSES} or fractions)"


def profile_csv(
    path: Path, target: str, task: str = "auto", id_column: str | None = None
) -> DataProfile:
    """Profile `path` and decide task, ID, features. Raises InputError (exit 2) for bad input."""
    started = time.perf_counter()
    frame = read_table(path)
    rows = len(frame)
    columns = {c: _profile_column(frame[c], c, rows) for c in frame.columns}
    if target not in columns:
        raise InputError(
            f"--target {target!r}: not a column of {path} (columns: {', '.join(frame.columns)})"
        )
    tcol = columns[target]
    if tcol.nulls:
        raise InputError(
            f"--target {target!r}: {tcol.nulls} of {rows} rows of {path} have no label; "
            f"drop or fill them first (a row without a label cannot be trained or evaluated on)"
        )
    if tcol.distinct < 2:
        raise InputError(
            f"--target {target!r}: every row of {path} has the same value "
            f"({tcol.values[0] if tcol.values else '?'}); there is nothing to learn"
        )

    # ID: given, or the first unique column whose name says ID (or an all-distinct text column)
    if id_column is not None:
        if id_column not in columns:
            raise InputError(f"--id {id_column!r}: not a column of {path}")
        if id_column == target:
            raise InputError(f"--id {id_column!r}: the ID column cannot be the target")
        idc = columns[id_column]
        if idc.nulls or idc.distinct != rows:
            raise InputError(
                f"--id {id_column!r}: an ID must be unique and never empty; {path} has "
                f"{rows - idc.distinct - (1 if idc.nulls else 0)} duplicated and {idc.nulls} "
                f"empty values in it"
            )
    else:
        named = [c for c in columns.values() if c.name != target and _is_id_like(c, rows)]
        id_column = named[0].name if named else None

    # task
    if task == "auto":
        task, reason = infer_task(tcol, frame[target])
    elif task not in TASKS:
        raise InputError(f"--task {task!r}: expected auto, {', '.join(TASKS)}")
    else:
        reason = "given with --task"
        if task == "binary" and tcol.distinct != 2:
            raise InputError(
                f"--task binary: target {target!r} has {tcol.distinct} distinct values, not 2"
            )
        if task == "multiclass" and not 3 <= tcol.distinct <= MAX_CLASSES:
            raise InputError(
                f"--task multiclass: target {target!r} has {tcol.distinct} distinct values "
                f"(expected 3 to {MAX_CLASSES}; 2 classes is --task binary)"
            )
        if task == "regression" and not tcol.numeric:
            raise InputError(
                f"--task regression: target {target!r} is not numeric (dtype {tcol.dtype})"
            )

    classes = counts = positive = None
    if task != "regression":
        vc = frame[target].value_counts()
        counts = {native(k): int(v) for k, v in vc.items()}
        classes = sorted(counts, key=_sort_key)
        thin = [f"{k!r} ({v})" for k, v in counts.items() if v < MIN_CLASS_ROWS]
        if thin:
            raise InputError(
                f"--target {target!r}: class(es) {', '.join(thin)} have fewer than "
                f"{MIN_CLASS_ROWS} rows in {path}; a class needs rows in both the training "
                f"and the test split"
            )
        if task == "binary":  # the minority class; on a tie the later one in sorted order
            positive = min(reversed(classes), key=lambda k: counts[k])

    for c in columns.values():
        if c.name == target:
            c.kind = TARGET
        elif c.name == id_column:
            c.kind = ID
        elif c.nulls == rows:
            c.kind, c.note = IGNORED, "every value is empty"
        elif c.distinct < 2:
            c.kind, c.note = IGNORED, "a single value: it cannot tell rows apart"
        elif c.numeric:
            c.kind = NUMERIC
        elif c.distinct > MAX_CATEGORIES:
            c.kind = IGNORED
            c.note = (
                f"{c.distinct} distinct text values: too many for a categorical feature "
                f"(at most {MAX_CATEGORIES}); free text or a second key"
            )
        else:
            c.kind = CATEGORICAL
    if not any(c.kind in (NUMERIC, CATEGORICAL) for c in columns.values()):
        raise InputError(f"{path}: no usable feature column besides the target and the ID")
    return DataProfile(
        path=path,
        rows=rows,
        columns=list(columns.values()),
        target=target,
        id_column=id_column,
        task=task,
        task_reason=reason,
        classes=classes,
        class_counts=counts or {},
        positive_class=positive,
        seconds=time.perf_counter() - started,
        frame=frame,
    )
