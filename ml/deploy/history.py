"""Deployment history and the per-environment deploy lock, both under the state folder.

History is an append-only JSON-lines file, `<state>/deploy/history.jsonl`: one object per
successful deploy or rollback (who, when, environment, model, version, digest, image). It is
the durable record `mlci deploy rollback` reads; the running containers carry the same facts
as labels, and the registry alias per environment says which version is current.

The lock is an advisory `flock` on `<state>/locks/deploy-<env>.lock`, so two deploys to one
environment from the same state folder (one Jenkins agent, one laptop) never interleave.
Jenkins additionally serialises the deploy job (`disableConcurrentBuilds`).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ml.common import current_user, utc_now
from ml.config import Settings
from ml.errors import InputError, ServiceError


class DeployLocked(ServiceError):
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


def history_path(settings: Settings) -> Path:
    return settings.state_dir / "deploy" / "history.jsonl"


def read_history(settings: Settings, env: str | None = None) -> list[DeploymentRecord]:
    """Every record (oldest first), optionally for one environment."""
    path = history_path(settings)
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = DeploymentRecord(**json.loads(line))
        except (ValueError, TypeError) as e:
            raise InputError(
                f"{path}:{n}: not a deployment record ({e}); fix or remove the line"
            ) from None
        if env is None or rec.env == env:
            out.append(rec)
    return out


def append_history(settings: Settings, record: DeploymentRecord) -> None:
    path = history_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(asdict(record), sort_keys=True) + "\n"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


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
    path = settings.state_dir / "locks" / f"deploy-{env}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = path.open("a+", encoding="utf-8")
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "unknown holder"
                    raise DeployLocked(
                        f"another deploy to {env!r} holds {path} ({holder}); wait for it to "
                        f"finish or raise --lock-timeout (waited {timeout:g}s)"
                    ) from None
                time.sleep(0.2)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} by {current_user()} since {now_iso()}\n")
        fh.flush()
        yield
    finally:
        fh.close()
