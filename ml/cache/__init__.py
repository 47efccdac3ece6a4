"""The training cache: a key from everything that can change the fitted model, looked up in MLflow.

`training_key` computes it with the standard library only (no pandas, scikit-learn or MLflow
import); `find_cached` asks the tracking server for a registered version or finished run that
recorded the same key. See docs/pipeline.md ("Training cache").
"""

from ml.cache.key import CacheKey, training_key
from ml.cache.lookup import CacheHit, find_cached

__all__ = ["CacheHit", "CacheKey", "find_cached", "training_key"]
