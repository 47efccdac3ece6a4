"""Deployment history and the per-environment deploy lock, both in the shared state (ml.state).

History is append-only: one record per deploy, rollback or canary attempt (who, when,
environment, model, version, digest, image, outcome; the step that failed; a canary's decision
and figures). Records with outcome `done` changed what serves: they are the durable record
`mlci deploy rollback` reads; a record with outcome `canary` says a canary is being watched (its
`deploy_id` is repeated by the record that ends it), which `mlci deploy status` shows. The
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
from typing import Any

from ml.common import utc_now
from ml.config import Settings
from ml.errors import InputError
from ml.state import LockHeld, open_state

STREAM = "deploy"

DONE = "done"  # the version serves (the only outcome rollback and `requires` read)
FAILED = "failed"  # a step failed; everything was undone
INTERRUPTED = "interrupted"  # Ctrl-C / SIGTERM; everything was undone
CANARY = "canary"  # a canary is being watched (ended by a record with the same deploy_id)
ROLLED_BACK = "rolled back"  # a canary broke a bound; the old version serves alone again


class DeployLocked(LockHeld):
    """Another deploy to the same environment holds the lock."""


@dataclass(frozen=True)
class DeploymentRecord:
    """One attempt to change what an environment serves, and how it ended (`outcome`)."""

    env: str
    model: str
    version: str
    digest: str
    image: str
    action: str  # "deploy", "rollback" or "canary"
    by: str
    at: str
    started_at: str
    previous_version: str | None = None
    docker_host: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    outcome: str = DONE
    failed_step: str | None = None
    detail: str = ""
    deploy_id: str = ""
    replicas: int = 1
    canary: dict[str, Any] | None = None  # percent, until, decision, reasons, figures


def now_iso() -> str:
    """Milliseconds: two deploys within a second still order correctly."""
    return utc_now("milliseconds")


def history_where(settings: Settings) -> str:
    """Where the deploy history lives, for messages (a file, or the database table)."""
    return open_state(settings).where_stream(STREAM)


def read_history(
    settings: Settings, env: str | None = None, *, attempts: bool = False
) -> list[DeploymentRecord]:
    """The records that changed what serves (oldest first), optionally for one environment;
    with `attempts`, also failed, interrupted, rolled-back and in-progress ones."""
    store = open_state(settings)
    out = []
    for n, doc in enumerate(store.read(STREAM), 1):
        try:
            rec = DeploymentRecord(**doc)
        except TypeError as e:
            raise InputError(
                f"{store.where_stream(STREAM)}:{n}: not a deployment record ({e}); fix or remove it"
            ) from None
        if (env is None or rec.env == env) and (attempts or rec.outcome == DONE):
            out.append(rec)
    return out


def canary_in_progress(records: list[DeploymentRecord]) -> DeploymentRecord | None:
    """The record of a canary that started and has not ended yet (records of one env)."""
    ended = {r.deploy_id for r in records if r.outcome != CANARY}
    running = [r for r in records if r.outcome == CANARY and r.deploy_id not in ended]
    return running[-1] if running else None


def append_history(settings: Settings, record: DeploymentRecord) -> None:
    open_state(settings).append(STREAM, asdict(record))


def serving_stack(records: list[DeploymentRecord]) -> list[DeploymentRecord]:
    """What served, in order, after undoing rollbacks: the last item is current.

    A deploy pushes; a rollback pops the current entry (the one rolled back) and the record it
    re-deployed is the new top. So repeated rollbacks walk further back in time.
    """
    stack: list[DeploymentRecord] = []
    for rec in records:
        if rec.outcome != DONE:
            continue
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
