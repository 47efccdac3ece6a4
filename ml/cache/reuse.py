"""Reusing a cached training run: the same run.json a fresh `mlci train` would have written."""

from __future__ import annotations

import dataclasses

from ml.cache.lookup import CacheHit
from ml.config import Settings
from ml.data.dataset import DatasetVersion
from ml.registry.runs import RunRecord, record_from_run, write_record


def reuse_run(settings: Settings, hit: CacheHit, dataset: DatasetVersion) -> RunRecord:
    """Write build/train/run.json for the cached run, pointing at this workspace's copy of the
    dataset (same digest: it is part of the key), so evaluate and register proceed as after
    a fresh fit; register then finds the existing version and creates nothing."""
    record = record_from_run(settings, hit.run_id)
    record = dataclasses.replace(record, dataset_path=str(dataset.path.resolve()))
    write_record(settings, record)
    return record
