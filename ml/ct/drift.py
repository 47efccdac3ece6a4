"""Per-feature drift between the champion's training data and a newer snapshot.

Two measures per feature, because they fail differently:
- PSI (population stability index) is an effect size: it grows with how far the distribution
  moved, whatever the sample size. Numeric features are binned at the reference's quantiles.
- A significance test (two-sample Kolmogorov-Smirnov for numeric, chi-square on the category
  counts for categorical) says whether a shift is there at all; on large samples it flags
  small shifts, so its bound is set strict (p < 0.001 by default).
A feature drifts when either bound is crossed (`ct.drift` in mlci.yaml).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml.config import DriftSettings, FeatureSchema

EPS = 1e-4  # floor for empty bins, so PSI stays finite
MISSING = "<missing>"


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # numeric | categorical
    psi: float
    psi_bound: float
    test: str  # ks | chi2
    statistic: float
    p_value: float
    p_value_bound: float
    drifted: bool

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


def numeric_drift(ref: pd.Series, cur: pd.Series, name: str, cfg: DriftSettings) -> FeatureDrift:
    from scipy.stats import ks_2samp

    r = pd.to_numeric(ref, errors="coerce").dropna().to_numpy(dtype=float)
    c = pd.to_numeric(cur, errors="coerce").dropna().to_numpy(dtype=float)
    edges = numeric_bins(r, cfg.bins)
    rp = np.histogram(r, edges)[0] / max(len(r), 1)
    cp = np.histogram(c, edges)[0] / max(len(c), 1)
    value = psi(rp, cp)
    test = ks_2samp(r, c)
    p = float(test.pvalue)
    return FeatureDrift(
        name,
        "numeric",
        value,
        cfg.psi_max,
        "ks",
        float(test.statistic),
        p,
        cfg.p_value_min,
        value > cfg.psi_max or p < cfg.p_value_min,
    )


def categorical_drift(
    ref: pd.Series, cur: pd.Series, name: str, cfg: DriftSettings
) -> FeatureDrift:
    from scipy.stats import chi2_contingency

    r = ref.astype("string").fillna(MISSING).value_counts()
    c = cur.astype("string").fillna(MISSING).value_counts()
    cats = sorted(set(r.index) | set(c.index))
    rc = np.array([r.get(k, 0) for k in cats], dtype=float)
    cc = np.array([c.get(k, 0) for k in cats], dtype=float)
    value = psi(rc / rc.sum(), cc / cc.sum())
    if len(cats) > 1:
        chi = chi2_contingency(np.vstack([rc, cc]))
        stat, p = float(chi.statistic), float(chi.pvalue)
    else:
        stat, p = 0.0, 1.0
    return FeatureDrift(
        name,
        "categorical",
        value,
        cfg.psi_max,
        "chi2",
        stat,
        p,
        cfg.p_value_min,
        value > cfg.psi_max or p < cfg.p_value_min,
    )


def feature_drift(
    reference: pd.DataFrame, current: pd.DataFrame, features: FeatureSchema, cfg: DriftSettings
) -> list[FeatureDrift]:
    """Drift of every configured feature, numeric first, in config order."""
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
    """One panel per feature: reference vs current distribution, PSI and p-value in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 3
    rows = (len(results) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, res in zip(axes.flat, results, strict=False):
        if res.kind == "numeric":
            r = pd.to_numeric(reference[res.feature], errors="coerce").dropna()
            c = pd.to_numeric(current[res.feature], errors="coerce").dropna()
            lo, hi = float(min(r.min(), c.min())), float(max(r.max(), c.max()))
            edges = np.linspace(lo, hi if hi > lo else lo + 1, 2 * bins + 1)
            ax.hist(r, edges, alpha=0.55, density=True, label=labels[0])
            ax.hist(c, edges, alpha=0.55, density=True, label=labels[1])
        else:
            r = reference[res.feature].astype("string").fillna(MISSING).value_counts(normalize=True)
            c = current[res.feature].astype("string").fillna(MISSING).value_counts(normalize=True)
            cats = sorted(set(r.index) | set(c.index))
            x = np.arange(len(cats))
            ax.bar(x - 0.2, [r.get(k, 0) for k in cats], 0.4, label=labels[0])
            ax.bar(x + 0.2, [c.get(k, 0) for k in cats], 0.4, label=labels[1])
            ax.set_xticks(x, cats, rotation=30, ha="right", fontsize=7)
        flag = "DRIFT" if res.drifted else "ok"
        ax.set_title(
            f"{res.feature}: PSI {res.psi:.3f}, p {res.p_value:.1e} [{flag}]",
            fontsize=9,
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
