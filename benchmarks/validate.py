"""Data validation on the 1M-row generated snapshot: mlci's GX setup against a naive GX setup,
and both against a bare scikit-learn fit of the configured estimator (the validation budget is
about 15% of that fit).

    .venv/bin/python benchmarks/validate.py [--rows 1000000] [--no-fit]

Prints seconds per phase and the ratios. Generates data/generated/churn-2025Q1-<rows>.csv first
when missing (the same file `mlci data generate --rows N` writes).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def timed(label: str, fn, results: dict[str, float]):
    """Wall seconds into `results`; CPU seconds printed too (the machine may be shared)."""
    started, cpu = time.perf_counter(), time.process_time()
    value = fn()
    results[label] = time.perf_counter() - started
    print(
        f"  {label:<44} {results[label]:7.2f} s wall {time.process_time() - cpu:7.2f} s cpu",
        flush=True,
    )
    return value


def naive_gx(path: Path, settings, contract) -> bool:
    """GX as a first attempt would use it: SUMMARY format, strings as strings, defaults."""
    import great_expectations as gx
    import pandas as pd
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    dtypes = {c: "string" for c in settings.data.features.categorical}
    dtypes[settings.data.id_column] = "string"
    frame = pd.read_csv(path, dtype=dtypes)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    batch_def = (
        context.data_sources.add_pandas("naive")
        .add_dataframe_asset("d")
        .add_batch_definition_whole_dataframe("all")
    )
    suite = gx.ExpectationSuite(name="naive")
    for e in contract.expectations:
        suite.add_expectation_configuration(
            ExpectationConfiguration(type=e.type, kwargs=dict(e.kwargs))
        )
    batch = batch_def.get_batch(batch_parameters={"dataframe": frame})
    return bool(batch.validate(suite, result_format="SUMMARY").success)


def bare_fit(path: Path, settings) -> None:
    import importlib

    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    frame = pd.read_csv(path)
    feats = settings.data.features
    module, _, cls = settings.train.estimator.rpartition(".")
    est = getattr(importlib.import_module(module), cls)(
        random_state=settings.train.seed, **settings.train.params
    )
    pre = ColumnTransformer([("cat", OrdinalEncoder(), feats.categorical)], remainder="passthrough")
    make_pipeline(pre, est).fit(frame[feats.all], frame[settings.data.target])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-fit", action="store_true", help="skip the sklearn reference fit")
    args = parser.parse_args()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

    from ml.config import load_settings
    from ml.data.dataset import resolve_dataset
    from ml.data.generate import DEFAULT_SEEDS, write_snapshot
    from ml.validate import validate_dataset
    from ml.validate.contract import load_settings_contract
    from ml.validate.validation import check_dataset

    settings = load_settings(REPO / "mlci.yaml")
    path = settings.path(f"data/generated/churn-2025Q1-{args.rows}.csv")
    if not path.exists():
        print(f"generating {path} ...", flush=True)
        write_snapshot(path, args.rows, DEFAULT_SEEDS["2025Q1"], "2025Q1")
    contract = load_settings_contract(settings)
    print(
        f"{path} ({args.rows:,} rows), {len(contract.expectations)} expectations, "
        f"{os.cpu_count()} CPUs"
    )
    r: dict[str, float] = {}
    timed(
        "import great_expectations (once per process)", lambda: __import__("great_expectations"), r
    )
    dataset = timed("md5 digest of the file", lambda: resolve_dataset(settings, path), r)
    timed(
        "mlci: validate_dataset, first call",
        lambda: validate_dataset(settings, dataset, REPO / "build/benchmarks/validate"),
        r,
    )
    report = timed(
        "mlci: validate_dataset, second call",
        lambda: validate_dataset(settings, dataset, REPO / "build/benchmarks/validate"),
        r,
    )
    assert report.success, [f.message for f in report.failures]
    timed(
        "mlci: check only (read + GX, no reports)",
        lambda: check_dataset(settings, dataset, contract),
        r,
    )
    timed(
        "naive GX: read + SUMMARY on default dtypes", lambda: naive_gx(path, settings, contract), r
    )
    naive = r["naive GX: read + SUMMARY on default dtypes"]
    print(f"naive / mlci (warm): {naive / r['mlci: check only (read + GX, no reports)']:.2f}x")
    if not args.no_fit:
        timed("bare sklearn fit (read + fit)", lambda: bare_fit(path, settings), r)
        fit = r["bare sklearn fit (read + fit)"]
        warm = r["mlci: validate_dataset, second call"]
        cold = warm + r["import great_expectations (once per process)"]
        print(f"validation / fit: warm {warm / fit:.1%}, including the GX import {cold / fit:.1%}")


if __name__ == "__main__":
    main()
