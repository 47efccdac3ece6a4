"""The evaluation gate: absolute thresholds and non-regression against the champion.

Pure logic (no I/O), so every rule and message is unit-tested directly. A check that cannot run
(no champion yet) is skipped, which does not fail the gate.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

from ml.config import EvaluateSettings
from ml.errors import ConfigError
from ml.tasks import DIRECTION

CheckKind = Literal["min", "max", "champion", "behaviour"]


@dataclass(frozen=True)
class GateCheck:
    """One gate: a metric compared with a bound (and, for `champion`, the baseline it came from)."""

    kind: CheckKind
    metric: str
    value: float
    bound: float | None
    passed: bool
    skipped: bool = False
    baseline: float | None = None
    message: str = ""

    @property
    def name(self) -> str:
        return f"{self.kind}.{self.metric}"

    def to_dict(self) -> dict:
        return {**asdict(self), "name": self.name}


@dataclass(frozen=True)
class EvaluationVerdict:
    checks: list[GateCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.passed]

    @property
    def word(self) -> str:
        return "passed" if self.passed else "failed"


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _check_known(
    section: str, names: list[str] | dict[str, float], known: dict[str, float]
) -> None:
    # The config refuses a metric its task lacks at load; this guards a hand-built config.
    unknown = [m for m in names if m not in known]
    if unknown:
        raise ConfigError(
            f"evaluate.{section}: unknown metric(s) {', '.join(unknown)} "
            f"(known: {', '.join(known)})"
        )


def judge(
    metrics: dict[str, float],
    config: EvaluateSettings,
    champion: dict[str, float] | None = None,
    champion_label: str = "champion",
) -> EvaluationVerdict:
    """Apply `evaluate.min`, `evaluate.max` and the champion comparison to `metrics`."""
    compare = config.compare_to_champion or []
    _check_known("min", config.min, metrics)
    _check_known("max", config.max, metrics)
    _check_known("compare_to_champion", compare, metrics)
    checks: list[GateCheck] = []
    absolute = [("min", config.min, "below the minimum"), ("max", config.max, "above the maximum")]
    for kind, bounds, breach in absolute:
        for metric, bound in bounds.items():
            value = metrics[metric]
            within = value >= bound if kind == "min" else value <= bound
            ok = not math.isnan(value) and within
            where = f"evaluate.{kind}.{metric}"
            msg = "" if ok else f"{metric} = {_fmt(value)} is {breach} {_fmt(bound)} ({where})"
            checks.append(GateCheck(kind, metric, value, bound, ok, message=msg))
    tol = config.regression_tolerance
    for metric in compare:
        value = metrics[metric]
        if champion is None or metric not in champion:
            checks.append(
                GateCheck(
                    "champion",
                    metric,
                    value,
                    None,
                    True,
                    skipped=True,
                    message="no champion to compare with; skipped",
                )
            )
            continue
        base = champion[metric]
        higher_better = DIRECTION[metric] > 0
        bound = base - tol if higher_better else base + tol
        ok = not math.isnan(value) and (value >= bound if higher_better else value <= bound)
        msg = ""
        if not ok:
            side, op = ("below", "-") if higher_better else ("above", "+")
            msg = (
                f"{metric} = {_fmt(value)} regressed against {champion_label} "
                f"({_fmt(base)}): {side} the bound {_fmt(bound)} ({champion_label} {op} "
                f"evaluate.regression_tolerance {tol:g})"
            )
        checks.append(GateCheck("champion", metric, value, bound, ok, baseline=base, message=msg))
    return EvaluationVerdict(checks)
