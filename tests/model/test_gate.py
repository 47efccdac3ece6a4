"""The evaluation gate's rules and messages (pure logic, no MLflow)."""

from __future__ import annotations

import math
from xml.etree import ElementTree as ET

import pytest

from ml.config import EvaluateSettings
from ml.errors import ConfigError
from ml.evaluate.gate import judge
from ml.evaluate.metrics import compute_metrics
from ml.evaluate.report import summary_markdown, write_junit

CONFIG = EvaluateSettings(
    min={"roc_auc": 0.80, "f1": 0.55},
    max={"log_loss": 0.50},
    regression_tolerance=0.01,
    compare_to_champion=["roc_auc", "log_loss"],
)
GOOD = {
    "roc_auc": 0.83,
    "f1": 0.62,
    "precision": 0.6,
    "recall": 0.6,
    "accuracy": 0.78,
    "log_loss": 0.47,
}


def test_all_thresholds_met_without_champion_passes_and_skips_champion_checks():
    verdict = judge(GOOD, CONFIG)
    assert verdict.passed
    assert [c.name for c in verdict.checks] == [
        "min.roc_auc",
        "min.f1",
        "max.log_loss",
        "champion.roc_auc",
        "champion.log_loss",
    ]
    assert [c.skipped for c in verdict.checks] == [False, False, False, True, True]


def test_bound_is_inclusive():
    assert judge({**GOOD, "roc_auc": 0.80, "log_loss": 0.50}, CONFIG).passed


def test_min_and_max_failures_name_metric_value_and_bound():
    verdict = judge({**GOOD, "roc_auc": 0.79, "log_loss": 0.61}, CONFIG)
    assert not verdict.passed
    assert [c.message for c in verdict.failures] == [
        "roc_auc = 0.7900 is below the minimum 0.8000 (evaluate.min.roc_auc)",
        "log_loss = 0.6100 is above the maximum 0.5000 (evaluate.max.log_loss)",
    ]


def test_nan_metric_fails():
    assert not judge({**GOOD, "roc_auc": math.nan}, CONFIG).passed


def test_champion_within_tolerance_passes():
    champion = {**GOOD, "roc_auc": 0.835, "log_loss": 0.465}
    verdict = judge(GOOD, CONFIG, champion, "champion v3")
    assert verdict.passed
    roc = verdict.checks[3]
    assert (roc.baseline, roc.bound) == (0.835, pytest.approx(0.825))


def test_champion_regression_fails_for_higher_and_lower_is_better_metrics():
    champion = {**GOOD, "roc_auc": 0.85, "log_loss": 0.44}
    verdict = judge(GOOD, CONFIG, champion, "champion v3")
    assert [c.message for c in verdict.failures] == [
        "roc_auc = 0.8300 regressed against champion v3 (0.8500): below the bound 0.8400 "
        "(champion v3 - evaluate.regression_tolerance 0.01)",
        "log_loss = 0.4700 regressed against champion v3 (0.4400): above the bound 0.4500 "
        "(champion v3 + evaluate.regression_tolerance 0.01)",
    ]


def test_unknown_metric_in_config_is_a_config_error():
    with pytest.raises(ConfigError, match=r"evaluate.min: unknown metric\(s\) auc "):
        judge(GOOD, EvaluateSettings(min={"auc": 0.8}))


def test_junit_has_one_testcase_per_gate_with_failure_and_skip(tmp_path):
    verdict = judge({**GOOD, "f1": 0.5}, CONFIG)
    path = write_junit(tmp_path / "junit.xml", verdict)
    suite = ET.parse(path).getroot()
    assert suite.get("tests") == "5" and suite.get("failures") == "1"
    assert suite.get("skipped") == "2"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases][:3] == ["roc_auc >= 0.8", "f1 >= 0.55", "log_loss <= 0.5"]
    failure = cases[1].find("failure")
    assert failure.get("message") == "f1 = 0.5000 is below the minimum 0.5500 (evaluate.min.f1)"


def test_summary_names_every_failing_gate_with_value_bound_and_baseline():
    champion = {**GOOD, "roc_auc": 0.90}
    metrics = {**GOOD, "f1": 0.5}
    verdict = judge(metrics, CONFIG, champion, "champion v2")
    text = summary_markdown(verdict, metrics, champion, "champion v2", "abc", "2025Q1", 100)
    assert text.startswith("# Evaluation gate: FAILED\n")
    assert "| min.f1 | f1 | 0.5000 | 0.5500 | - |" in text
    assert "| champion.roc_auc | roc_auc | 0.8300 | 0.8900 | 0.9000 (champion v2) |" in text
    assert "- f1 = 0.5000 is below the minimum 0.5500 (evaluate.min.f1)" in text


def test_metrics_are_computed_from_probabilities():
    import numpy as np

    y = np.array([0, 0, 1, 1])
    m = compute_metrics(y, np.array([0.1, 0.6, 0.4, 0.9]))
    assert m["roc_auc"] == 0.75
    assert (m["accuracy"], m["precision"], m["recall"], m["f1"]) == (0.5, 0.5, 0.5, 0.5)
    assert m["log_loss"] == pytest.approx(0.5108, abs=1e-4)
