"""`mlci init` and the drift measurement on the bundled 20k-row snapshot and the 1M-row file.

    .venv/bin/python benchmarks/init_and_drift.py [--rows 1000000]

For each file: `init_project` phase by phase (profile, baseline, contract check, write) next to
a bare `pandas.read_csv` of the same file (the least any profiler must do), and the drift of
every feature of 2025Q1 against 2025Q2 at that size (sampled to ct.drift.sample_size, so its
time should not grow with the rows). Wall and CPU seconds (the machine may be shared).
Generates data/generated/churn-<profile>-<rows>.csv first when missing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def timed(label: str, fn):
    started, cpu = time.perf_counter(), time.process_time()
    value = fn()
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    print(f"  {label:<40} {wall:7.2f} s wall {used:7.2f} s cpu", flush=True)
    return value, wall


def snapshot(profile: str, rows: int) -> Path:
    from ml.data.generate import BUNDLED_ROWS, DEFAULT_SEEDS, write_snapshot

    if rows == BUNDLED_ROWS:
        return REPO / "data" / "snapshots" / f"{profile}.csv"
    path = REPO / "data" / "generated" / f"churn-{profile}-{rows}.csv"
    if not path.exists():
        write_snapshot(path, rows, DEFAULT_SEEDS[profile], profile)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()

    import pandas as pd

    from ml.config import DriftSettings, load_settings
    from ml.ct.drift import feature_drift, sample_rows
    from ml.data.dataset import read_csv
    from ml.project.init import init_project

    settings = load_settings(REPO / "mlci.yaml")
    cfg = DriftSettings()
    for rows in (20_000, args.rows):
        ref, cur = snapshot("2025Q1", rows), snapshot("2025Q2", rows)
        print(f"{rows} rows ({ref.name}, {ref.stat().st_size / 1e6:.1f} MB)")
        _, read = timed("bare pandas.read_csv", lambda p=ref: pd.read_csv(p))
        with tempfile.TemporaryDirectory() as tmp:
            result, total = timed(
                "mlci init (all phases)",
                lambda p=ref, t=tmp: init_project(Path(t), p, "churned", name="bench"),
            )
        for phase, secs in result.seconds.items():
            print(f"    {phase:<38} {secs:7.2f} s wall")
        print(f"  init / bare read: {total / read:.1f}x")
        a = read_csv(ref, {c: "string" for c in settings.data.features.categorical})
        b = read_csv(cur, {c: "string" for c in settings.data.features.categorical})
        drift, _ = timed(
            f"drift of 8 features (sample {cfg.sample_size})",
            lambda a=a, b=b: feature_drift(
                sample_rows(a, cfg.sample_size, 42),
                sample_rows(b, cfg.sample_size, 43),
                settings.data.features,
                cfg,
            ),
        )
        print("  drifted:", ", ".join(d.feature for d in drift if d.drifted) or "none")


if __name__ == "__main__":
    main()
