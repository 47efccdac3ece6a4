"""`mlci pipeline run` (validate + train + evaluate + register) against a bare scikit-learn fit +
predict of the same estimator and preprocessing, on 1M-row data, one row per task:

- binary: the generated 1M-row churn snapshot and the bundled mlci.yaml;
- regression and multiclass: a seeded 1M-row table made here (6 numeric, 2 categorical
  features, no ID column; target = a noisy non-linear function / its tercile class), with
  HistGradientBoostingRegressor / HistGradientBoostingClassifier and a minimal contract.

    .venv/bin/python benchmarks/pipeline_vs_sklearn.py [--rows 1000000] [--repeat 1]
        [--tasks binary,regression,multiclass]

Each side runs as its own process under /usr/bin/time -v, so wall time and peak RSS include
interpreter start-up and imports. The pipeline side gets a fresh project folder (new embedded
MLflow store on SQLite, new build/). The bare side reads the same CSV with pandas, makes the same
stratified split, fits `build_pipeline(settings)` (the same ColumnTransformer + estimator) and
predicts the held-out rows. Target: ratio <= 1.5.

Children run with bytecode caching on (PYTHONDONTWRITEBYTECODE unset, one untimed warm-up
import), as in any normal install; otherwise both sides pay to compile their imports each time.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
PY = REPO / ".venv/bin/python"
MLCI = REPO / ".venv/bin/mlci"


def dataset(rows: int) -> Path:
    path = REPO / f"data/generated/churn-2025Q1-{rows}.csv"
    if not path.exists():
        sys.path.insert(0, str(REPO))
        from ml.data.generate import DEFAULT_SEEDS, write_snapshot

        print(f"generating {path} ...", flush=True)
        write_snapshot(path, rows, DEFAULT_SEEDS["2025Q1"], "2025Q1")
    return path


def synthetic(rows: int, task: str) -> Path:
    """A seeded table for `task` (regression or multiclass), written once per size."""
    path = REPO / f"data/generated/{task}-{rows}.csv"
    if path.exists():
        return path
    import numpy as np
    import pandas as pd

    print(f"generating {path} ...", flush=True)
    rng = np.random.default_rng(20260101 if task == "regression" else 20260102)
    x = rng.normal(size=(rows, 6))
    region = rng.choice(np.array(["north", "south", "east", "west"]), rows)
    plan = rng.choice(np.array(["basic", "plus", "pro"]), rows, p=[0.5, 0.3, 0.2])
    signal = (
        2 * x[:, 0]
        + np.sin(3 * x[:, 1])
        + x[:, 2] * x[:, 3]
        + 0.5 * (region == "north")
        + 1.0 * (plan == "pro")
    )
    value = signal + rng.normal(scale=0.5, size=rows)
    frame = pd.DataFrame({f"x{i}": x[:, i] for i in range(6)})
    frame.loc[rng.random(rows) < 0.01, "x5"] = np.nan  # some missing values, as real data has
    frame["region"], frame["plan"] = region, plan
    if task == "regression":
        frame["target"] = value
    else:
        cuts = np.quantile(value, [1 / 3, 2 / 3])
        frame["target"] = np.array(["low", "mid", "high"])[np.searchsorted(cuts, value)]
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def project(root: Path, task: str = "binary", data: Path | None = None) -> Path:
    cfg = root / "mlci.yaml"
    if task == "binary":
        doc = yaml.safe_load((REPO / "mlci.yaml").read_text())
        doc["data"]["dir"] = str(REPO / doc["data"]["dir"])
        doc["data"]["contract"] = str(REPO / doc["data"]["contract"])
        cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
        return cfg
    assert data is not None
    columns = [*(f"x{i}" for i in range(6)), "region", "plan", "target"]
    contract = {
        "name": task,
        "expectations": [
            {
                "type": "expect_table_columns_to_match_set",
                "kwargs": {"column_set": columns, "exact_match": True},
                "meta": {"risk": "schema", "why": "benchmark data"},
            },
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "target"},
                "meta": {"risk": "label", "why": "every row needs a target"},
            },
        ],
    }
    (root / "contract.yaml").write_text(yaml.safe_dump(contract, sort_keys=False))
    regression = task == "regression"
    doc = {
        "project": task,
        "data": {
            "dir": str(data.parent),
            "version": data.stem,
            "contract": "contract.yaml",
            "target": "target",
            "features": {"numeric": columns[:6], "categorical": ["region", "plan"]},
            "test_size": 0.2,
        },
        "train": {
            "task": task,
            "seed": 42,
            "estimator": "sklearn.ensemble.HistGradientBoosting"
            + ("Regressor" if regression else "Classifier"),
            "params": {"max_iter": 200, "learning_rate": 0.1, "early_stopping": False},
        },
        "evaluate": {"min": {"r2": 0.5}} if regression else {"min": {"f1_macro": 0.5}},
        "mlflow": {"experiment": task, "model_name": f"{task}-model"},
    }
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    return cfg


def measured(argv: list[str], env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit code) of `argv` under /usr/bin/time -v."""
    started = time.perf_counter()
    with log.open("w") as out:
        code = subprocess.run(
            ["/usr/bin/time", "-v", *argv], env=env, stdout=out, stderr=subprocess.STDOUT
        ).returncode
    wall = time.perf_counter() - started
    text = log.read_text()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
    return wall, rss, code


BARE = """
import sys, time
import pandas as pd
from sklearn.model_selection import train_test_split
from ml.config import load_settings
from ml.train.model import build_pipeline, feature_frame
s = load_settings(sys.argv[1])
cat = s.data.features.categorical
strings = [*cat, *([s.data.id_column] if s.data.id_column else [])]
df = pd.read_csv(sys.argv[2], dtype={c: "string" for c in strings})
X, y = feature_frame(df, s), df[s.data.target].to_numpy()
classify = s.train.task != "regression"
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=s.data.test_size,
                                      random_state=s.train.seed, stratify=y if classify else None)
model = build_pipeline(s).fit(Xtr, ytr)
out = model.predict_proba(Xte) if classify else model.predict(Xte)
print("held-out rows", len(out))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1, help="alternate the two sides N times")
    ap.add_argument("--keep", action="store_true", help="keep the temp project and logs")
    ap.add_argument(
        "--tasks",
        default="binary,regression,multiclass",
        help="comma-separated tasks to measure (binary = the churn snapshot)",
    )
    ap.add_argument(
        "--no-speculate",
        action="store_true",
        help="run the pipeline with --no-speculate (fit inside the train stage)",
    )
    args = ap.parse_args()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MLCI_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPATH"] = str(REPO)
    subprocess.run(
        [
            PY,
            "-c",
            "import mlflow.sklearn, great_expectations, sklearn.ensemble, "
            "matplotlib.pyplot, skops.io, ml.cli.pipeline",
        ],
        env=env,
        check=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="mlci-bench-"))
    worst = 0.0
    summary = []
    for task in args.tasks.split(","):
        data = dataset(args.rows) if task == "binary" else synthetic(args.rows, task)
        ratio, pairs = bench(task, data, tmp / task, args, env)
        if ratio is None:
            return 1
        worst = max(worst, ratio)
        summary.append((task, ratio, statistics.median(pairs)))
    print(f"\nrows {args.rows:,}: time ratio pipeline / bare sklearn per task (best, median)")
    for task, ratio, median in summary:
        print(f"  {task:<11} {ratio:5.2f}  {median:5.2f}")
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"logs in {tmp}")
    return 0 if worst <= 1.5 else 1


def bench(
    task: str, data: Path, tmp: Path, args: argparse.Namespace, env: dict[str, str]
) -> tuple[float | None, list[float]]:
    """Alternate the two sides `args.repeat` times on `data`; print and return the ratio."""
    results: dict[str, list[tuple[float, float]]] = {"pipeline": [], "sklearn": []}
    print(f"\n=== {task}: {data}", flush=True)
    for i in range(args.repeat):
        root = tmp / f"run{i}"
        root.mkdir(parents=True)
        cfg = project(root, task, data)
        w, r, code = measured([str(PY), "-c", BARE, str(cfg), str(data)], env, root / "sklearn.log")
        if code:
            print((root / "sklearn.log").read_text())
            return None, []
        results["sklearn"].append((w, r))
        print(f"[{i}] bare sklearn fit+predict  {w:7.1f} s  {r:7.0f} MiB", flush=True)
        w, r, code = measured(
            [
                str(MLCI),
                "--config",
                str(cfg),
                "pipeline",
                "run",
                "--dataset",
                str(data),
                *(["--no-speculate"] if args.no_speculate else []),
            ],
            env,
            root / "pipeline.log",
        )
        if code:
            print((root / "pipeline.log").read_text())
            return None, []
        results["pipeline"].append((w, r))
        print(f"[{i}] mlci pipeline run         {w:7.1f} s  {r:7.0f} MiB", flush=True)
        table = (root / "pipeline.log").read_text()
        print(
            "\n".join(
                line
                for line in table.splitlines()
                if re.match(r"^(stage|-{5}|validate|train|evaluate|register|total)\s{2,}", line)
            )
        )
    best = {k: min(v) for k, v in results.items()}
    ratio = best["pipeline"][0] / best["sklearn"][0]
    mem = best["pipeline"][1] / best["sklearn"][1]
    pairs = [p[0] / b[0] for p, b in zip(results["pipeline"], results["sklearn"], strict=True)]
    print(
        f"{task}: rows {args.rows:,}  (best of {args.repeat}; the machine may be shared, so "
        f"each pair's ratio is shown too: {', '.join(f'{r:.2f}' for r in pairs)}; "
        f"median {statistics.median(pairs):.2f})"
    )
    print(f"bare sklearn      {best['sklearn'][0]:7.1f} s   peak RSS {best['sklearn'][1]:6.0f} MiB")
    print(
        f"mlci pipeline run {best['pipeline'][0]:7.1f} s   peak RSS {best['pipeline'][1]:6.0f} MiB"
    )
    print(f"ratio (time)      {ratio:7.2f}   (target <= 1.5)   memory ratio {mem:.2f}")
    return ratio, pairs


if __name__ == "__main__":
    sys.exit(main())
