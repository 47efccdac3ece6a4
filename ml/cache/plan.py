"""The cache decision of `mlci pipeline run`, made before any stage starts.

When the training-cache key is already on a registered version, train, evaluate and register
have nothing to do (the version exists, with its evaluation); validation is skipped too when
that version's run recorded a passed validation of the same data digest against the same
contract, validator and lock. So a no-op re-run costs a digest, a key and one query.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.cache.key import CacheKey, training_key, validation_key
from ml.cache.lookup import CacheHit, find_cached
from ml.config import Settings
from ml.data.dataset import resolve_dataset
from ml.registry.tags import VALIDATION_KEY


@dataclass(frozen=True)
class PipelineCache:
    key: CacheKey
    hit: CacheHit | None
    validated: bool  # the hit's run recorded a passed validation of exactly this input

    @property
    def registered(self) -> bool:
        return self.hit is not None and self.hit.version is not None

    def describe(self) -> str:
        if self.hit is None:
            return f"cache miss: key {self.key.short}"
        text = self.hit.describe()
        if self.registered:
            text += "; train, evaluate and register have nothing to do"
            if self.validated:
                text += "; this data already passed this contract (validation cached)"
        return text


def check_pipeline_cache(settings: Settings, dataset: str | None = None) -> PipelineCache:
    ds = resolve_dataset(settings, dataset)
    key = training_key(settings, ds.digest)
    hit = find_cached(settings, key.key)
    validated = hit is not None and hit.tags.get(VALIDATION_KEY) == validation_key(
        settings, ds.digest
    )
    return PipelineCache(key, hit, validated)
