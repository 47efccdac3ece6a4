"""Shared state: the facts a later job needs that are neither MLflow nor the image registry.

Deploy history (append-only records per stream) and named locks (deploy per environment, the
registry alias lock). One config field picks the backend (`state.url`):

- `""` (default): files under `paths.state` - history as JSON lines, locks as `flock`. Right for
  one laptop or a single Jenkins agent; today's behaviour.
- `postgresql://user@host:port/db`: tables in PostgreSQL - history rows survive the loss of any
  agent, locks are leases (holder, expiry, renewed while held) that hold across agents.

`open_state(settings)` returns a fresh store; nothing is cached between calls.
"""

from __future__ import annotations

from ml.config import Settings
from ml.state.base import LockHeld, StateStore, lock_holder


def open_state(settings: Settings) -> StateStore:
    """The store `state.url` names (files when empty)."""
    if settings.state.shared:
        from ml.state.postgres import PostgresState

        return PostgresState(settings)
    from ml.state.files import FileState

    return FileState(settings.state_dir)


__all__ = ["LockHeld", "StateStore", "lock_holder", "open_state"]
