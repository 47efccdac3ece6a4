"""`mlci pipeline run` (validate + train + evaluate + register) against a bare scikit-learn fit +
predict of the same estimator and preprocessing, on the generated 1M-row snapshot.

    .venv/bin/python benchmarks/pipeline_vs_sklearn.py [--rows 1000000] [--repeat 1]

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


def project(root: Path) -> Path:
    doc = yaml.safe_load((REPO / "mlci.yaml").read_text())
    doc["data"]["dir"] = str(REPO / doc["data"]["dir"])
    doc["data"]["contract"] = str(REPO / doc["data"]["contract"])
    cfg = root / "mlci.yaml"
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
df = pd.read_csv(sys.argv[2], dtype={c: "string" for c in [*cat, s.data.id_column]})
X, y = feature_frame(df, s), df[s.data.target].to_numpy()
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=s.data.test_size,
                                      random_state=s.train.seed, stratify=y)
model = build_pipeline(s).fit(Xtr, ytr)
proba = model.predict_proba(Xte)[:, 1]
print("held-out rows", len(proba))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1, help="alternate the two sides N times")
    ap.add_argument("--keep", action="store_true", help="keep the temp project and logs")
    ap.add_argument(
        "--no-speculate",
        action="store_true",
        help="run the pipeline with --no-speculate (fit inside the train stage)",
    )
    args = ap.parse_args()
    data = dataset(args.rows)
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
    results: dict[str, list[tuple[float, float]]] = {"pipeline": [], "sklearn": []}
    for i in range(args.repeat):
        root = tmp / f"run{i}"
        root.mkdir()
        cfg = project(root)
        w, r, code = measured([str(PY), "-c", BARE, str(cfg), str(data)], env, root / "sklearn.log")
        if code:
            print((root / "sklearn.log").read_text())
            return code
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
            return code
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
        f"\nrows {args.rows:,}  (best of {args.repeat}; the machine may be shared, so each "
        f"pair's ratio is shown too: {', '.join(f'{r:.2f}' for r in pairs)}; "
        f"median {statistics.median(pairs):.2f})"
    )
    print(f"bare sklearn      {best['sklearn'][0]:7.1f} s   peak RSS {best['sklearn'][1]:6.0f} MiB")
    print(
        f"mlci pipeline run {best['pipeline'][0]:7.1f} s   peak RSS {best['pipeline'][1]:6.0f} MiB"
    )
    print(f"ratio (time)      {ratio:7.2f}   (target <= 1.5)   memory ratio {mem:.2f}")
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"logs in {tmp}")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
