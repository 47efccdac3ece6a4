"""Check one dataset version against the data contract and say exactly what broke.

The result is a `ValidationReport`: one `ExpectationOutcome` per contract expectation, preceded by
the structural check `file is a readable CSV` (an empty file or a row with the wrong number of
fields fails it, and the contract's expectations are then reported as not evaluated). A failed
expectation never raises; the caller decides (the CLI exits 1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ml.config import Settings
from ml.data.dataset import DatasetVersion, UnreadableCsv, read_csv
from ml.validate.contract import Contract, ContractExpectation, load_settings_contract

PASSED, FAILED, NOT_EVALUATED = "passed", "failed", "not evaluated"
READABLE_CHECK = UnreadableCsv.check
TABLE_TYPES = {
    "expect_table_columns_to_match_set",
    "expect_table_row_count_to_be_between",
    "expect_table_column_count_to_equal",
    "expect_table_row_count_to_equal",
}


@dataclass
class ExpectationOutcome:
    """What one expectation found. `message` names the column and the expectation when it failed."""

    title: str
    type: str
    status: str
    message: str = ""
    column: str | None = None
    risk: str = ""
    why: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    observed: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    samples: list[Any] = field(default_factory=list)
    sample_rows: list[Any] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.status == PASSED

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass
class ValidationReport:
    """The verdict on one dataset version: every expectation's outcome and the files written."""

    dataset: DatasetVersion
    contract: Path
    results: list[ExpectationOutcome]
    rows: int | None
    seconds: float
    setup_seconds: float = 0.0
    outputs: dict[str, Path] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if r.status == FAILED]

    @property
    def not_evaluated(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if r.status == NOT_EVALUATED]

    def to_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "dataset": {
                "version": self.dataset.version,
                "path": str(self.dataset.path),
                "digest": self.dataset.digest,
            },
            "contract": str(self.contract),
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "setup_seconds": round(self.setup_seconds, 3),
            "statistics": {
                "expectations": len(self.results),
                "passed": sum(r.success for r in self.results),
                "failed": len(self.failures),
                "not_evaluated": len(self.not_evaluated),
            },
            "expectations": [r.to_dict() for r in self.results],
        }


def gx_frame(frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The frame as GX sees it: IDs as plain objects (fast null checks and hashing)."""
    out = frame
    idc = settings.data.id_column
    if idc in frame.columns and not pd.api.types.is_object_dtype(frame[idc].dtype):
        out = frame.copy(deep=False)
        out[idc] = frame[idc].astype(object)
    return out


def read_for_validation(dataset: DatasetVersion, settings: Settings) -> pd.DataFrame:
    """Read the snapshot strictly, categorical features as `category` and IDs as strings."""
    dtypes = {c: "category" for c in settings.data.features.categorical}
    dtypes[settings.data.id_column] = "string"
    return gx_frame(read_csv(dataset.path, dtypes), settings)


def check_dataset(
    settings: Settings, dataset: DatasetVersion, contract: Contract | None = None
) -> ValidationReport:
    """Run the readability check and the contract; write nothing."""
    from ml.validate.gx_runner import load_gx, run_expectations

    setup = time.perf_counter()
    load_gx()  # seconds on the first call of a process; reported apart from the checks
    started = time.perf_counter()
    setup_seconds = started - setup
    contract = contract or load_settings_contract(settings)
    try:
        frame = read_for_validation(dataset, settings)
    except UnreadableCsv as e:
        reason = str(e).removeprefix(f"{dataset.path}: ")
        results = [
            ExpectationOutcome(
                READABLE_CHECK,
                "file_is_readable_csv",
                FAILED,
                f"{READABLE_CHECK}: {reason}",
                risk="truncated or malformed file",
                observed=reason,
            )
        ]
        results += [
            _not_evaluated(e, "the file is not a readable CSV") for e in contract.expectations
        ]
        return ValidationReport(
            dataset, contract.path, results, None, time.perf_counter() - started, setup_seconds
        )

    results: list[ExpectationOutcome] = [
        ExpectationOutcome(
            READABLE_CHECK,
            "file_is_readable_csv",
            PASSED,
            risk="truncated or malformed file",
            observed=f"{len(frame)} rows, {len(frame.columns)} columns",
        )
    ]
    runnable: dict[int, ContractExpectation] = {}
    skipped: dict[int, ExpectationOutcome] = {}
    for i, e in enumerate(contract.expectations):
        if e.type in TABLE_TYPES or e.column is None:
            runnable[i] = e
        elif e.column not in frame.columns:
            skipped[i] = _not_evaluated(e, f"column {e.column!r} is missing from the file")
        elif frame.empty:
            skipped[i] = _not_evaluated(e, "the file has no data rows")
        else:
            runnable[i] = e
    gx_results = run_expectations(
        frame, runnable, f"{contract.name}-{dataset.version}", contract.path
    )
    for i, e in enumerate(contract.expectations):
        results.append(skipped[i] if i in skipped else _outcome(e, gx_results[i], frame))
    if not any(r.status == FAILED for r in results):
        for r in results:  # nothing may pass unchecked: a skipped expectation then fails
            r.status = FAILED if r.status == NOT_EVALUATED else r.status
    return ValidationReport(
        dataset, contract.path, results, len(frame), time.perf_counter() - started, setup_seconds
    )


def _not_evaluated(e: ContractExpectation, reason: str) -> ExpectationOutcome:
    return ExpectationOutcome(
        e.title,
        e.type,
        NOT_EVALUATED,
        f"{e.type} ({e.title}): not evaluated: {reason}",
        column=e.column,
        risk=e.risk,
        why=str(e.meta.get("why", "")),
        kwargs=e.kwargs,
    )


def _outcome(e: ContractExpectation, gx: dict[str, Any], frame: pd.DataFrame) -> ExpectationOutcome:
    res = gx.get("result") or {}
    exc = gx.get("exception_info") or {}
    out = ExpectationOutcome(
        e.title,
        e.type,
        PASSED if gx["success"] else FAILED,
        column=e.column,
        risk=e.risk,
        why=str(e.meta.get("why", "")),
        kwargs=e.kwargs,
        observed=res.get("observed_value"),
        element_count=res.get("element_count"),
        unexpected_count=res.get("unexpected_count"),
        unexpected_percent=res.get("unexpected_percent"),
        samples=list(res.get("partial_unexpected_list") or []),
        sample_rows=list(res.get("partial_unexpected_index_list") or []),
    )
    if out.success:
        return out
    if exc.get("raised_exception"):
        first = str(exc.get("exception_message") or "").strip().splitlines()[:1]
        dtype = frame[e.column].dtype if e.column in frame.columns else None
        out.message = (
            f"{e.type} ({e.title}): could not be evaluated on column {e.column!r}"
            f"{f' (dtype {dtype})' if dtype is not None else ''}: "
            f"{first[0] if first else 'GX raised an error'}"
        )
        return out
    if (
        e.type.startswith("expect_column_values_")
        and out.unexpected_count is None
        and (
            e.type
            not in {"expect_column_values_to_be_in_type_list", "expect_column_values_to_be_of_type"}
        )
    ):
        dtype = frame[e.column].dtype if e.column in frame.columns else "unknown"
        out.message = (
            f"{e.type} ({e.title}): values of column {e.column!r} could not be "
            f"checked: its dtype is {dtype} (see the dtype check)"
        )
        return out
    out.message = f"{e.type} ({e.title}): {_describe(e, out, res)}"
    return out


def _sample_text(out: ExpectationOutcome) -> str:
    """A few distinct offending values, taken from GX's sample of unexpected rows."""
    distinct = list(dict.fromkeys(repr(v) for v in out.samples))
    return "; e.g. " + ", ".join(distinct[:5]) if distinct else ""


def _describe(e: ContractExpectation, out: ExpectationOutcome, res: dict[str, Any]) -> str:
    """A sentence naming the column and what was found, per expectation type."""
    k, col, t = e.kwargs, e.column, e.type
    n, bad = out.element_count, out.unexpected_count
    pct = f" ({out.unexpected_percent:.3g}%)" if out.unexpected_percent is not None else ""
    if t == "expect_table_columns_to_match_set":
        mism = (res.get("details") or {}).get("mismatched") or {}
        parts = []
        if mism.get("missing"):
            parts.append("missing column(s) " + ", ".join(map(repr, mism["missing"])))
        if mism.get("unexpected"):
            parts.append(
                "extra column(s) "
                + ", ".join(map(repr, mism["unexpected"]))
                + " not in the contract"
            )
        return "; ".join(parts) or f"columns are {out.observed}"
    if t == "expect_table_row_count_to_be_between":
        return f"the file has {out.observed} rows, expected {e.title.removeprefix('row count ')}"
    if t == "expect_column_values_to_not_be_null":
        allowed = 1 - float(k.get("mostly", 1.0))
        return (
            f"column {col!r} has {bad} null values in {n} rows{pct}, allowed {allowed * 100:.4g}%"
        )
    if t == "expect_column_values_to_be_unique":
        return f"column {col!r} has {bad} rows with duplicated values{_sample_text(out)}"
    if t in {"expect_column_values_to_be_in_type_list", "expect_column_values_to_be_of_type"}:
        want = k.get("type_list") or [k.get("type_")]
        return f"column {col!r} has dtype {out.observed}, expected {' or '.join(map(str, want))}"
    if t == "expect_column_values_to_be_between":
        return (
            f"column {col!r} has {bad} values outside [{k.get('min_value')}, "
            f"{k.get('max_value')}]{pct}{_sample_text(out)}"
        )
    if t == "expect_column_values_to_be_in_set":
        return (
            f"column {col!r} has {bad} values not in the allowed set "
            f"{list(k.get('value_set', []))}{pct}{_sample_text(out)}"
        )
    if t == "expect_column_mean_to_be_between":
        obs = out.observed
        return (
            f"column {col!r} has mean {obs:.4g}, expected {e.title.removeprefix(f'{col} mean ')}"
            if isinstance(obs, int | float)
            else f"column {col!r} mean is {obs!r}"
        )
    if bad is not None:
        return f"column {col!r}: {bad} unexpected values{pct}{_sample_text(out)}"
    return f"column {col!r}: observed {out.observed!r}"
