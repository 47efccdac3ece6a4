"""Issue 8, "Done when": from a CSV to a gated, registered model with no edits, on real data.

Three datasets that ship inside scikit-learn (breast cancer: binary with string labels
"malignant"/"benign"; wine: multiclass with class codes 0/1/2; diabetes: regression) and a
seeded mixed numeric/categorical table without an ID column. For each, in a fresh folder:

1. `mlci init --data CSV --target COLUMN` then `mlci pipeline run` exit 0, and
   build/evaluate/metrics.json holds the task's metrics;
2. corrupted copies (a dropped column; values out of range) fail `mlci data validate PATH`
   (exit 1) with the contract init wrote;
3. a model trained on shuffled labels is rejected by the gate init wrote (`mlci evaluate` exit 1).

Everything runs in-process through Click's CliRunner on the embedded defaults (SQLite MLflow
store in the project folder); no service is needed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from threadpoolctl import threadpool_limits

from ml.cli import cli
from ml.tasks import METRICS

pytestmark = pytest.mark.slow


def breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer(as_frame=True)
    frame = d.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame["diagnosis"] = np.where(frame.pop("target") == 0, "malignant", "benign")
    return frame


def wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    return load_wine(as_frame=True).frame.rename(columns={"target": "cultivar"})


def diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    return load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})


def mixed() -> pd.DataFrame:
    """1,500 seeded rows: numbers (one with empty cells), categories, a yes/no label; no ID."""
    rng = np.random.default_rng(8)
    n = 1_500
    plan = rng.choice(["basic", "plus", "pro"], n, p=(0.5, 0.3, 0.2))
    region = rng.choice(["north", "south", "east", "west"], n)
    age = rng.integers(18, 90, n)
    income = rng.lognormal(10, 0.4, n).round(2)
    visits = rng.poisson(3, n)
    logit = (
        -1.0
        + 1.4 * (plan == "pro")
        - 0.8 * (plan == "basic")
        + 0.03 * (age - 50)
        + 0.3 * (visits - 3)
        + 0.5 * (region == "west")
    )
    label = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    income = np.where(rng.random(n) < 0.03, np.nan, income)
    return pd.DataFrame(
        {
            "age": age,
            "income": income,
            "visits": visits,
            "plan": plan,
            "region": region,
            "renewed": label,
        }
    )


# name -> (frame factory, target, task, a numeric column to push out of range)
DATASETS: dict[str, tuple[Callable[[], pd.DataFrame], str, str, str]] = {
    "breast_cancer": (breast_cancer, "diagnosis", "binary", "mean_radius"),
    "wine": (wine, "cultivar", "multiclass", "alcohol"),
    "diabetes": (diabetes, "progression", "regression", "bmi"),
    "mixed": (mixed, "renewed", "binary", "age"),
}


def mlci(*args: str):
    with threadpool_limits(1):  # HistGradientBoosting oversubscribes the 2 cores otherwise
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in os.environ if v.startswith("MLCI_")]:
        monkeypatch.delenv(var)


@pytest.mark.parametrize("name", list(DATASETS))
def test_init_then_pipeline_then_corruptions_and_shuffled_labels(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None
):
    make, target, task, numeric = DATASETS[name]
    frame = make()
    csv = tmp_path / f"{name}.csv"
    frame.to_csv(csv, index=False)
    proj = tmp_path / name
    proj.mkdir()
    monkeypatch.chdir(proj)

    # 1. init, then the whole pipeline with no edit
    result = mlci("init", "--data", str(csv), "--target", target)
    assert result.exit_code == 0, result.output
    assert f": {task} on {target!r}" in result.output
    print("\n" + "\n".join(line for line in result.output.splitlines() if "->" in line))
    result = mlci("pipeline", "run")
    assert result.exit_code == 0, result.output
    metrics = json.loads((proj / "build" / "evaluate" / "metrics.json").read_text())
    assert metrics["task"] == task
    assert set(metrics["metrics"]) >= set(METRICS[task])
    assert metrics["verdict"] == "passed", metrics["checks"]
    print(f"\n{name} ({task}) metrics: {json.dumps(metrics['metrics'], sort_keys=True)}")

    # 2. corrupted copies fail validation with the generated contract
    dropped = tmp_path / f"{name}-dropped.csv"
    frame.drop(columns=[numeric]).to_csv(dropped, index=False)
    result = mlci("data", "validate", str(dropped), "--out", str(tmp_path / "v-dropped"))
    assert result.exit_code == 1, result.output
    assert numeric in result.output

    out_of_range = frame.copy()
    col = out_of_range[numeric]
    span = float(col.max() - col.min()) or 1.0
    out_of_range.loc[out_of_range.index[:3], numeric] = col.max() + 10 * span
    bad = tmp_path / f"{name}-range.csv"
    out_of_range.to_csv(bad, index=False)
    result = mlci("data", "validate", str(bad), "--out", str(tmp_path / "v-range"))
    assert result.exit_code == 1, result.output
    assert "expect_column_values_to_be_between" in result.output and numeric in result.output

    # 3. the gate rejects a model trained on shuffled labels
    shuffled = frame.copy()
    shuffled[target] = np.random.default_rng(0).permutation(shuffled[target].to_numpy())
    shuffled_csv = tmp_path / f"{name}-shuffled.csv"
    shuffled.to_csv(shuffled_csv, index=False)
    result = mlci("train", "--dataset", str(shuffled_csv))
    assert result.exit_code == 0, result.output
    result = mlci("evaluate")
    assert result.exit_code == 1, result.output
    rejected = json.loads((proj / "build" / "evaluate" / "metrics.json").read_text())
    assert rejected["verdict"] == "failed"
    failed = [c["name"] for c in rejected["checks"] if not c["passed"]]
    print(f"{name} shuffled labels: {json.dumps(rejected['metrics'], sort_keys=True)}")
    # rejected by the bounds init derived (no champion exists: nothing else could reject it)
    assert failed and all(n.split(".")[0] in ("min", "max") for n in failed), failed
