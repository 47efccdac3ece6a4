"""`mlci evaluate` writes report.html + report.css into build/evaluate and logs them to the run."""

from __future__ import annotations

import json

import pytest

from ml.config import load_settings
from ml.evaluate.html_report import REPORT_CSS, REPORT_HTML
from tests.report.conftest import chart_ids, gate_rows, parse

pytestmark = pytest.mark.slow


def test_evaluate_writes_the_report_beside_metrics_json(evaluated):
    out = load_settings(evaluated).build_dir / "evaluate"
    metrics = json.loads((out / "metrics.json").read_text())
    page = parse((out / REPORT_HTML).read_text())
    rows = gate_rows(page)
    assert list(rows) == [c["name"] for c in metrics["checks"]]
    assert rows["min.roc_auc"]["result"] == "FAIL"
    assert rows["min.roc_auc"]["bound"] == "0.9900"
    assert rows["min.roc_auc"]["value"] == f"{metrics['metrics']['roc_auc']:.4f}"
    assert chart_ids(page) == {"roc", "pr", "metrics", "confusion_candidate"}
    text = page.all_text()
    for fact in (metrics["run_id"], metrics["dataset"]["version"], metrics["dataset"]["digest"]):
        assert fact in text
    assert f"{metrics['n_test']:,}" in text
    assert (out / REPORT_CSS).stat().st_size > 0


def test_report_is_logged_to_the_run(evaluated):
    import mlflow

    settings = load_settings(evaluated)
    run_id = json.loads((settings.build_dir / "evaluate/metrics.json").read_text())["run_id"]
    mlflow.set_tracking_uri(settings.tracking_uri)
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "evaluate")}
    assert {f"evaluate/{REPORT_HTML}", f"evaluate/{REPORT_CSS}"} <= logged
