"""The registry alias lock: serialises alias moves and approvals of one model.

MLflow moves one alias atomically, so there is never zero or two champions; the lock makes the
read-check-move sequence of a promotion (is it approved? who was champion?) atomic too. It is a
named lock in the shared state (ml.state): a `flock` under `paths.state` on one machine, a
PostgreSQL lease across Jenkins agents when `state.url` is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from ml.config import Settings
from ml.state import LockHeld, open_state


@contextmanager
def registry_lock(settings: Settings, model_name: str, timeout: float = 60.0) -> Iterator[None]:
    with ExitStack() as stack:
        try:
            stack.enter_context(open_state(settings).lock(f"registry-{model_name}", timeout))
        except LockHeld as e:
            raise LockHeld(
                f"{e.where}: another mlci process ({e.holder or 'unknown holder'}) holds the "
                f"registry lock for {model_name!r} for more than {timeout:.0f}s; retry when it "
                f"finishes",
                where=e.where,
                holder=e.holder,
            ) from None
        yield
