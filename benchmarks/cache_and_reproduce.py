"""The training cache and `mlci reproduce` on the 1M-row dataset, side by side in one run.

    .venv/bin/python benchmarks/cache_and_reproduce.py [--rows 1000000]

In a fresh clone of this repository (its committed HEAD) with its own embedded MLflow store:

1. `mlci data add` the 1M-row snapshot as version `bench<rows>` (dvc add + push to the clone's
   bundled remote), untimed;
2. **full**: `mlci pipeline run` (validate, train, evaluate, register: a cache miss);
3. **no-op**: `mlci pipeline run` again (nothing changed: a cache hit on the registered version,
   validation cached too). Target: no-op <= 10% of full;
4. **reproduce**: `mlci reproduce 1` (temporary worktree, dataset by digest from the remote,
   retrain with the commit's code, compare), against the original fit and the full run.

Each step is its own process (`python -m ml` in the clone, as `make pipeline` runs it), so the
times include interpreter start-up and imports.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = REPO / ".venv/bin/python"


def dataset(rows: int) -> Path:
    path = REPO / f"data/generated/churn-2025Q1-{rows}.csv"
    if not path.exists():
        sys.path.insert(0, str(REPO))
        from ml.data.generate import DEFAULT_SEEDS, write_snapshot

        print(f"generating {path} ...", flush=True)
        write_snapshot(path, rows, DEFAULT_SEEDS["2025Q1"], "2025Q1")
    return path


def timed(cwd: Path, env: dict, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [str(PY), "-m", "ml", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"mlci {' '.join(args)} exited {out.returncode}:\n{out.stderr[-3000:]}")
    return seconds, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    opts = ap.parse_args()
    csv = dataset(opts.rows)
    version = f"bench{opts.rows}"
    with tempfile.TemporaryDirectory(prefix="mlci-bench-cache-") as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLCI_")}
        for var in ("FORCE_RETRAIN", "PYTHONPATH", "GIT_COMMIT"):
            env.pop(var, None)
        env["MLCI_DATA__VERSION"] = version
        timed(clone, env, "data", "add", str(csv), "--version", version)
        full, _ = timed(clone, env, "pipeline", "run", "--json")
        noop, out = timed(clone, env, "pipeline", "run", "--json")
        stages = {s["name"]: s["status"] for s in json.loads(out.stdout)["stages"]}
        repro, out = timed(clone, env, "reproduce", "1", "--json")
        report = json.loads(out.stdout)
    fit = report["original_fit_seconds"]
    print(f"rows: {opts.rows:,}  (dataset {version}, md5 {report['dataset']['digest']})")
    print(f"full pipeline run (cache miss):   {full:8.1f} s")
    print(f"no-op pipeline run (cache hit):   {noop:8.1f} s   stages {stages}")
    print(f"no-op / full:                     {noop / full:8.3f}   (target <= 0.10)")
    print(f"original fit (fit_seconds):       {fit:8.1f} s")
    print(f"mlci reproduce 1:                 {repro:8.1f} s   identical={report['identical']}")
    print(f"reproduce / full run:             {repro / full:8.2f}")
    print(f"reproduce / original fit:         {repro / fit:8.2f}")


if __name__ == "__main__":
    main()
