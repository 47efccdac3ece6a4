"""Moved to ml.registry.runs: register reads run records too, and the registry is lower."""

from ml.registry.runs import RunRecord, SplitSpec, read_record, record_from_run, write_record

__all__ = ["RunRecord", "SplitSpec", "read_record", "record_from_run", "write_record"]
