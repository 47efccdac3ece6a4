"""The report in a real headless Chromium, served with Jenkins' default Content-Security-Policy.

The page comes from a real `mlci train` + `mlci evaluate` (binary, one gate failing on purpose);
multiclass and regression pages from synthetic inputs. Every Chromium run of the module starts
at once (each with its own profile) and the tests assert on what came back:
- the DOM Chromium built: every gate with its value, bound and baseline, every chart with data;
- screenshots: the stylesheet applied (the failed-verdict and failed-gate colours of report.css
  are on screen), the server saw report.css fetched, and the console reports no CSP violation;
- a negative control: the same page with its CSS in an inline <style> loses all styling under the
  same header (and keeps it without the header), so the pixel check can fail.
"""

from __future__ import annotations

import json
import re
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml.config import load_settings
from ml.evaluate.html_report import REPORT_CSS, REPORT_HTML, write_html_report
from tests.report.browser import JENKINS_CSP, JENKINS_CSP_SAME_ORIGIN, finish, serve, start
from tests.report.conftest import chart_ids, gate_rows, multiclass_inputs, parse, regression_inputs

pytestmark = pytest.mark.slow

CSP_WORDS = "Content Security Policy"


def _css_colour(css: str, selector: str, prop: str = "background") -> tuple[int, int, int]:
    block = re.search(re.escape(selector) + r"\s*\{([^}]*)\}", css)
    assert block, f"{selector} not in report.css"
    hexa = re.search(prop + r":\s*#([0-9a-fA-F]{6})", block.group(1))
    assert hexa, f"{selector} has no {prop} colour"
    return tuple(int(hexa.group(1)[i : i + 2], 16) for i in (0, 2, 4))


def _pixels(png: Path, rgb: tuple[int, int, int]) -> int:
    image = np.asarray(Image.open(png).convert("RGB"))
    return int(np.all(image == np.array(rgb, dtype=np.uint8), axis=-1).sum())


@pytest.fixture(scope="module")
def rendered(chromium, evaluated, tmp_path_factory):
    """Every Chromium run of the module, in parallel: name -> (Rendered, Served, screenshot)."""
    out = load_settings(evaluated).build_dir / "evaluate"
    tmp = tmp_path_factory.mktemp("browser")
    inline = tmp / "inline"
    inline.mkdir()
    link = f'<link rel="stylesheet" href="{REPORT_CSS}">'
    page = (out / REPORT_HTML).read_text()
    assert link in page
    css = (out / REPORT_CSS).read_text()
    (inline / REPORT_HTML).write_text(page.replace(link, f"<style>{css}</style>"))
    for task, inputs in (("multiclass", multiclass_inputs()), ("regression", regression_inputs())):
        write_html_report(tmp / task, inputs)
    shot = "screenshot"
    runs = {
        "dom": (out, JENKINS_CSP, None),
        "shot": (out, JENKINS_CSP, shot),
        "shot-same-origin": (out, JENKINS_CSP_SAME_ORIGIN, shot),
        "inline-csp": (inline, JENKINS_CSP, shot),
        "inline-no-csp": (inline, None, shot),
        "multiclass": (tmp / "multiclass", JENKINS_CSP, None),
        "regression": (tmp / "regression", JENKINS_CSP, None),
    }
    started = time.perf_counter()
    results = {}
    with ExitStack() as stack:
        procs = {}
        for name, (folder, csp, mode) in runs.items():
            served = stack.enter_context(serve(folder, csp))
            png = tmp / f"{name}.png"
            action = f"--screenshot={png}" if mode else "--dump-dom"
            url = f"{served.url}/{REPORT_HTML}"
            procs[name] = (start(chromium, tmp / f"profile-{name}", action, url), served, png)
        for name, (proc, served, png) in procs.items():
            results[name] = (finish(proc), served, png)
    print(f"chromium: {len(runs)} runs in {time.perf_counter() - started:.1f}s; pages in {tmp}")
    return {"out": out, "css": css, **results}


def test_rendered_page_has_every_gate_and_the_binary_charts(rendered):
    metrics = json.loads((rendered["out"] / "metrics.json").read_text())
    dom, served, _ = rendered["dom"]
    page = parse(dom.stdout)
    rows = gate_rows(page)
    assert list(rows) == [c["name"] for c in metrics["checks"]]
    for c in metrics["checks"]:
        row = rows[c["name"]]
        assert row["metric"] == c["metric"]
        assert row["value"] == f"{c['value']:.4f}"
        assert row["bound"] == ("-" if c["bound"] is None else f"{c['bound']:.4f}")
        assert row["baseline"] == ("-" if c["baseline"] is None else f"{c['baseline']:.4f}")
        assert row["result"] == ("skipped" if c["skipped"] else "pass" if c["passed"] else "FAIL")
    assert rows["min.roc_auc"]["result"] == "FAIL"  # the gate set to 0.99
    assert chart_ids(page) == {"roc", "pr", "metrics", "confusion_candidate"}
    for chart in ("roc", "pr"):
        (svg,) = page.find("svg", data_chart=chart)
        (line,) = svg.iter("polyline")
        assert line.attrs["data-series"] == "candidate"
        assert len(line.attrs["points"].split()) > 50
    (svg,) = page.find("svg", data_chart="confusion_candidate")
    counts = [int(r.attrs["data-count"]) for r in svg.iter("rect") if "data-count" in r.attrs]
    assert sum(counts) == metrics["n_test"]
    assert (f"/{REPORT_HTML}", 200) in served.requests


@pytest.mark.parametrize("run", ["shot", "shot-same-origin"])
def test_stylesheet_applies_under_jenkins_csp(rendered, run):
    result, served, png = rendered[run]
    assert (f"/{REPORT_CSS}", 200) in served.requests
    assert not [m for m in result.console if CSP_WORDS in m], result.console
    css = rendered["css"]
    assert _pixels(png, _css_colour(css, ".verdict-failed")) > 3000  # the red verdict banner
    assert _pixels(png, _css_colour(css, "td.fail")) > 300  # the failed gate's cell
    assert _pixels(png, _css_colour(css, "td.pass")) > 300
    # The charts' presentation attributes need no CSS: the candidate's bars are on screen.
    assert _pixels(png, (0x1F, 0x6F, 0xB4)) > 1000


def test_inline_style_loses_its_styling_under_the_same_csp(rendered):
    """Negative control: the check above fails for a page whose CSS the CSP blocks."""
    css = rendered["css"]
    banner = _css_colour(css, ".verdict-failed")
    blocked, _, blocked_png = rendered["inline-csp"]
    assert _pixels(blocked_png, banner) == 0
    assert [m for m in blocked.console if CSP_WORDS in m and "inline style" in m]
    _, _, free_png = rendered["inline-no-csp"]
    assert _pixels(free_png, banner) > 3000  # the same page styles itself without the header


@pytest.mark.parametrize(
    ("task", "charts"),
    [
        ("multiclass", {"metrics", "confusion_candidate", "confusion_champion", "f1_per_class"}),
        ("regression", {"pred_vs_actual", "residuals", "metrics"}),
    ],
)
def test_other_tasks_render_their_charts(rendered, task, charts):
    result, _, _ = rendered[task]
    page = parse(result.stdout)
    assert chart_ids(page) == charts
    assert len(gate_rows(page)) == 2
    assert not [m for m in result.console if CSP_WORDS in m], result.console
    for svg in page.iter("svg"):
        assert len(list(svg.iter("rect"))) > 3 or list(svg.iter("circle"))
