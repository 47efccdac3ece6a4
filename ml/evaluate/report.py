"""Evaluation outputs: metrics.json, JUnit XML (one testcase per gate), summary.md, PNG plots."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np

from ml.evaluate.behaviour import DESCRIPTIONS
from ml.evaluate.gate import EvaluationVerdict, GateCheck
from ml.tasks import DIRECTION

SUITE = "evaluation-gate"


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def write_json(path: Path, payload: Any) -> Path:
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(
        json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
    )
    tmp.replace(path)
    return path


def _case_name(c: GateCheck) -> str:
    if c.kind == "min":
        return f"{c.metric} >= {c.bound:g}"
    if c.kind == "max":
        return f"{c.metric} <= {c.bound:g}"
    if c.kind == "behaviour":
        return f"{c.metric}: {DESCRIPTIONS.get(c.metric, c.metric)}"
    return (
        f"{c.metric} not below champion"
        if DIRECTION.get(c.metric, 1) > 0
        else f"{c.metric} not above champion"
    )


def write_junit(
    path: Path, verdict: EvaluationVerdict, seconds: float = 0.0, suite: str = SUITE
) -> Path:
    """One <testcase> per gate check: failed gates carry <failure>, skipped ones <skipped>."""
    root = ET.Element(
        "testsuite",
        name=suite,
        tests=str(len(verdict.checks)),
        failures=str(len(verdict.failures)),
        skipped=str(sum(c.skipped for c in verdict.checks)),
        errors="0",
        time=f"{seconds:.3f}",
    )
    for c in verdict.checks:
        case = ET.SubElement(
            root, "testcase", classname=f"{suite}.{c.kind}", name=_case_name(c), time="0"
        )
        ET.SubElement(case, "system-out").text = (
            f"{c.metric} = {c.value:.6f}"
            + (f", bound {c.bound:.6f}" if c.bound is not None else "")
            + (f", champion {c.baseline:.6f}" if c.baseline is not None else "")
        )
        if c.skipped:
            ET.SubElement(case, "skipped", message=c.message)
        elif not c.passed:
            ET.SubElement(case, "failure", message=c.message, type="GateFailed").text = c.message
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")
    return path


def summary_markdown(
    verdict: EvaluationVerdict,
    metrics: dict[str, float],
    champion: dict[str, float] | None,
    champion_label: str | None,
    run_id: str,
    dataset: str,
    n_test: int,
) -> str:
    """The human verdict: every failing gate with metric, value, bound and baseline."""
    lines = [
        f"# Evaluation gate: {verdict.word.upper()}",
        "",
        f"Run `{run_id}` on dataset `{dataset}`, {n_test} held-out rows.",
        "",
    ]
    if verdict.failures:
        lines += [
            "## Failing gates",
            "",
            "| gate | metric | value | bound | baseline |",
            "|---|---|---|---|---|",
        ]
        for c in verdict.failures:
            base = f"{c.baseline:.4f} ({champion_label})" if c.baseline is not None else "-"
            bound = f"{c.bound:.4f}" if c.bound is not None else "-"
            lines.append(f"| {c.name} | {c.metric} | {c.value:.4f} | {bound} | {base} |")
        lines += [""] + [f"- {c.message}" for c in verdict.failures] + [""]
    lines += ["## All gates", "", "| gate | value | bound | result |", "|---|---|---|---|"]
    for c in verdict.checks:
        result = "skipped" if c.skipped else ("pass" if c.passed else "**FAIL**")
        bound = f"{c.bound:.4f}" if c.bound is not None else "-"
        lines.append(f"| {c.name} | {c.value:.4f} | {bound} | {result} |")
    lines += [
        "",
        "## Metrics (held-out split)",
        "",
        "| metric | candidate | champion |",
        "|---|---|---|",
    ]
    for k, v in metrics.items():
        ch = f"{champion[k]:.4f}" if champion and k in champion else "-"
        lines.append(f"| {k} | {v:.4f} | {ch} |")
    if champion is None:
        lines += ["", "No champion yet: non-regression checks were skipped."]
    return "\n".join(lines) + "\n"


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path, paths: list[Path]) -> None:
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    paths.append(path)


def write_confusion_matrix(out: Path, y: np.ndarray, pred: np.ndarray, classes: list) -> Path:
    from sklearn.metrics import confusion_matrix

    plt = _figure()
    cm = confusion_matrix(y, pred, labels=classes)
    k = len(classes)
    size = max(4, min(12, 0.6 * k + 2))
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(
            j, i, str(v), ha="center", va="center", color="white" if v > cm.max() / 2 else "black"
        )
    names = [str(c) for c in classes]
    ax.set(
        xticks=range(k),
        yticks=range(k),
        xticklabels=names,
        yticklabels=names,
        xlabel="predicted",
        ylabel="actual",
        title="Confusion matrix",
    )
    paths: list[Path] = []
    _save(plt, fig, out / "confusion_matrix.png", paths)
    return paths[0]


def write_plots(
    out: Path,
    y: np.ndarray,
    pred: np.ndarray,
    task: str = "binary",
    scores: np.ndarray | None = None,
    classes: list | None = None,
    positive_class: Any = 1,
) -> list[Path]:
    """PNGs for the task (matplotlib, Agg backend): classification a confusion matrix, binary
    also ROC and precision-recall curves (when there are scores), regression predicted vs
    actual and residuals."""
    plt = _figure()
    paths: list[Path] = []
    if task == "regression":
        yt, yp = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
        step = max(1, len(yt) // 5000)  # thousands of points draw the same cloud
        fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
        ax.scatter(yt[::step], yp[::step], s=4, alpha=0.5)
        lo, hi = float(min(yt.min(), yp.min())), float(max(yt.max(), yp.max()))
        ax.plot([lo, hi], [lo, hi], ls="--", lw=0.8, color="grey")
        ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
        _save(plt, fig, out / "predicted_vs_actual.png", paths)
        fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
        ax.scatter(yp[::step], (yt - yp)[::step], s=4, alpha=0.5)
        ax.axhline(0, ls="--", lw=0.8, color="grey")
        ax.set(xlabel="predicted", ylabel="actual - predicted", title="Residuals")
        _save(plt, fig, out / "residuals.png", paths)
        return paths
    paths.append(write_confusion_matrix(out, y, pred, list(classes or np.unique(y))))
    if task != "binary" or scores is None:
        return paths
    from sklearn.metrics import precision_recall_curve, roc_curve

    pos = np.asarray(y) == positive_class
    fpr, tpr, _ = roc_curve(pos, scores)
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.plot(fpr, tpr, lw=1.5)
    ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    _save(plt, fig, out / "roc_curve.png", paths)

    precision, recall, _ = precision_recall_curve(pos, scores)
    step = max(1, len(recall) // 2000)  # thousands of points draw the same curve
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.plot(recall[::step], precision[::step], lw=1.5)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve")
    _save(plt, fig, out / "pr_curve.png", paths)
    return paths


def clean_metrics(metrics: dict[str, float]) -> dict[str, float | None]:
    return {k: _num(v) for k, v in metrics.items()}
