"""The champion-vs-challenger report: one self-contained HTML page per build, read in Jenkins.

Jenkins serves archived and published files with its default Content-Security-Policy
(`sandbox; default-src 'none'; img-src 'self'; style-src 'self';`): no script runs, and inline
`<style>` elements, `style=` attributes, `data:` images and web fonts are all blocked. So the page
is plain markup: charts are inline `<svg>` drawn with presentation attributes (fill, stroke, x,
y...), and the only style sheet is `report.css`, written beside `report.html` and linked
(same origin, allowed by `style-src 'self'`). Nothing refers to another origin.

Pure rendering (numpy and the standard library): the caller gives labels, predictions and scores
already computed; curves and scatters are thinned to a bounded number of points, so the page
stays a few hundred KB whatever the size of the held-out split.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPORT_HTML = "report.html"
REPORT_CSS = "report.css"
TASKS = ("binary", "multiclass", "regression")
# Contracts: every metric is higher-is-better except these.
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "mape"})

MAX_CURVE_POINTS = 200  # per ROC/PR curve
MAX_SCATTER_POINTS = 800  # per series of the predicted-vs-actual scatter
MAX_MATRIX_CLASSES = 20  # most frequent classes shown in a confusion matrix
MAX_BAR_CLASSES = 30  # most frequent classes shown in the per-class F1 chart
HIST_BINS = 40
SCATTER_SEED = 0

CANDIDATE_COLOUR = "#1f6fb4"
CHAMPION_COLOUR = "#e07b00"
INK = "#333333"
GRID = "#dddddd"
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"


@dataclass(frozen=True)
class ReportInputs:
    """What the report shows; arrays are anything numpy accepts.

    - `y_true`, `y_pred`: the held-out labels and the candidate's predictions (label values for
      classification, floats for regression); `champion_pred` the champion's on the same rows.
    - `scores` / `champion_scores`: binary, P(`positive_class`) per row; multiclass, optional
      per-class probabilities (n, len(classes)); regression, unused.
    - `checks`: the gate's `GateCheck.to_dict()` dicts, in gate order.
    """

    task: str
    run_id: str
    y_true: Any
    y_pred: Any
    metrics: Mapping[str, float]
    checks: Sequence[Mapping[str, Any]]
    classes: Sequence[Any] | None = None
    positive_class: Any = None
    scores: Any = None
    champion_pred: Any = None
    champion_scores: Any = None
    champion_metrics: Mapping[str, float] | None = None
    champion_label: str = "champion"
    champion_run_id: str | None = None
    dataset_version: str = ""
    dataset_digest: str = ""
    n_rows: int | None = None
    model_name: str | None = None
    model_version: str | None = None

    @property
    def has_champion(self) -> bool:
        return self.champion_pred is not None or self.champion_metrics is not None


# ---------------------------------------------------------------------------- small helpers


def _e(x: Any) -> str:
    """Escape any value for HTML text and double-quoted attributes."""
    return html.escape(str(x), quote=True)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _val(x: Any, digits: int = 4) -> str:
    return f"{x:.{digits}f}" if _finite(x) else "n/a"


def _opt(x: Any) -> str:
    """A bound or baseline: "-" when the check has none."""
    return "-" if x is None else _val(x)


def _c(x: float) -> str:
    """An SVG coordinate: one decimal is plenty for a 400 px chart."""
    return f"{x:.1f}".rstrip("0").rstrip(".") if math.isfinite(x) else "0"


def _tick(x: float) -> str:
    return f"{x:.3g}"


def _key(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _mix(colour: str, t: float) -> str:
    """`colour` blended with white: t=0 white, t=1 the colour."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    t = min(max(t, 0.0), 1.0)
    return "#{:02x}{:02x}{:02x}".format(*(round(255 + (c - 255) * t) for c in (r, g, b)))


def _thin(xs: np.ndarray, ys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `k` points spread evenly along the curve's length (both axes span 0..1)."""
    if len(xs) <= k:
        return xs, ys
    seg = np.hypot(np.diff(xs), np.diff(ys))
    along = np.concatenate([[0.0], np.cumsum(seg)])
    idx = np.searchsorted(along, np.linspace(0.0, along[-1], k))
    idx = np.unique(np.clip(np.concatenate([[0], idx, [len(xs) - 1]]), 0, len(xs) - 1))
    return xs[idx], ys[idx]


def _nice_ticks(lo: float, hi: float, n: int) -> np.ndarray:
    """About `n` round tick values (steps of 1, 2 or 5 x 10^k) within [lo, hi]."""
    span = hi - lo
    if not span > 0:
        return np.array([lo])
    raw = span / n
    base = 10.0 ** math.floor(math.log10(raw))
    step = next(m * base for m in (1, 2, 5, 10) if m * base >= raw)
    ticks = np.arange(math.ceil(lo / step) * step, hi + step * 1e-9, step)
    return np.round(ticks, 12)


# ---------------------------------------------------------------------------- SVG charts


class _Plot:
    """One chart: an SVG canvas with a plot area mapped to data coordinates."""

    W, H = 420, 320
    LEFT, RIGHT, TOP, BOTTOM = 56, 14, 30, 44

    def __init__(self, chart: str, title: str, height: int | None = None) -> None:
        self.chart = chart
        self.title = title
        self.h = height or self.H
        self.parts: list[str] = []
        self.x0, self.x1, self.y0, self.y1 = 0.0, 1.0, 0.0, 1.0

    # plot-area geometry
    @property
    def px0(self) -> float:
        return self.LEFT

    @property
    def px1(self) -> float:
        return self.W - self.RIGHT

    @property
    def py0(self) -> float:
        return self.h - self.BOTTOM

    @property
    def py1(self) -> float:
        return self.TOP

    def sx(self, x: Any) -> Any:
        span = (self.x1 - self.x0) or 1.0
        return self.px0 + (np.asarray(x, dtype=float) - self.x0) / span * (self.px1 - self.px0)

    def sy(self, y: Any) -> Any:
        span = (self.y1 - self.y0) or 1.0
        return self.py0 - (np.asarray(y, dtype=float) - self.y0) / span * (self.py0 - self.py1)

    def text(
        self, x: float, y: float, s: Any, anchor: str = "middle", size: int = 11, **kw
    ) -> None:
        extra = "".join(f' {k.replace("_", "-")}="{_e(v)}"' for k, v in kw.items())
        self.parts.append(
            f'<text x="{_c(x)}" y="{_c(y)}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{INK}"{extra}>{_e(s)}</text>'
        )

    def axes(self, xlabel: str, ylabel: str, xlim: tuple, ylim: tuple, ticks: int = 5) -> None:
        self.x0, self.x1 = (float(v) for v in xlim)
        self.y0, self.y1 = (float(v) for v in ylim)
        p = self.parts
        for v in _nice_ticks(self.x0, self.x1, ticks):
            x = self.sx(v)
            p.append(
                f'<line x1="{_c(x)}" y1="{_c(self.py1)}" x2="{_c(x)}" y2="{_c(self.py0)}" '
                f'stroke="{GRID}" stroke-width="1"/>'
            )
            self.text(x, self.py0 + 14, _tick(v), size=10)
        for v in _nice_ticks(self.y0, self.y1, ticks):
            y = self.sy(v)
            p.append(
                f'<line x1="{_c(self.px0)}" y1="{_c(y)}" x2="{_c(self.px1)}" y2="{_c(y)}" '
                f'stroke="{GRID}" stroke-width="1"/>'
            )
            self.text(self.px0 - 5, y + 3, _tick(v), anchor="end", size=10)
        p.append(
            f'<rect x="{_c(self.px0)}" y="{_c(self.py1)}" width="{_c(self.px1 - self.px0)}" '
            f'height="{_c(self.py0 - self.py1)}" fill="none" stroke="#999999" stroke-width="1"/>'
        )
        self.text((self.px0 + self.px1) / 2, self.h - 8, xlabel)
        mid = (self.py0 + self.py1) / 2
        self.text(14, mid, ylabel, transform=f"rotate(-90 14 {_c(mid)})")

    def legend(self, series: Sequence[tuple[str, str]]) -> None:
        x = self.px0
        for name, colour in series:
            self.parts.append(
                f'<rect x="{_c(x)}" y="10" width="12" height="10" fill="{colour}" '
                f'data-legend="{_e(name)}"/>'
            )
            self.text(x + 16, 19, name, anchor="start")
            x += 24 + 7 * len(name)

    def polyline(self, series: str, colour: str, xs: np.ndarray, ys: np.ndarray) -> None:
        pts = " ".join(f"{_c(a)},{_c(b)}" for a, b in zip(self.sx(xs), self.sy(ys), strict=True))
        self.parts.append(
            f'<polyline data-series="{_e(series)}" data-points="{len(xs)}" points="{pts}" '
            f'fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round"/>'
        )

    def note(self, s: str) -> None:
        self.text((self.px0 + self.px1) / 2, (self.py0 + self.py1) / 2, s, size=12)

    def svg(self) -> str:
        return (
            f'<svg class="chart" data-chart="{_e(self.chart)}" width="{self.W}" height="{self.h}" '
            f'viewBox="0 0 {self.W} {self.h}" role="img" font-family="{FONT}">'
            f"<title>{_e(self.title)}</title>"
            f'<rect x="0" y="0" width="{self.W}" height="{self.h}" fill="#ffffff"/>'
            + "".join(self.parts)
            + "</svg>"
        )


def _roc_pr(y01: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """(fpr, tpr, recall, precision) at every distinct threshold, or None with one class only."""
    order = np.argsort(-s)
    ss, yy = s[order], y01[order].astype(np.int64)
    last = np.concatenate([np.nonzero(np.diff(ss))[0], [len(ss) - 1]])
    tps = np.cumsum(yy)[last].astype(float)
    fps = (last + 1) - tps
    pos, neg = tps[-1], fps[-1]
    if pos == 0 or neg == 0:
        return None
    fpr = np.concatenate([[0.0], fps / neg])
    tpr = np.concatenate([[0.0], tps / pos])
    precision = tps / (tps + fps)
    recall = tps / pos
    return fpr, tpr, np.concatenate([[0.0], recall]), np.concatenate([[precision[0]], precision])


def _curve_chart(
    chart: str, title: str, xlabel: str, ylabel: str, series: list[tuple[str, str, Any]]
) -> str:
    """ROC or PR: one polyline per model (series: name, colour, (xs, ys) or None)."""
    plot = _Plot(chart, title)
    plot.axes(xlabel, ylabel, (0, 1), (0, 1))
    if chart == "roc":
        plot.parts.append(
            f'<line x1="{_c(plot.sx(0))}" y1="{_c(plot.sy(0))}" x2="{_c(plot.sx(1))}" '
            f'y2="{_c(plot.sy(1))}" stroke="#999999" stroke-width="1" stroke-dasharray="4 3"/>'
        )
    drawn = [(n, c, xy) for n, c, xy in series if xy is not None]
    for name, colour, (xs, ys) in drawn:
        tx, ty = _thin(np.asarray(xs), np.asarray(ys), MAX_CURVE_POINTS)
        plot.polyline(name, colour, tx, ty)
    if not drawn:
        plot.note("needs both classes in the held-out rows")
    plot.legend([(n, c) for n, c, _ in drawn])
    return plot.svg()


def _metric_bars(
    metrics: Mapping[str, float], champion: Mapping[str, float] | None, label: str
) -> str:
    """Candidate vs champion per metric; each row scaled to its own largest |value|."""
    names = list(metrics)
    per = 2 if champion else 1
    row = 12 * per + 14
    plot = _Plot("metrics", "Metrics: candidate vs " + label, height=40 + row * len(names))
    left, right = 96, plot.W - 70
    values = [v for m in names for v in (metrics[m], (champion or {}).get(m)) if _finite(v)]
    unit = bool(values) and all(0.0 <= v <= 1.0 for v in values)
    legend = [("candidate", CANDIDATE_COLOUR)] + ([(label, CHAMPION_COLOUR)] if champion else [])
    plot.legend(legend)
    y = 32.0
    for m in names:
        pair = [("candidate", CANDIDATE_COLOUR, metrics[m])]
        if champion:
            pair.append((label, CHAMPION_COLOUR, champion.get(m)))
        finite = [abs(v) for _, _, v in pair if _finite(v)]
        scale = 1.0 if unit else (max(finite) if finite and max(finite) > 0 else 1.0)
        arrow = "\u2193" if m in LOWER_IS_BETTER else "\u2191"
        plot.text(left - 6, y + 6 * per + 4, f"{m} {arrow}", anchor="end")
        for j, (series, colour, v) in enumerate(pair):
            by = y + 12 * j
            width = (right - left) * abs(v) / scale if _finite(v) else 0.0
            plot.parts.append(
                f'<rect data-series="{_e(series)}" data-metric="{_e(m)}" data-value="{_val(v, 6)}" '
                f'x="{left}" '
                f'y="{_c(by)}" width="{_c(width)}" height="10" fill="{colour}"/>'
            )
            plot.text(left + width + 4, by + 9, _val(v), anchor="start", size=10)
        y += row
    return plot.svg()


def _codes(values: Any, index: Mapping[Any, int]) -> np.ndarray:
    """Each label's position in `index` (-1 when unknown).

    A binary search in the sorted class values (O(n log k), no sort of the n labels) when the
    labels and classes are both numbers or both strings; otherwise via the distinct labels.
    """
    arr = np.asarray(values).reshape(-1)
    keys = sorted(index, key=lambda k: (str(type(k)), k))
    if arr.dtype == object and keys and all(isinstance(k, str) for k in keys):
        arr = arr.astype(str)
    ref = np.asarray(keys)
    numeric = set("biuf")
    same_kind = ref.dtype.kind == arr.dtype.kind or {ref.dtype.kind, arr.dtype.kind} <= numeric
    if len(keys) and same_kind and ref.dtype.kind in numeric | {"U"}:
        pos = np.clip(np.searchsorted(ref, arr), 0, len(ref) - 1)
        found = ref[pos] == arr
        positions = np.array([index[k] for k in keys], dtype=np.int64)
        return np.where(found, positions[pos], -1)
    try:
        uniq, inv = np.unique(arr, return_inverse=True)
    except TypeError:  # labels of mixed types cannot be sorted
        return np.fromiter((index.get(_key(v), -1) for v in arr), np.int64, len(arr))
    lookup = np.array([index.get(_key(u), -1) for u in uniq], dtype=np.int64)
    return lookup[inv.reshape(-1)]


def _confusion(t: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    """k x k counts from class codes (rows actual, columns predicted); unknown codes dropped."""
    ok = (t >= 0) & (p >= 0)
    return np.bincount(t[ok] * k + p[ok], minlength=k * k).reshape(k, k)


def _matrix_chart(chart: str, title: str, cm: np.ndarray, labels: list[str], colour: str) -> str:
    """Counts per (actual, predicted); shade = share of the actual class's rows."""
    k = len(labels)
    cell = max(16.0, min(60.0, 300.0 / max(k, 1)))
    left, top = 110.0, 40.0
    plot = _Plot(chart, title, height=int(top + cell * k + 60))
    plot.W = max(plot.W, int(left + cell * k + 20))
    rows = cm.sum(axis=1)
    size = 11 if cell >= 30 else 9
    for i in range(k):
        plot.text(left - 6, top + cell * i + cell / 2 + 4, labels[i], anchor="end", size=size)
        for j in range(k):
            share = cm[i, j] / rows[i] if rows[i] else 0.0
            x, y = left + cell * j, top + cell * i
            plot.parts.append(
                f'<rect data-cell="{i},{j}" data-count="{int(cm[i, j])}" x="{_c(x)}" y="{_c(y)}" '
                f'width="{_c(cell)}" height="{_c(cell)}" fill="{_mix(colour, share)}" '
                f'stroke="#ffffff" stroke-width="1"/>'
            )
            if cell >= 24:
                plot.parts.append(
                    f'<text x="{_c(x + cell / 2)}" y="{_c(y + cell / 2 + 4)}" text-anchor="middle" '
                    f'font-size="{size}" fill="{"#ffffff" if share > 0.55 else INK}">'
                    f"{int(cm[i, j])}</text>"
                )
    for j in range(k):
        x = left + cell * j + cell / 2
        y = top + cell * k + 12
        if max(len(s) for s in labels) * 6 > cell:
            plot.text(x, y, labels[j], size=size, transform=f"rotate(30 {_c(x)} {_c(y)})")
        else:
            plot.text(x, y, labels[j], size=size)
    plot.text(left + cell * k / 2, plot.h - 6, "predicted")
    plot.text(12, 22, "actual \u2193", anchor="start")
    return plot.svg()


def _f1_per_class(cm: np.ndarray) -> np.ndarray:
    tp = np.diag(cm).astype(float)
    pred, actual = cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred > 0, tp / pred, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return f1


def _class_bars(labels: list[str], series: list[tuple[str, str, np.ndarray]]) -> str:
    per = len(series)
    row = 11 * per + 8
    plot = _Plot("f1_per_class", "F1 per class", height=40 + row * len(labels))
    left, right = 110, plot.W - 60
    plot.legend([(n, c) for n, c, _ in series])
    y = 32.0
    for i, lab in enumerate(labels):
        plot.text(left - 6, y + 5.5 * per + 4, lab, anchor="end", size=10)
        for j, (name, colour, f1) in enumerate(series):
            width = (right - left) * float(f1[i])
            plot.parts.append(
                f'<rect data-series="{_e(name)}" data-class="{_e(lab)}" data-value="{f1[i]:.6f}" '
                f'x="{left}" '
                f'y="{_c(y + 11 * j)}" width="{_c(width)}" height="9" fill="{colour}"/>'
            )
            plot.text(left + width + 4, y + 11 * j + 8, f"{f1[i]:.3f}", anchor="start", size=9)
        y += row
    return plot.svg()


def _scatter_chart(y_true: np.ndarray, series: list[tuple[str, str, np.ndarray]]) -> str:
    """Predicted vs actual on the same sampled rows for every model, with the y = x line."""
    n = len(y_true)
    take = min(n, MAX_SCATTER_POINTS)
    idx = np.sort(np.random.default_rng(SCATTER_SEED).choice(n, size=take, replace=False))
    plot = _Plot("pred_vs_actual", "Predicted vs actual")
    pts = [y_true[idx]] + [p[idx] for _, _, p in series]
    allv = np.concatenate([v[np.isfinite(v)] for v in pts]) if take else np.array([0.0, 1.0])
    lo, hi = (float(allv.min()), float(allv.max())) if len(allv) else (0.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 1, hi + 1
    plot.axes("actual", "predicted", (lo, hi), (lo, hi))
    plot.parts.append(
        f'<line x1="{_c(plot.sx(lo))}" y1="{_c(plot.sy(lo))}" x2="{_c(plot.sx(hi))}" '
        f'y2="{_c(plot.sy(hi))}" stroke="#999999" stroke-width="1" stroke-dasharray="4 3"/>'
    )
    ax = plot.sx(y_true[idx])
    for name, colour, pred in series:
        ay = plot.sy(pred[idx])
        dots = "".join(
            f'<circle cx="{_c(a)}" cy="{_c(b)}" r="2"/>'
            for a, b in zip(ax, ay, strict=True)
            if math.isfinite(a) and math.isfinite(b)
        )
        plot.parts.append(
            f'<g data-series="{_e(name)}" data-points="{take}" fill="{colour}" '
            f'fill-opacity="0.55">{dots}</g>'
        )
    plot.legend([(n_, c) for n_, c, _ in series])
    if take < n:
        plot.text(plot.px1 - 4, plot.py0 - 6, f"{take} of {n} rows", anchor="end", size=10)
    return plot.svg()


def _residual_chart(y_true: np.ndarray, series: list[tuple[str, str, np.ndarray]]) -> str:
    """Histogram of predicted - actual, shared bins (0.5-99.5 percentile range) for every model."""
    residuals = [(n, c, (p - y_true)[np.isfinite(p - y_true)]) for n, c, p in series]
    both = np.concatenate([r for _, _, r in residuals])
    lo, hi = np.percentile(both, [0.5, 99.5]) if len(both) else (-1.0, 1.0)
    if hi <= lo:
        lo, hi = lo - 1, hi + 1
    edges = np.linspace(lo, hi, HIST_BINS + 1)
    counts = [np.histogram(np.clip(r, lo, hi), bins=edges)[0] for _, _, r in residuals]
    top = max(int(c.max()) for c in counts) if counts else 1
    plot = _Plot("residuals", "Residuals (predicted - actual)")
    plot.axes("residual", "rows", (lo, hi), (0, top or 1))
    for (name, colour, _), cnt in zip(residuals, counts, strict=True):
        bars = "".join(
            f'<rect x="{_c(plot.sx(edges[i]))}" y="{_c(plot.sy(cnt[i]))}" '
            f'width="{_c(plot.sx(edges[i + 1]) - plot.sx(edges[i]))}" '
            f'height="{_c(plot.py0 - plot.sy(cnt[i]))}"/>'
            for i in range(HIST_BINS)
            if cnt[i]
        )
        plot.parts.append(
            f'<g data-series="{_e(name)}" data-bins="{HIST_BINS}" fill="{colour}" '
            f'fill-opacity="0.45" stroke="{colour}" stroke-width="0.5">{bars}</g>'
        )
    if lo < 0 < hi:
        plot.parts.append(
            f'<line x1="{_c(plot.sx(0))}" y1="{_c(plot.py0)}" x2="{_c(plot.sx(0))}" '
            f'y2="{_c(plot.py1)}" stroke="{INK}" stroke-width="1" stroke-dasharray="4 3"/>'
        )
    plot.legend([(n, c) for n, c, _ in residuals])
    return plot.svg()


# ---------------------------------------------------------------------------- page sections


def _figure(svg: str, caption: str) -> str:
    return f'<figure class="chart-box">{svg}<figcaption>{_e(caption)}</figcaption></figure>'


def _class_labels(inputs: ReportInputs) -> list[Any]:
    if inputs.classes is not None:
        return list(inputs.classes)
    both = np.concatenate([np.asarray(inputs.y_true).reshape(-1), np.asarray(inputs.y_pred)])
    try:
        return [_key(v) for v in np.unique(both)]
    except TypeError:  # labels of mixed types
        return sorted({_key(v) for v in both}, key=lambda v: (str(type(v)), v))


def _binary_charts(inputs: ReportInputs, label: str) -> list[str]:
    classes = _class_labels(inputs)
    positive = inputs.positive_class if inputs.positive_class is not None else classes[-1]
    y01 = np.asarray(inputs.y_true) == positive
    models = [("candidate", CANDIDATE_COLOUR, inputs.scores, inputs.y_pred)]
    if inputs.champion_scores is not None or inputs.champion_pred is not None:
        models.append((label, CHAMPION_COLOUR, inputs.champion_scores, inputs.champion_pred))
    curves = [
        (n, c, _roc_pr(y01, np.asarray(s, dtype=float)) if s is not None else None)
        for n, c, s, _ in models
    ]
    out = [
        _figure(
            _curve_chart(
                "roc",
                "ROC curve",
                "false positive rate",
                "true positive rate",
                [(n, c, (cv[0], cv[1]) if cv else None) for n, c, cv in curves],
            ),
            f"ROC curve of P({positive}); dashed: chance.",
        ),
        _figure(
            _curve_chart(
                "pr",
                "Precision-recall curve",
                "recall",
                "precision",
                [(n, c, (cv[2], cv[3]) if cv else None) for n, c, cv in curves],
            ),
            f"Precision-recall curve, positive class {positive}.",
        ),
        _figure(
            _metric_bars(inputs.metrics, inputs.champion_metrics, label),
            "Held-out metrics (\u2191 higher is better, \u2193 lower is better).",
        ),
    ]
    out += _matrices(*_classified(inputs, label))
    return out


def _classified(inputs: ReportInputs, label: str) -> tuple[list[Any], np.ndarray, list]:
    """Classes, rows per actual class, and (chart id, name, colour, confusion) per model."""
    classes = _class_labels(inputs)
    index = {_key(c): i for i, c in enumerate(classes)}
    k = len(classes)
    t = _codes(inputs.y_true, index)
    models = []
    for chart, name, colour, pred in (
        ("confusion_candidate", "candidate", CANDIDATE_COLOUR, inputs.y_pred),
        ("confusion_champion", label, CHAMPION_COLOUR, inputs.champion_pred),
    ):
        if pred is not None:
            models.append((chart, name, colour, _confusion(t, _codes(pred, index), k)))
    return classes, np.bincount(t[t >= 0], minlength=k), models


def _most_frequent(counts: np.ndarray, limit: int) -> np.ndarray:
    return np.sort(np.argsort(-counts, kind="stable")[:limit])


def _matrices(classes: list[Any], counts: np.ndarray, models: list) -> list[str]:
    keep = _most_frequent(counts, MAX_MATRIX_CLASSES)
    note = (
        ""
        if len(keep) == len(classes)
        else (f" ({len(keep)} most frequent of {len(classes)} classes)")
    )
    names = [str(classes[i]) for i in keep]
    return [
        _figure(
            _matrix_chart(
                chart, f"Confusion matrix: {name}", cm[np.ix_(keep, keep)], names, colour
            ),
            f"Confusion matrix of the {name}: rows actual, columns predicted; "
            f"shade = share of the actual class{note}.",
        )
        for chart, name, colour, cm in models
    ]


def _multiclass_charts(inputs: ReportInputs, label: str) -> list[str]:
    classes, counts, models = _classified(inputs, label)
    out = [
        _figure(
            _metric_bars(inputs.metrics, inputs.champion_metrics, label),
            "Held-out metrics (\u2191 higher is better, \u2193 lower is better).",
        )
    ]
    out += _matrices(classes, counts, models)
    keep = _most_frequent(counts, MAX_BAR_CLASSES)
    note = "" if len(keep) == len(classes) else f" ({len(keep)} most frequent of {len(classes)})"
    out.append(
        _figure(
            _class_bars(
                [str(classes[i]) for i in keep],
                [(name, colour, _f1_per_class(cm)[keep]) for _, name, colour, cm in models],
            ),
            f"F1 of each class, one-vs-rest{note}.",
        )
    )
    return out


def _regression_charts(inputs: ReportInputs, label: str) -> list[str]:
    y = np.asarray(inputs.y_true, dtype=float)
    series = [("candidate", CANDIDATE_COLOUR, np.asarray(inputs.y_pred, dtype=float))]
    if inputs.champion_pred is not None:
        series.append((label, CHAMPION_COLOUR, np.asarray(inputs.champion_pred, dtype=float)))
    return [
        _figure(
            _scatter_chart(y, series),
            f"Predicted vs actual on up to {MAX_SCATTER_POINTS} sampled rows; dashed: y = x.",
        ),
        _figure(
            _residual_chart(y, series),
            f"Residuals in {HIST_BINS} shared bins over the 0.5-99.5 percentile range "
            "(values beyond count in the edge bins); dashed: zero.",
        ),
        _figure(
            _metric_bars(inputs.metrics, inputs.champion_metrics, label),
            "Held-out metrics, each row scaled to its largest value "
            "(\u2191 higher is better, \u2193 lower is better).",
        ),
    ]


def _gates_table(checks: Sequence[Mapping[str, Any]], label: str) -> str:
    rows = []
    for c in checks:
        if c.get("skipped"):
            result, cls = "skipped", "skip"
        elif c.get("passed"):
            result, cls = "pass", "pass"
        else:
            result, cls = "FAIL", "fail"
        kind = c.get("kind", "")
        rule = {"min": "value \u2265 bound", "max": "value \u2264 bound"}.get(
            kind, f"not worse than {label} beyond the tolerance"
        )
        name = c.get("name") or f"{kind}.{c.get('metric', '')}"
        rows.append(
            f'<tr class="gate gate-{cls}" data-gate="{_e(name)}">'
            f'<td class="name">{_e(name)}</td><td>{_e(c.get("metric", ""))}</td>'
            f"<td>{_e(rule)}</td>"
            f'<td class="num" data-field="value">{_val(c.get("value"))}</td>'
            f'<td class="num" data-field="bound">{_opt(c.get("bound"))}</td>'
            f'<td class="num" data-field="baseline">{_opt(c.get("baseline"))}</td>'
            f'<td class="result {cls}">{result}</td>'
            f'<td class="message">{_e(c.get("message", ""))}</td></tr>'
        )
    return (
        '<table class="gates"><thead><tr><th>gate</th><th>metric</th><th>rule</th>'
        f"<th>value</th><th>bound</th><th>baseline ({_e(label)})</th><th>result</th>"
        "<th>message</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _metrics_table(
    metrics: Mapping[str, float], champion: Mapping[str, float] | None, label: str
) -> str:
    rows = []
    for m, v in metrics.items():
        base = (champion or {}).get(m)
        delta, cls = "-", ""
        if _finite(v) and _finite(base):
            d = v - base
            delta = f"{d:+.4f}"
            better = d < 0 if m in LOWER_IS_BETTER else d > 0
            cls = "better" if better else ("worse" if d != 0 else "")
        arrow = "lower is better" if m in LOWER_IS_BETTER else "higher is better"
        rows.append(
            f'<tr data-metric="{_e(m)}"><td>{_e(m)}</td><td class="num">{_val(v)}</td>'
            f'<td class="num">{_val(base) if champion else "-"}</td>'
            f'<td class="num {cls}">{delta}</td><td>{arrow}</td></tr>'
        )
    return (
        '<table class="metrics"><thead><tr><th>metric</th><th>candidate</th>'
        f"<th>{_e(label)}</th><th>\u0394</th><th></th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _facts(inputs: ReportInputs, n_rows: int, label: str) -> str:
    model = inputs.model_name or "-"
    if inputs.model_version:
        model += f" v{inputs.model_version}"
    items = [
        ("run", inputs.run_id),
        ("model", model),
        ("task", inputs.task),
        ("dataset version", inputs.dataset_version or "-"),
        ("dataset digest (md5)", inputs.dataset_digest or "-"),
        ("held-out rows", f"{n_rows:,}"),
        ("baseline", f"{label} (run {inputs.champion_run_id})" if inputs.champion_run_id else label)
        if inputs.has_champion
        else ("baseline", "no champion yet: non-regression checks skipped"),
    ]
    if inputs.task == "binary" and inputs.positive_class is not None:
        items.append(("positive class", inputs.positive_class))
    return (
        '<dl class="facts">'
        + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
        + "</dl>"
    )


def _check_inputs(inputs: ReportInputs) -> int:
    if inputs.task not in TASKS:
        raise ValueError(f"report: task must be one of {', '.join(TASKS)}, got {inputs.task!r}")
    n = len(np.asarray(inputs.y_true).reshape(-1))
    for name in ("y_pred", "scores", "champion_pred", "champion_scores"):
        arr = getattr(inputs, name)
        if arr is not None and len(np.asarray(arr)) != n:
            raise ValueError(f"report: {name} has {len(np.asarray(arr))} rows, y_true has {n}")
    return n


def render_html(inputs: ReportInputs) -> str:
    """The page's markup (links report.css; no script, no inline style, no other origin)."""
    n = _check_inputs(inputs)
    label = inputs.champion_label if inputs.has_champion else "champion"
    checks = list(inputs.checks)
    failing = [c for c in checks if not c.get("passed")]
    verdict = "failed" if failing else "passed"
    charts = {
        "binary": _binary_charts,
        "multiclass": _multiclass_charts,
        "regression": _regression_charts,
    }[inputs.task](inputs, label)
    headline = (
        f"Gate {verdict.upper()}: {len(failing)} of {len(checks)} checks failing"
        if failing
        else f"Gate PASSED: all {len(checks)} checks pass or are skipped"
    )
    against = f"vs {label}" if inputs.has_champion else "(no champion yet)"
    title = f"Candidate {against}: run {inputs.run_id}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title>"
        f'<link rel="stylesheet" href="{REPORT_CSS}"></head>\n'
        f'<body><header><h1>{_e(title)}</h1><p class="verdict verdict-{verdict}" '
        f'data-verdict="{verdict}">{_e(headline)}</p>'
        + _facts(inputs, inputs.n_rows if inputs.n_rows is not None else n, label)
        + "</header>\n<main>"
        + f'<section id="gates"><h2>Gates</h2>{_gates_table(checks, label)}</section>\n'
        + '<section id="charts"><h2>Charts</h2><div class="charts">'
        + "".join(charts)
        + "</div></section>\n"
        + '<section id="metrics"><h2>Metrics on the held-out rows</h2>'
        + _metrics_table(inputs.metrics, inputs.champion_metrics, label)
        + "</section></main>\n"
        "<footer>Written by <code>mlci evaluate</code> (ml/evaluate/html_report.py). "
        "No script: the page renders under Jenkins' default Content-Security-Policy.</footer>"
        "</body></html>\n"
    )


REPORT_STYLE = """\
body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; color: #222222;
  background: #ffffff; margin: 1.2em 2em; font-size: 14px; }
h1 { font-size: 1.45em; margin: 0 0 .4em 0; }
h2 { font-size: 1.15em; margin: 1.4em 0 .5em 0; border-bottom: 1px solid #dddddd; }
.verdict { display: inline-block; font-weight: bold; font-size: 1.1em; padding: .45em .9em;
  border-radius: 4px; margin: .2em 0 .8em 0; }
.verdict-failed { background: #c62828; color: #ffffff; }
.verdict-passed { background: #2e7d32; color: #ffffff; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: .2em 1.2em; margin: 0; }
dl.facts dt { color: #666666; }
dl.facts dd { margin: 0; font-family: DejaVu Sans Mono, monospace; }
table { border-collapse: collapse; margin: .3em 0; }
th, td { border: 1px solid #cccccc; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-family: DejaVu Sans Mono, monospace; }
td.result { font-weight: bold; text-align: center; }
td.pass { background: #d7f0dc; color: #1b5e20; }
td.fail { background: #f8d0d0; color: #8e0000; }
td.skip { background: #eeeeee; color: #555555; }
td.message { color: #555555; max-width: 36em; }
td.better { color: #1b5e20; }
td.worse { color: #8e0000; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
figure.chart-box { margin: 0; border: 1px solid #dddddd; padding: .5em; background: #ffffff; }
figcaption { font-size: .85em; color: #555555; max-width: 420px; }
footer { margin-top: 2em; color: #888888; font-size: .8em; }
"""


def write_html_report(out_dir: Path, inputs: ReportInputs) -> Path:
    """Write `report.html` and `report.css` into `out_dir`; returns the HTML's path."""
    page = render_html(inputs)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in ((REPORT_CSS, REPORT_STYLE), (REPORT_HTML, page)):
        tmp = out_dir / (name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out_dir / name)
    return out_dir / REPORT_HTML
