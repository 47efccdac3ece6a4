"""register + evaluate against the team stack (MLflow server on PostgreSQL, artifacts in S3,
basic-auth) vs the embedded default (SQLite + local folder), as Jenkins stages run them.

    .venv/bin/python benchmarks/team_stack.py [--reps 3]

Starts a throwaway team stack with scripts/team-stack.sh (free ports, temp folder; the server
tools venv is shared with the tests), then in two fresh project folders - one per store - runs
`mlci train` once per repetition (not timed) and times `mlci evaluate` and `mlci model register`
as separate processes (each a Jenkins `sh` step: the candidate model is downloaded from the
store, metrics and smoke samples uploaded, the version created). Prints seconds per step, the
median per store and the ratio shared / embedded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def run(ws: Path, env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ml", *args],
        cwd=ws,
        env={**env, "MLCI_CONFIG": str(ws / "mlci.yaml"), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"mlci {' '.join(args)} failed in {ws}:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3, help="train+evaluate+register rounds")
    args = ap.parse_args()

    from tests.conftest import write_project
    from tests.fixtures.team_stack import start_team_stack, stop_team_stack

    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLCI_", "MLFLOW_"))}
    base["OMP_NUM_THREADS"] = "1"
    t0 = time.perf_counter()
    stack = start_team_stack()
    print(f"team stack up in {time.perf_counter() - t0:.1f} s ({stack.tracking_uri})", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="mlci-bench-team-") as tmp:
            stores = {
                "embedded": ({}, base),
                "shared": ({"project": f"bench{os.getpid()}"}, {**base, **stack.client_env()}),
            }
            results: dict[str, list[float]] = {}
            for label, (over, env) in stores.items():
                ws = write_project(Path(tmp) / label, over).parent
                results[label] = []
                for rep in range(1, args.reps + 1):
                    run(ws, env, "train")
                    ev = run(ws, env, "evaluate")
                    reg = run(ws, env, "model", "register")
                    results[label].append(ev + reg)
                    print(
                        f"  {label:<9} round {rep}: evaluate {ev:6.2f} s  register {reg:6.2f} s"
                        f"  sum {ev + reg:6.2f} s",
                        flush=True,
                    )
            med = {k: statistics.median(v) for k, v in results.items()}
            print(
                f"median evaluate+register: embedded {med['embedded']:.2f} s, "
                f"shared {med['shared']:.2f} s, ratio shared/embedded "
                f"{med['shared'] / med['embedded']:.2f}"
            )
    finally:
        stop_team_stack(stack)


if __name__ == "__main__":
    main()
