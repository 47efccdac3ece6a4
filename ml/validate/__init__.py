"""validate stage: check a dataset version against the data contract (Great Expectations).

`validate_dataset` is the entry point the CLI and the pipeline runner call. It never raises for
failed expectations; callers look at `report.success` (the CLI raises ValidationFailed).
"""

from __future__ import annotations

from pathlib import Path

from ml.config import Settings
from ml.data.dataset import DatasetVersion
from ml.validate.contract import Contract, ContractExpectation, load_contract
from ml.validate.validation import ExpectationOutcome, ValidationReport, check_dataset

__all__ = [
    "Contract",
    "ContractExpectation",
    "ExpectationOutcome",
    "ValidationReport",
    "load_contract",
    "validate_dataset",
]


def validate_dataset(
    settings: Settings, dataset: DatasetVersion, out_dir: Path
) -> ValidationReport:
    """Check `dataset` against the configured contract and write JUnit, Markdown and JSON reports.

    Raises InputError only for problems with the inputs themselves (contract file missing or
    inconsistent with mlci.yaml); an empty or malformed CSV is a failed check, not an error.
    """
    from ml.validate.report import FILES, write_reports

    for name in FILES.values():  # a stale report must not outlive a run that stopped early
        (out_dir / name).unlink(missing_ok=True)
    report = check_dataset(settings, dataset)
    report.outputs = write_reports(report, out_dir)
    return report
