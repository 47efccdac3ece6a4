"""Deployment history and the per-environment deploy lock, both in the shared state (ml.state).

History is append-only: one record per successful deploy or rollback (who, when, environment,
model, version, digest, image). It is the durable record `mlci deploy rollback` reads; the
running containers carry the same facts as labels, and the registry alias per environment says
which version is current. With `state.url` empty it is `<state>/deploy/history.jsonl`; with a
PostgreSQL URL it is rows of `mlci_history`, which every Jenkins agent reads and writes.

The lock `deploy-<env>` makes two deploys to one environment never interleave: a `flock` under
the state folder (one machine), or a lease in PostgreSQL (held across agents, expires if its
holder vanishes). Jenkins additionally serialises the deploy job (`disableConcurrentBuilds`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field

from ml.common import utc_now
from ml.config import Settings
from ml.errors import InputError
from ml.state import LockHeld, open_state

STREAM = "deploy"


class DeployLocked(LockHeld):
    """Another deploy to the same environment holds the lock."""


@dataclass(frozen=True)
class DeploymentRecord:
    """One successful change of what an environment serves."""

    env: str
    model: str
    version: str
    digest: str
    image: str
    action: str  # "deploy" or "rollback"
    by: str
    at: str
    started_at: str
    previous_version: str | None = None
    docker_host: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def now_iso() -> str:
    """Milliseconds: two deploys within a second still order correctly."""
    return utc_now("milliseconds")


def history_where(settings: Settings) -> str:
    """Where the deploy history lives, for messages (a file, or the database table)."""
    return open_state(settings).where_stream(STREAM)


def read_history(settings: Settings, env: str | None = None) -> list[DeploymentRecord]:
    """Every record (oldest first), optionally for one environment."""
    store = open_state(settings)
    out = []
    for n, doc in enumerate(store.read(STREAM), 1):
        try:
            rec = DeploymentRecord(**doc)
        except TypeError as e:
            raise InputError(
                f"{store.where_stream(STREAM)}:{n}: not a deployment record ({e}); fix or remove it"
            ) from None
        if env is None or rec.env == env:
            out.append(rec)
    return out


def append_history(settings: Settings, record: DeploymentRecord) -> None:
    open_state(settings).append(STREAM, asdict(record))


def serving_stack(records: list[DeploymentRecord]) -> list[DeploymentRecord]:
    """What served, in order, after undoing rollbacks: the last item is current.

    A deploy pushes; a rollback pops the current entry (the one rolled back) and the record it
    re-deployed is the new top. So repeated rollbacks walk further back in time.
    """
    stack: list[DeploymentRecord] = []
    for rec in records:
        if rec.action == "rollback":
            if stack:
                stack.pop()
            if not stack or stack[-1].digest != rec.digest:
                stack.append(rec)
        elif stack and stack[-1].digest == rec.digest:
            stack[-1] = rec  # a re-deploy of what already serves is not a new step back
        else:
            stack.append(rec)
    return stack


@contextmanager
def deploy_lock(settings: Settings, env: str, timeout: float) -> Iterator[None]:
    """Hold the environment's deploy lock; wait up to `timeout` seconds for it."""
    with ExitStack() as stack:
        try:
            stack.enter_context(open_state(settings).lock(f"deploy-{env}", timeout))
        except LockHeld as e:
            raise DeployLocked(
                f"another deploy to {env!r} holds {e.where} ({e.holder or 'unknown holder'}); "
                f"wait for it to finish or raise --lock-timeout (waited {timeout:g}s)",
                where=e.where,
                holder=e.holder,
            ) from None
        yield
