"""`mlci reproduce`: rebuild a registered model version from its record and compare.

from ml.reproduce import reproduce_version, verdict
report = reproduce_version(settings, None, "1")   # RecordMissing (exit 2) if unrebuildable
verdict(report)                                    # ReproductionDiffers (exit 1) if not same
"""

from ml.reproduce.run import (
    Check,
    RecordMissing,
    ReproductionDiffers,
    ReproductionReport,
    reproduce_version,
    verdict,
)

__all__ = [
    "Check",
    "RecordMissing",
    "ReproductionDiffers",
    "ReproductionReport",
    "reproduce_version",
    "verdict",
]
