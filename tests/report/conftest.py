"""Fixtures of the report tests: synthetic evaluation inputs per task, a parsed page, Chromium.

Synthetic inputs have known structure (seeded), so each chart's data can be checked against
scikit-learn on the same arrays. The browser fixtures need Debian's `chromium`
(scripts/install-chromium.sh): they skip without it, and fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from ml.evaluate.html_report import ReportInputs
from tests.conftest import need_service


def gate(kind, metric, value, bound=None, passed=True, skipped=False, baseline=None, message=""):
    """A GateCheck.to_dict() dict."""
    return {
        "kind": kind,
        "metric": metric,
        "value": value,
        "bound": bound,
        "passed": passed,
        "skipped": skipped,
        "baseline": baseline,
        "message": message,
        "name": f"{kind}.{metric}",
    }


def binary_inputs(n: int = 5000, champion: bool = True, seed: int = 0) -> ReportInputs:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    scores = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    champ = np.clip(0.2 * y + 0.8 * rng.random(n), 0, 1)
    metrics = {"roc_auc": 0.83, "f1": 0.61, "precision": 0.58, "recall": 0.64, "log_loss": 0.41}
    cmetrics = {"roc_auc": 0.86, "f1": 0.60, "precision": 0.57, "recall": 0.62, "log_loss": 0.39}
    checks = [
        gate("min", "roc_auc", 0.83, 0.9, passed=False, message="roc_auc = 0.8300 is below"),
        gate("max", "log_loss", 0.41, 0.6),
    ]
    if champion:
        checks.append(
            gate("champion", "roc_auc", 0.83, 0.85, passed=False, baseline=0.86, message="regr")
        )
        checks.append(gate("champion", "log_loss", 0.41, 0.40, passed=False, baseline=0.39))
    else:
        checks.append(gate("champion", "roc_auc", 0.83, skipped=True, message="no champion"))
    return ReportInputs(
        task="binary",
        run_id="0123abcd",
        y_true=y,
        y_pred=(scores >= 0.5).astype(int),
        scores=scores,
        classes=[0, 1],
        positive_class=1,
        metrics=metrics,
        checks=checks,
        champion_pred=(champ >= 0.5).astype(int) if champion else None,
        champion_scores=champ if champion else None,
        champion_metrics=cmetrics if champion else None,
        champion_label="champion v7" if champion else "champion",
        champion_run_id="feed0001" if champion else None,
        dataset_version="2025Q1",
        dataset_digest="9e107d9d372bb6826bd81d3542a419d6",
        model_name="churn-classifier",
    )


def multiclass_inputs(n: int = 6000, k: int = 4, seed: int = 1) -> ReportInputs:
    rng = np.random.default_rng(seed)
    classes = [f"tier-{i}" for i in range(k)]
    y = rng.choice(classes, n, p=np.linspace(1, 2, k) / np.linspace(1, 2, k).sum())
    pred = np.where(rng.random(n) < 0.7, y, rng.choice(classes, n))
    champ = np.where(rng.random(n) < 0.5, y, rng.choice(classes, n))
    return ReportInputs(
        task="multiclass",
        run_id="multi01",
        y_true=y,
        y_pred=pred,
        classes=classes,
        metrics={"accuracy": 0.77, "f1_macro": 0.76, "log_loss": 0.8},
        champion_metrics={"accuracy": 0.62, "f1_macro": 0.61, "log_loss": 1.1},
        champion_pred=champ,
        checks=[gate("min", "f1_macro", 0.76, 0.7), gate("champion", "accuracy", 0.77, 0.61)],
        champion_label="champion v2",
    )


def regression_inputs(n: int = 5000, champion: bool = True, seed: int = 2) -> ReportInputs:
    rng = np.random.default_rng(seed)
    y = rng.normal(50, 10, n)
    pred = y + rng.normal(0, 2, n)
    champ = y + rng.normal(3, 4, n)
    return ReportInputs(
        task="regression",
        run_id="reg01",
        y_true=y,
        y_pred=pred,
        metrics={"rmse": 2.0, "mae": 1.6, "r2": 0.96, "mape": 0.03},
        champion_metrics={"rmse": 4.1, "mae": 3.3, "r2": 0.84, "mape": 0.07} if champion else None,
        champion_pred=champ if champion else None,
        checks=[gate("max", "rmse", 2.0, 3.0), gate("min", "r2", 0.96, 0.9)],
    )


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    children: list[Element] = field(default_factory=list)
    text: str = ""

    def all_text(self) -> str:
        return self.text + "".join(c.all_text() for c in self.children)

    def iter(self, tag: str | None = None):
        for c in self.children:
            if tag is None or c.tag == tag:
                yield c
            yield from c.iter(tag)

    def find(self, tag: str, **attrs: str) -> list[Element]:
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [e for e in self.iter(tag) if all(e.attrs.get(k) == v for k, v in want.items())]


VOID = {"meta", "link", "br", "img", "input", "hr", "area", "base", "col", "source", "wbr"}


class _TreeBuilder(HTMLParser):
    """A tolerant element tree (HTML void elements and SVG self-closing tags handled)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        el = Element(tag, dict(attrs))
        self.stack[-1].children.append(el)
        if tag not in VOID:
            self.stack.append(el)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1].children.append(Element(tag, dict(attrs)))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(Element("#text", {}, text=data))


def parse(markup: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(markup)
    builder.close()
    return builder.root


def chart_ids(page: Element) -> set[str]:
    return {svg.attrs["data-chart"] for svg in page.iter("svg")}


def gate_rows(page: Element) -> dict[str, dict[str, str]]:
    """Each gate row of the table: its cells by field (value, bound, baseline, result...)."""
    rows = {}
    for tr in page.iter("tr"):
        if "data-gate" not in tr.attrs:
            continue
        tds = list(tr.iter("td"))
        cells = {td.attrs.get("data-field"): td.all_text().strip() for td in tds}
        cells["metric"] = tds[1].all_text().strip()
        cells["result"] = next(td for td in tds if "result" in (td.attrs.get("class") or ""))
        cells["result"] = cells["result"].all_text().strip()
        rows[tr.attrs["data-gate"]] = cells
    return rows


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of Debian's Chromium; skips without it (fails under CI=true)."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    need_service("no chromium on PATH (run scripts/install-chromium.sh)")
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project where `mlci train` then `mlci evaluate` ran, the latter with a gate that fails
    (evaluate.min.roc_auc = 0.99), so the real report has passing and failing gates."""
    from click.testing import CliRunner

    from ml.cli import cli
    from tests.conftest import write_project

    config = write_project(tmp_path_factory.mktemp("report-project"))
    env = {"MLCI_TRAIN__PARAMS__MAX_ITER": "20"}
    with pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith("MLCI_")]:
            mp.delenv(var)
        mp.chdir(config.parent)
        runner = CliRunner()
        trained = runner.invoke(cli, ["--config", str(config), "train"], env=env)
        assert trained.exit_code == 0, trained.output
        env["MLCI_EVALUATE__MIN__ROC_AUC"] = "0.99"
        result = runner.invoke(cli, ["--config", str(config), "evaluate"], env=env)
    assert result.exit_code == 1, result.output  # the gate failed, as configured
    return config
