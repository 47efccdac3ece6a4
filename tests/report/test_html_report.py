"""The champion-vs-challenger page: gates, charts per task, escaping, CSP-safe markup, size."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from ml.evaluate.html_report import (
    MAX_CURVE_POINTS,
    MAX_SCATTER_POINTS,
    REPORT_CSS,
    REPORT_STYLE,
    _roc_pr,
    render_html,
    write_html_report,
)
from tests.report.conftest import (
    binary_inputs,
    chart_ids,
    gate_rows,
    multiclass_inputs,
    parse,
    regression_inputs,
)

ALL_INPUTS = {
    "binary": binary_inputs,
    "binary-no-champion": lambda: binary_inputs(champion=False),
    "multiclass": multiclass_inputs,
    "regression": regression_inputs,
}


def _fmt(x):
    return "-" if x is None else f"{x:.4f}"


@pytest.mark.parametrize("case", list(ALL_INPUTS))
def test_every_gate_appears_with_metric_value_bound_baseline_and_result(case):
    inputs = ALL_INPUTS[case]()
    rows = gate_rows(parse(render_html(inputs)))
    assert list(rows) == [c["name"] for c in inputs.checks]
    for c in inputs.checks:
        row = rows[c["name"]]
        assert row["metric"] == c["metric"]
        assert row["value"] == _fmt(c["value"])
        assert row["bound"] == _fmt(c["bound"])
        assert row["baseline"] == _fmt(c["baseline"])
        want = "skipped" if c["skipped"] else ("pass" if c["passed"] else "FAIL")
        assert row["result"] == want


def test_verdict_banner_counts_failing_gates():
    page = parse(render_html(binary_inputs()))
    (banner,) = page.find("p", data_verdict="failed")
    assert banner.all_text() == "Gate FAILED: 3 of 4 checks failing"
    passing = binary_inputs(champion=False)
    passing = dataclasses.replace(passing, checks=[{**c, "passed": True} for c in passing.checks])
    (banner,) = parse(render_html(passing)).find("p", data_verdict="passed")
    assert "PASSED" in banner.all_text()


def test_text_is_escaped_everywhere():
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    inputs = dataclasses.replace(
        multiclass_inputs(),
        run_id=evil,
        champion_label=f"champ {evil}",
        dataset_version=evil,
        model_name=evil,
        checks=[{**multiclass_inputs().checks[0], "message": evil, "metric": evil}],
        classes=None,
        y_true=np.array(["a", evil] * 50),
        y_pred=np.array([evil, "a"] * 50),
        champion_pred=np.array(["a", "a"] * 50),
    )
    markup = render_html(inputs)
    page = parse(markup)
    assert not list(page.iter("script")) and not list(page.iter("img"))
    assert not [a for e in page.iter() for a in e.attrs if a.startswith("on")]
    # The text is shown literally: in the title, facts, gate table and class labels.
    text = page.all_text()
    assert text.count(evil) >= 6
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img" in markup


@pytest.mark.parametrize("case", list(ALL_INPUTS))
def test_page_holds_nothing_jenkins_csp_blocks(case, tmp_path):
    """No script, handlers, inline style, frames, plugins, fonts or other origins."""
    path = write_html_report(tmp_path, ALL_INPUTS[case]())
    markup = path.read_text()
    page = parse(markup)
    tags = {e.tag for e in page.iter()}
    assert not tags & {"script", "style", "iframe", "frame", "object", "embed", "img", "image"}
    attrs = [(e.tag, a, v) for e in page.iter() for a, v in e.attrs.items()]
    assert not [a for a in attrs if a[1] == "style" or a[1].startswith("on")]
    urls = [(t, a, v) for t, a, v in attrs if a in {"href", "src", "xlink:href", "action"}]
    assert urls == [("link", "href", REPORT_CSS)]
    (link,) = page.iter("link")
    assert link.attrs["rel"] == "stylesheet"
    assert not re.search(r"https?:|data:|//", markup.replace("</", ""))
    css = (tmp_path / REPORT_CSS).read_text()
    assert css == REPORT_STYLE
    assert not re.search(r"url\(|@import|@font-face|https?:|expression\(", css)


def _polylines(page, chart):
    (svg,) = page.find("svg", data_chart=chart)
    return {p.attrs["data-series"]: p for p in svg.iter("polyline")}


def test_binary_charts_compare_candidate_and_champion():
    inputs = binary_inputs()
    page = parse(render_html(inputs))
    assert chart_ids(page) == {"roc", "pr", "metrics", "confusion_candidate", "confusion_champion"}
    for chart in ("roc", "pr"):
        lines = _polylines(page, chart)
        assert set(lines) == {"candidate", "champion v7"}
        for line in lines.values():
            n = int(line.attrs["data-points"])
            assert 50 < n <= MAX_CURVE_POINTS + 2
            assert len(line.attrs["points"].split()) == n
    (svg,) = page.find("svg", data_chart="metrics")
    bars = {
        (r.attrs["data-series"], r.attrs["data-metric"]): r
        for r in svg.iter("rect")
        if "data-metric" in r.attrs
    }
    assert float(bars[("candidate", "roc_auc")].attrs["data-value"]) == 0.83
    assert float(bars[("champion v7", "log_loss")].attrs["data-value"]) == 0.39
    (svg,) = page.find("svg", data_chart="confusion_champion")
    counts = [[0, 0], [0, 0]]
    for cell in svg.iter("rect"):
        if "data-cell" in cell.attrs:
            i, j = map(int, cell.attrs["data-cell"].split(","))
            counts[i][j] = int(cell.attrs["data-count"])
    assert counts == confusion_matrix(inputs.y_true, inputs.champion_pred).tolist()


def test_binary_without_champion_draws_the_candidate_only():
    page = parse(render_html(binary_inputs(champion=False)))
    assert chart_ids(page) == {"roc", "pr", "metrics", "confusion_candidate"}
    assert set(_polylines(page, "roc")) == {"candidate"}
    assert "no champion yet" in page.all_text()


def test_roc_and_pr_points_match_scikit_learn():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 3000)
    s = np.round(np.clip(0.3 * y + 0.7 * rng.random(3000), 0, 1), 3)  # ties on purpose
    fpr, tpr, recall, precision = _roc_pr(y == 1, s)
    sk_fpr, sk_tpr, _ = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    sk_p, sk_r, _ = precision_recall_curve(y, s)
    np.testing.assert_allclose(recall[1:], sk_r[:-1][::-1])
    np.testing.assert_allclose(precision[1:], sk_p[:-1][::-1])
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_score(y, s))


def test_multiclass_charts_confusion_and_f1_per_class():
    inputs = multiclass_inputs()
    page = parse(render_html(inputs))
    assert chart_ids(page) == {
        "metrics",
        "confusion_candidate",
        "confusion_champion",
        "f1_per_class",
    }
    (svg,) = page.find("svg", data_chart="confusion_candidate")
    k = len(inputs.classes)
    counts = np.zeros((k, k), dtype=int)
    for cell in svg.iter("rect"):
        if "data-cell" in cell.attrs:
            i, j = map(int, cell.attrs["data-cell"].split(","))
            counts[i, j] = int(cell.attrs["data-count"])
    np.testing.assert_array_equal(
        counts, confusion_matrix(inputs.y_true, inputs.y_pred, labels=inputs.classes)
    )
    (svg,) = page.find("svg", data_chart="f1_per_class")
    for series, pred in (("candidate", inputs.y_pred), ("champion v2", inputs.champion_pred)):
        want = f1_score(inputs.y_true, pred, labels=inputs.classes, average=None)
        got = [float(r.attrs["data-value"]) for r in svg.find("rect", data_series=series)]
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_multiclass_many_classes_shows_the_most_frequent():
    inputs = multiclass_inputs(n=20000, k=45)
    page = parse(render_html(inputs))
    (svg,) = page.find("svg", data_chart="confusion_candidate")
    assert len([r for r in svg.iter("rect") if "data-cell" in r.attrs]) == 20 * 20
    assert "20 most frequent of 45 classes" in page.all_text()


def test_regression_charts_scatter_and_residuals():
    inputs = regression_inputs(n=5000)
    page = parse(render_html(inputs))
    assert chart_ids(page) == {"pred_vs_actual", "residuals", "metrics"}
    (svg,) = page.find("svg", data_chart="pred_vs_actual")
    groups = {g.attrs["data-series"]: g for g in svg.iter("g")}
    assert set(groups) == {"candidate", "champion"}
    for g in groups.values():
        assert len(list(g.iter("circle"))) == MAX_SCATTER_POINTS
    (svg,) = page.find("svg", data_chart="residuals")
    groups = {g.attrs["data-series"]: g for g in svg.iter("g")}
    assert set(groups) == {"candidate", "champion"}
    assert all(len(list(g.iter("rect"))) > 10 for g in groups.values())

    # The champion's residuals are centred near +3, the candidate's near 0 (pixels: 1 unit ~ 9px).
    def centre_x(g):
        rects = list(g.iter("rect"))
        h = np.array([float(r.attrs["height"]) for r in rects])
        x = np.array([float(r.attrs["x"]) + float(r.attrs["width"]) / 2 for r in rects])
        return float((h * x).sum() / h.sum())

    assert centre_x(groups["champion"]) - centre_x(groups["candidate"]) > 10


def test_regression_without_champion():
    page = parse(render_html(regression_inputs(champion=False)))
    (svg,) = page.find("svg", data_chart="pred_vs_actual")
    assert [g.attrs["data-series"] for g in svg.iter("g")] == ["candidate"]


@pytest.mark.slow
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_size_stays_within_budget_for_a_million_rows(task, tmp_path):
    n = 1_000_000
    inputs = {
        "binary": lambda: binary_inputs(n=n),
        "multiclass": lambda: multiclass_inputs(n=n, k=50),
        "regression": lambda: regression_inputs(n=n),
    }[task]()
    path = write_html_report(tmp_path, inputs)
    size = path.stat().st_size
    assert size < 300_000, f"{task}: {size} bytes"
    assert (tmp_path / REPORT_CSS).stat().st_size < 10_000


def test_bad_inputs_name_the_field():
    with pytest.raises(ValueError, match="task must be one of binary, multiclass, regression"):
        render_html(dataclasses.replace(binary_inputs(), task="ranking"))
    inputs = binary_inputs()
    with pytest.raises(ValueError, match="champion_scores has 10 rows, y_true has 5000"):
        render_html(dataclasses.replace(inputs, champion_scores=inputs.scores[:10]))


@pytest.mark.parametrize(
    "classes",
    [[0, 1, 2], [False, True], ["no", "yes"], ["b", "a", "c"], [1, "one"], [0.5, 1.5]],
    ids=["int", "bool", "str", "str-unsorted", "mixed", "float"],
)
@pytest.mark.parametrize("as_object", [False, True], ids=["native", "object"])
def test_confusion_counts_for_any_label_type(classes, as_object):
    rng = np.random.default_rng(3)
    pick = rng.integers(0, len(classes), (2, 400))
    y = np.array([classes[i] for i in pick[0]], dtype=object if as_object else None)
    p = np.array([classes[i] for i in pick[1]], dtype=object if as_object else None)
    inputs = dataclasses.replace(multiclass_inputs(), y_true=y, y_pred=p, classes=classes)
    inputs = dataclasses.replace(inputs, champion_pred=None)
    (svg,) = parse(render_html(inputs)).find("svg", data_chart="confusion_candidate")
    got = {
        tuple(map(int, r.attrs["data-cell"].split(","))): int(r.attrs["data-count"])
        for r in svg.iter("rect")
        if "data-cell" in r.attrs
    }
    k = len(classes)
    want = {
        (i, j): int(((pick[0] == i) & (pick[1] == j)).sum()) for i in range(k) for j in range(k)
    }
    assert got == want


def test_one_class_held_out_and_nan_metrics_still_render():
    inputs = binary_inputs(n=200, champion=False)
    nan = float("nan")
    inputs = dataclasses.replace(
        inputs,
        y_true=np.zeros(200, dtype=int),
        metrics={**inputs.metrics, "roc_auc": nan},
        checks=[{**inputs.checks[0], "value": nan, "passed": False}],
    )
    page = parse(render_html(inputs))
    (svg,) = page.find("svg", data_chart="roc")
    assert not list(svg.iter("polyline"))
    assert "needs both classes in the held-out rows" in svg.all_text()
    assert gate_rows(page)["min.roc_auc"]["value"] == "n/a"
