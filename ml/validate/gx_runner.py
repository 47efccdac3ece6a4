"""Run contract expectations with Great Expectations Core 1.x on an in-memory DataFrame.

GX is imported on first use (it takes seconds) and one ephemeral context serves the whole
process. Three choices keep a 1M-row validation to about a second of GX time without dropping
any expectation (measured in benchmarks/README.md):

- the pass over all expectations uses the BASIC result format (counts plus a few sample values);
  only expectations that failed are run again with SUMMARY to get value counts and row indexes;
- categorical columns reach GX as pandas `category` and the ID column as plain `object`:
  GX filters the whole frame by each column's null mask and counts nulls per expectation,
  which is cheap on category codes and slow on string arrays;
- GX's batch fingerprint (a hash of every cell, stored as a batch marker that mlci never reads;
  the file's MD5 is the dataset digest) is switched off for our batches. It costs more than all
  the expectations together on a 1M-row frame and GX has no option for it, so its threshold
  constant is set to zero while our batches are built and validated.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from ml.errors import InputError
from ml.validate.contract import ContractExpectation

INDEX_KEY = "mlci_index"
SAMPLES = 10


@functools.lru_cache(maxsize=1)
def _batch_definition() -> Any:
    """One ephemeral GX context with a pandas datasource, shared by every validation."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    asset = context.data_sources.add_pandas("mlci").add_dataframe_asset("dataset")
    return asset.add_batch_definition_whole_dataframe("whole")


def load_gx() -> None:
    """Import GX and build the shared context now (the slow part of the first validation)."""
    _batch_definition()


def gx_version() -> str:
    import great_expectations as gx

    return str(gx.__version__)


@contextmanager
def _without_batch_fingerprint() -> Iterator[None]:
    from great_expectations.execution_engine import pandas_execution_engine as engine

    if not hasattr(engine, "HASH_THRESHOLD"):
        yield
        return
    old = engine.HASH_THRESHOLD
    engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = old


def run_expectations(
    frame: pd.DataFrame,
    expectations: dict[int, ContractExpectation],
    suite_name: str,
    source: Path,
) -> dict[int, dict[str, Any]]:
    """Validate `frame` against the given expectations (keyed by contract position).

    Returns each expectation's GX result as a plain dict (`success`, `result`,
    `exception_info`), keyed like the input. Never raises for a failed expectation; raises
    InputError naming `source` (the contract file) for an expectation GX does not accept.
    """
    if not expectations:
        return {}
    results = _validate(frame, expectations, suite_name, "BASIC", source)
    failed = {i: expectations[i] for i, r in results.items() if not r["success"]}
    if failed:
        results.update(_validate(frame, failed, suite_name + "-details", "SUMMARY", source))
    return results


def _validate(
    frame: pd.DataFrame,
    expectations: dict[int, ContractExpectation],
    suite_name: str,
    result_format: str,
    source: Path,
) -> dict[int, dict[str, Any]]:
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    suite = gx.ExpectationSuite(name=suite_name)
    for i, e in expectations.items():
        config = ExpectationConfiguration(type=e.type, kwargs=dict(e.kwargs), meta={INDEX_KEY: i})
        try:
            suite.add_expectation_configuration(config)
        except Exception as err:  # GX raises pydantic and its own error types here
            detail = " | ".join(line.strip() for line in str(err).splitlines()[:4])
            raise InputError(
                f"{source}: expectations[{i}] ({e.type}): Great Expectations rejects it: {detail}"
            ) from None
    # batch.validate fetches the batch again through the context, so both calls need it.
    with _without_batch_fingerprint():
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
        outcome = batch.validate(
            suite,
            result_format={"result_format": result_format, "partial_unexpected_count": SAMPLES},
        )
    out: dict[int, dict[str, Any]] = {}
    for r in outcome.results:
        d = r.to_json_dict()
        out[int(d["expectation_config"]["meta"][INDEX_KEY])] = d
    return out
