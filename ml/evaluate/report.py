"""Evaluation outputs: metrics.json, JUnit XML (one testcase per gate), summary.md, PNG plots."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np

from ml.evaluate.gate import EvaluationVerdict, GateCheck

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
    return (
        f"{c.metric} not below champion"
        if c.metric != "log_loss"
        else f"{c.metric} not above champion"
    )


def write_junit(path: Path, verdict: EvaluationVerdict, seconds: float = 0.0) -> Path:
    """One <testcase> per gate check: failed gates carry <failure>, skipped ones <skipped>."""
    suite = ET.Element(
        "testsuite",
        name=SUITE,
        tests=str(len(verdict.checks)),
        failures=str(len(verdict.failures)),
        skipped=str(sum(c.skipped for c in verdict.checks)),
        errors="0",
        time=f"{seconds:.3f}",
    )
    for c in verdict.checks:
        case = ET.SubElement(
            suite, "testcase", classname=f"{SUITE}.{c.kind}", name=_case_name(c), time="0"
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
    ET.indent(suite)
    path.write_bytes(ET.tostring(suite, encoding="utf-8", xml_declaration=True) + b"\n")
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


def write_plots(out: Path, y: np.ndarray, proba: np.ndarray, threshold: float = 0.5) -> list[Path]:
    """Confusion matrix, ROC and precision-recall curves as PNGs (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

    paths = []
    pred = (proba >= threshold).astype(int)
    cm = confusion_matrix(y, pred, labels=[0, 1])
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.imshow(cm, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        ax.text(
            j, i, str(v), ha="center", va="center", color="white" if v > cm.max() / 2 else "black"
        )
    ax.set(
        xticks=[0, 1], yticks=[0, 1], xlabel="predicted", ylabel="actual", title="Confusion matrix"
    )
    paths.append(out / "confusion_matrix.png")
    fig.savefig(paths[-1], bbox_inches="tight")
    plt.close(fig)

    fpr, tpr, _ = roc_curve(y, proba)
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.plot(fpr, tpr, lw=1.5)
    ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
    paths.append(out / "roc_curve.png")
    fig.savefig(paths[-1], bbox_inches="tight")
    plt.close(fig)

    precision, recall, _ = precision_recall_curve(y, proba)
    step = max(1, len(recall) // 2000)  # thousands of points draw the same curve
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.plot(recall[::step], precision[::step], lw=1.5)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve")
    paths.append(out / "pr_curve.png")
    fig.savefig(paths[-1], bbox_inches="tight")
    plt.close(fig)
    return paths


def clean_metrics(metrics: dict[str, float]) -> dict[str, float | None]:
    return {k: _num(v) for k, v in metrics.items()}
