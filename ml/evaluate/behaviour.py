"""Behaviour checks: unit tests for the model, run by `mlci evaluate` on every candidate.

Each is a gate (a GateCheck of kind `behaviour`, one JUnit testcase): the model's outputs have
the shape and type the task promises, the same input gives the same output, a batch and the
same rows one at a time agree, row order does not change predictions, and missing values and
unseen categories are handled. They run on a small sample of held-out rows, so they cost well
under a second for mlci's own pipelines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ml.evaluate.gate import GateCheck

SAMPLE_ROWS = 200
SINGLE_ROWS = 20  # rows predicted one at a time
TOLERANCE = 1e-9  # probabilities / regression outputs: batch vs single, order, repeat
UNSEEN = "__mlci_unseen_category__"

BEHAVIOUR_CHECKS = (
    "output_shape",
    "deterministic",
    "batch_vs_single",
    "row_order",
    "missing_values",
    "unseen_categories",
)
DESCRIPTIONS = {
    "output_shape": "outputs have the task's shape and type",
    "deterministic": "the same input gives the same output",
    "batch_vs_single": "a batch and the same rows one at a time agree",
    "row_order": "row order does not change predictions",
    "missing_values": "missing values are handled",
    "unseen_categories": "unseen categories are handled",
}


class _Out:
    """Predicted labels (or numbers) and class probabilities (or None) for some rows."""

    def __init__(self, model: Any, X: pd.DataFrame, proba: bool) -> None:
        self.labels = np.asarray(model.predict(X))
        self.proba = np.asarray(model.predict_proba(X), dtype=np.float64) if proba else None


def _problems_of_output(out: _Out, n: int, task: str, classes: list | None) -> list[str]:
    """Why `out` is not a valid answer for `n` rows of `task` (empty: it is)."""
    problems = []
    if out.labels.shape != (n,):
        problems.append(f"predict returned shape {out.labels.shape} for {n} rows")
        return problems
    if task == "regression":
        try:
            values = out.labels.astype(np.float64)
        except (TypeError, ValueError):
            return [f"predict returned non-numbers ({out.labels.dtype})"]
        bad = int((~np.isfinite(values)).sum())
        if bad:
            problems.append(f"{bad} prediction(s) not finite")
        return problems
    known = set(classes or [])
    unknown = {v.item() if hasattr(v, "item") else v for v in out.labels} - known
    if unknown:
        shown = ", ".join(repr(v) for v in sorted(unknown, key=str)[:5])
        problems.append(f"predicted label(s) {shown} not among the classes {classes}")
    if out.proba is not None:
        k = len(classes or [])
        if out.proba.shape != (n, k):
            problems.append(f"predict_proba returned shape {out.proba.shape}, expected {(n, k)}")
        else:
            if not np.isfinite(out.proba).all() or (out.proba < 0).any() or (out.proba > 1).any():
                problems.append("probabilities outside [0, 1]")
            worst = float(np.abs(out.proba.sum(axis=1) - 1).max()) if n else 0.0
            if worst > 1e-6:
                problems.append(f"probabilities of a row sum to 1 +- {worst:.3g}")
    return problems


def _differ(a: _Out, b: _Out, task: str) -> int:
    """Rows on which two outputs for the same rows disagree."""
    if task == "regression":
        x, y = a.labels.astype(np.float64), b.labels.astype(np.float64)
        rows = ~np.isclose(x, y, rtol=TOLERANCE, atol=TOLERANCE)
    else:
        rows = a.labels != b.labels
    if a.proba is not None and b.proba is not None and a.proba.shape == b.proba.shape:
        rows = rows | ~np.isclose(a.proba, b.proba, rtol=TOLERANCE, atol=TOLERANCE).all(axis=1)
    return int(np.asarray(rows).sum())


def _check(name: str, bad: int, detail: str = "") -> GateCheck:
    ok = bad == 0
    msg = "" if ok else f"behaviour.{name}: {DESCRIPTIONS[name]} fails: {detail}"
    return GateCheck("behaviour", name, float(bad), 0.0, ok, message=msg)


def _guard(name: str, fn: Callable[[], tuple[int, str]]) -> GateCheck:
    try:
        bad, detail = fn()
    except Exception as e:  # the model raised: the behaviour is not handled
        return _check(name, 1, f"the model raised {e.__class__.__name__}: {str(e)[:200]}")
    return _check(name, bad, detail)


def behaviour_checks(
    model: Any,
    X: pd.DataFrame,
    task: str,
    classes: list | None,
    numeric: list[str],
    categorical: list[str],
    seed: int = 0,
) -> list[GateCheck]:
    """Run every behaviour check on up to SAMPLE_ROWS rows of `X` (the model's input frame)."""
    X = X.iloc[:SAMPLE_ROWS].reset_index(drop=True)
    n = len(X)
    proba = task != "regression" and hasattr(model, "predict_proba")
    base: dict[str, _Out] = {}

    def shape() -> tuple[int, str]:
        base["out"] = _Out(model, X, proba)
        problems = _problems_of_output(base["out"], n, task, classes)
        return len(problems), "; ".join(problems)

    def first() -> _Out:
        if "out" not in base:
            base["out"] = _Out(model, X, proba)
        return base["out"]

    def deterministic() -> tuple[int, str]:
        bad = _differ(first(), _Out(model, X.copy(), proba), task)
        return bad, f"{bad} of {n} row(s) changed when predicted again"

    def batch_vs_single() -> tuple[int, str]:
        m = min(SINGLE_ROWS, n)
        one = [_Out(model, X.iloc[[i]], proba) for i in range(m)]
        joined = _Out.__new__(_Out)
        joined.labels = np.concatenate([o.labels for o in one]) if one else np.array([])
        joined.proba = np.vstack([o.proba for o in one]) if proba and one else None
        head = _Out.__new__(_Out)
        head.labels = first().labels[:m]
        head.proba = first().proba[:m] if first().proba is not None else None
        bad = _differ(head, joined, task)
        return bad, f"{bad} of {m} row(s) differ when predicted one at a time"

    def row_order() -> tuple[int, str]:
        perm = np.random.default_rng(seed).permutation(n)
        shuffled = _Out(model, X.iloc[perm].reset_index(drop=True), proba)
        back = _Out.__new__(_Out)
        inv = np.argsort(perm)
        back.labels = shuffled.labels[inv]
        back.proba = shuffled.proba[inv] if shuffled.proba is not None else None
        bad = _differ(first(), back, task)
        return bad, f"{bad} of {n} row(s) changed when the rows were shuffled"

    def missing_values() -> tuple[int, str]:
        rows = []
        cols = [*numeric, *categorical]
        for j, col in enumerate(cols):  # each feature missing once, then all of them
            row = X.iloc[[j % max(n, 1)]].copy()
            row[col] = np.nan
            rows.append(row)
        rows.append(X.iloc[[0]].copy().assign(**{c: np.nan for c in cols}))
        frame = pd.concat(rows, ignore_index=True)
        for col in categorical:
            frame[col] = frame[col].astype(object).where(frame[col].notna(), np.nan)
        problems = _problems_of_output(_Out(model, frame, proba), len(frame), task, classes)
        return len(problems), "; ".join(problems)

    def unseen_categories() -> tuple[int, str]:
        if not categorical:
            return 0, ""
        frame = X.iloc[: min(n, 10)].copy()
        for col in categorical:
            frame[col] = UNSEEN
        problems = _problems_of_output(_Out(model, frame, proba), len(frame), task, classes)
        return len(problems), "; ".join(problems)

    checks = {
        "output_shape": shape,
        "deterministic": deterministic,
        "batch_vs_single": batch_vs_single,
        "row_order": row_order,
        "missing_values": missing_values,
        "unseen_categories": unseen_categories,
    }
    return [_guard(name, checks[name]) for name in BEHAVIOUR_CHECKS]
