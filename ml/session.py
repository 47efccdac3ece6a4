"""What one process may reuse between stages: the explicit replacement of module-level caches.

`mlci pipeline run` (in-process executor) creates one `Session` and hands it to every stage it
runs in this process, so the CSV is parsed once, the split is made once, the store is connected
once and the model just fitted is evaluated without a round trip through the artifact store.
A stage called without a session (a single `mlci train`) gets a fresh one: nothing is shared
through module globals, so tests and library callers never see another call's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Session:
    experiments: dict[str, str] = field(default_factory=dict)  # "<uri>#<experiment>" -> id
    frames: dict[tuple, Any] = field(default_factory=dict)  # (path, digest) -> DataFrame
    splits: dict[tuple, Any] = field(default_factory=dict)  # (path, digest, seed, ...) -> Split
    models: dict[str, Any] = field(default_factory=dict)  # model URI -> fitted model
    prepared: Any = None  # ml.train.run.Prepared: the speculative fit of `mlci pipeline run`
