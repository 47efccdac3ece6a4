"""Drift between the champion's training data and a newer snapshot, for any data size.

A column (a feature, the target, or the champion's prediction) drifts when both hold:

1. **the shift is large**: an effect size is above its bound. Effect sizes do not grow with the
   number of rows: PSI (population stability index, bound `ct.drift.psi_max`) for every column,
   and a distance in [0, 1] (bound `ct.drift.distance_max`): the two-sample Kolmogorov-Smirnov
   statistic for numeric columns (the largest gap between the two CDFs), the total variation
   distance for categorical ones (half the sum of the absolute differences of the category
   shares: the share of rows that would have to change category).
2. **the shift is not noise**: a significance test (KS for numeric, chi-square on the category
   counts for categorical) on the fixed-size sample gives p < `ct.drift.p_value_min`. On a
   small sample, effect sizes are noisy (PSI over 20 categories of 100 rows is biased upwards);
   the test keeps chance differences from counting.

Both sides are first sampled (seeded, without replacement) to at most `ct.drift.sample_size`
rows, so the work is bounded on 1M rows and the test's power does not grow with the data: a
p-value alone on 20,000 rows calls a 0.01 PSI shift significant, which is what made every
feature "drift" before. The decision is then the same for 2,000 and 2,000,000 rows from the
same distributions (tests/ct/test_drift_size.py).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ml.config import DriftSettings

EPS = 1e-4  # floor for empty bins, so PSI stays finite
MISSING = "<missing>"
NUMERIC, CATEGORICAL = "numeric", "categorical"
PREDICTION = "<prediction>"  # column holding the champion's predictions in plot frames


@dataclass(frozen=True)
class FeatureDrift:
    """One column's drift: every measure with its bound, and the decision."""

    feature: str
    kind: str  # numeric | categorical
    psi: float
    psi_bound: float
    test: str  # ks | chi2
    statistic: float  # KS statistic / chi-square statistic (on the sample)
    p_value: float
    p_value_bound: float
    drifted: bool
    distance: float = 0.0  # KS statistic (numeric) or total variation distance (categorical)
    distance_name: str = "ks"  # ks | tvd
    distance_bound: float = 0.1
    role: str = "feature"  # feature | target | prediction
    sample: dict[str, int] = field(default_factory=dict)  # rows compared: reference, current
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI of two proportion vectors over the same bins."""
    r = np.clip(reference, EPS, None)
    c = np.clip(current, EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


def numeric_bins(reference: np.ndarray, bins: int) -> np.ndarray:
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.concatenate([[-np.inf], edges, [np.inf]])


def sample_rows(frame: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """At most `size` rows of `frame`, drawn without replacement with a seeded generator."""
    if len(frame) <= size:
        return frame
    idx = np.sort(np.random.default_rng(seed).choice(len(frame), size=size, replace=False))
    return frame.iloc[idx]


def _decide(
    effect_psi: float, distance: float, p: float, cfg: DriftSettings, dist: str
) -> tuple[bool, str]:
    large = effect_psi > cfg.psi_max or distance > cfg.distance_max
    real = p < cfg.p_value_min
    size = (
        f"PSI {effect_psi:.3f} {'>' if effect_psi > cfg.psi_max else '<='} {cfg.psi_max:g}, "
        f"{dist} {distance:.3f} {'>' if distance > cfg.distance_max else '<='} "
        f"{cfg.distance_max:g}"
    )
    noise = f"p {p:.1e} {'<' if real else '>='} {cfg.p_value_min:g}"
    if large and real:
        return True, f"large shift ({size}) and not noise ({noise})"
    if large:
        return False, f"large shift ({size}) but within noise at this sample size ({noise})"
    return False, f"small shift ({size}; {noise})"


def numeric_drift(
    ref: pd.Series, cur: pd.Series, name: str, cfg: DriftSettings, role: str = "feature"
) -> FeatureDrift:
    from scipy.stats import ks_2samp

    r = pd.to_numeric(ref, errors="coerce").dropna().to_numpy(dtype=float)
    c = pd.to_numeric(cur, errors="coerce").dropna().to_numpy(dtype=float)
    if len(r) == 0 or len(c) == 0:
        return FeatureDrift(
            name, NUMERIC, 0.0, cfg.psi_max, "ks", 0.0, 1.0, cfg.p_value_min, False,
            0.0, "ks", cfg.distance_max, role, {"reference": len(r), "current": len(c)},
            "no values to compare",
        )  # fmt: skip
    edges = numeric_bins(r, cfg.bins)
    rp = np.histogram(r, edges)[0] / len(r)
    cp = np.histogram(c, edges)[0] / len(c)
    value = psi(rp, cp)
    with warnings.catch_warnings():  # "exact calculation unsuccessful": it falls back, fine
        warnings.simplefilter("ignore", RuntimeWarning)
        test = ks_2samp(r, c)
    d, p = float(test.statistic), float(test.pvalue)
    drifted, reason = _decide(value, d, p, cfg, "KS")
    return FeatureDrift(
        name, NUMERIC, value, cfg.psi_max, "ks", d, p, cfg.p_value_min, drifted,
        d, "ks", cfg.distance_max, role, {"reference": len(r), "current": len(c)}, reason,
    )  # fmt: skip


def _labels(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), MISSING).map(str)


def categorical_drift(
    ref: pd.Series, cur: pd.Series, name: str, cfg: DriftSettings, role: str = "feature"
) -> FeatureDrift:
    from scipy.stats import chi2_contingency

    r = _labels(ref).value_counts()
    c = _labels(cur).value_counts()
    cats = sorted(set(r.index) | set(c.index))
    rc = np.array([r.get(k, 0) for k in cats], dtype=float)
    cc = np.array([c.get(k, 0) for k in cats], dtype=float)
    rp, cp = rc / max(rc.sum(), 1), cc / max(cc.sum(), 1)
    value = psi(rp, cp)
    tvd = float(0.5 * np.abs(rp - cp).sum())
    if len(cats) > 1 and rc.sum() and cc.sum():
        chi = chi2_contingency(np.vstack([rc, cc]))
        stat, p = float(chi.statistic), float(chi.pvalue)
    else:
        stat, p = 0.0, 1.0
    drifted, reason = _decide(value, tvd, p, cfg, "TVD")
    return FeatureDrift(
        name, CATEGORICAL, value, cfg.psi_max, "chi2", stat, p, cfg.p_value_min, drifted,
        tvd, "tvd", cfg.distance_max, role,
        {"reference": int(rc.sum()), "current": int(cc.sum())}, reason,
    )  # fmt: skip


def column_drift(
    ref: pd.Series, cur: pd.Series, name: str, kind: str, cfg: DriftSettings, role: str
) -> FeatureDrift:
    fn = numeric_drift if kind == NUMERIC else categorical_drift
    return fn(ref, cur, name, cfg, role)


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: object,
    cfg: DriftSettings,
) -> list[FeatureDrift]:
    """Drift of every configured feature (numeric first, in config order) on the given rows.

    `features` is the `data.features` schema (with `numeric` and `categorical` lists). The
    caller samples both frames first (`sample_rows`).
    """
    out = [numeric_drift(reference[f], current[f], f, cfg) for f in features.numeric]
    out += [categorical_drift(reference[f], current[f], f, cfg) for f in features.categorical]
    return out


def plot_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    results: list[FeatureDrift],
    path: Path,
    labels: tuple[str, str],
    bins: int,
) -> Path:
    """One panel per column: reference vs current distribution, PSI, distance and p-value in
    the title, drifted columns in red. `reference`/`current` hold a column per result."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 3
    rows = (len(results) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, res in zip(axes.flat, results, strict=False):
        key = _column_key(res)
        if res.kind == NUMERIC:
            r = pd.to_numeric(reference[key], errors="coerce").dropna()
            c = pd.to_numeric(current[key], errors="coerce").dropna()
            if len(r) and len(c):
                lo, hi = float(min(r.min(), c.min())), float(max(r.max(), c.max()))
                edges = np.linspace(lo, hi if hi > lo else lo + 1, 2 * bins + 1)
                ax.hist(r, edges, alpha=0.55, density=True, label=labels[0])
                ax.hist(c, edges, alpha=0.55, density=True, label=labels[1])
        else:
            r = _labels(reference[key]).value_counts(normalize=True)
            c = _labels(current[key]).value_counts(normalize=True)
            cats = sorted(set(r.index) | set(c.index))
            x = np.arange(len(cats))
            ax.bar(x - 0.2, [r.get(k, 0) for k in cats], 0.4, label=labels[0])
            ax.bar(x + 0.2, [c.get(k, 0) for k in cats], 0.4, label=labels[1])
            ax.set_xticks(x, cats, rotation=30, ha="right", fontsize=7)
        flag = "DRIFT" if res.drifted else "ok"
        title = res.feature if res.role == "feature" else f"{res.role} {res.feature}"
        ax.set_title(
            f"{title}: PSI {res.psi:.3f}, {res.distance_name.upper()} {res.distance:.3f}, "
            f"p {res.p_value:.0e} [{flag}]",
            fontsize=8,
            color="crimson" if res.drifted else "black",
        )
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(results) :]:
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _column_key(res: FeatureDrift) -> str:
    """Where plot_drift finds a result's values: by column name; the prediction as PREDICTION."""
    return PREDICTION if res.role == "prediction" else res.feature
