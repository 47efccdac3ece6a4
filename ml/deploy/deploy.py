"""Deploy a registered model version to an environment, roll back, and report what runs where.

A deploy is an ordered list of named steps. A step that changes something registers how to undo
it; the first step that fails (or Ctrl-C / SIGTERM) runs those undos in reverse, so the old
version keeps serving, and the history records which step failed:

    checks before the lock: approved -> requires -> image -> samples
    deploy:  pull -> front -> sweep -> per replica: start, ready, metadata, smoke, admit
             -> switch (verified through the stable port) -> registry -> history -> retire
    canary:  pull -> front -> sweep -> per replica: start, ready, metadata, smoke
             -> split (PERCENT of traffic by weight) -> watch -> switch -> registry -> history
             -> retire

After `history` nothing is undone: the new version serves and `retire` drains and stops the old
containers. See docs/deploy.md.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import requests

from ml.common import current_user
from ml.config import EnvironmentSettings, Settings
from ml.deploy import canary as cn
from ml.deploy import docker_env as de
from ml.deploy.catalog import DeployCatalog, VersionFacts
from ml.deploy.history import (
    CANARY,
    DONE,
    FAILED,
    INTERRUPTED,
    ROLLED_BACK,
    DeploymentRecord,
    append_history,
    canary_in_progress,
    deploy_lock,
    history_where,
    now_iso,
    read_history,
    serving_stack,
)
from ml.deploy.smoke import (
    CheckFailure,
    SmokeSamples,
    check_metadata,
    check_predictions,
    load_samples,
    wait_ready,
)
from ml.errors import DeployFailed, InputError, MlciError, NotApproved, ServiceError
from ml.registry import tags
from ml.registry.approval import require_approved

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def environment(settings: Settings, env_name: str) -> EnvironmentSettings:
    return settings.environment(env_name)


def env_alias(env_name: str, env: EnvironmentSettings) -> str:
    """The registry alias naming what an environment serves."""
    if env.alias:
        return env.alias
    return {"production": tags.CHAMPION, "staging": tags.STAGING}.get(env_name, env_name)


def _pull(client: Any, settings: Settings, pinned: str) -> None:
    """Pull repo@sha256:…; an image already present under that digest needs no registry."""
    import docker.errors

    try:
        client.images.get(pinned)
        return
    except docker.errors.ImageNotFound:
        pass
    auth = None
    reg = settings.registry
    user, password = os.environ.get(reg.username_env), os.environ.get(reg.password_env)
    if user and password and pinned.startswith(reg.url + "/"):
        auth = {"username": user, "password": password}
    try:
        client.images.pull(pinned, auth_config=auth)
    except docker.errors.APIError as e:
        raise CheckFailure("pull", f"docker pull {pinned} failed: {e.explanation or e}") from None


def _labels(env_name: str, facts: VersionFacts, pinned: str, who: str, at: str) -> dict:
    p = de.LABEL
    return {
        f"{p}.role": "model",
        f"{p}.env": env_name,
        f"{p}.model": facts.name,
        f"{p}.version": facts.version,
        f"{p}.digest": facts.image_digest or pinned.split("@")[-1],
        f"{p}.image": pinned,
        f"{p}.deployed_by": who,
        f"{p}.deployed_at": at,
    }


def _check_bind(env: EnvironmentSettings) -> str:
    """Publish the candidate's port on loopback unless checks come from another machine."""
    return "127.0.0.1" if de.published_host(env) in ("127.0.0.1", "localhost") else "0.0.0.0"


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM (how Jenkins aborts a build) into KeyboardInterrupt while a deploy runs, so
    the undo path runs instead of the process dying with a half-switched environment."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _env_containers(client: Any, env_name: str, env: EnvironmentSettings) -> list[Any]:
    """The serving containers of this environment only: labelled for it and named after its
    `container` (another project on the same engine may name an environment `staging` too)."""
    return [
        c
        for c in de.model_containers(client, env_name)
        if c.name == env.container or c.name.startswith(f"{env.container}-v")
    ]


def _direct_url(env: EnvironmentSettings, container: Any, port: int) -> str:
    return f"http://{de.published_host(env)}:{de.host_port(container, port)}"


@dataclass
class Replica:
    """One serving container of a rollout, with the address the front uses and ours."""

    container: Any
    backend: de.Backend
    direct: str  # its published check port, reachable from here


@dataclass
class Undo:
    """What the steps so far changed, and how to take it back (run newest first)."""

    actions: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def push(self, what: str, fn: Callable[[], None]) -> None:
        self.actions.append((what, fn))

    def run(self) -> list[str]:
        problems = []
        while self.actions:
            what, fn = self.actions.pop()
            try:
                fn()
            except Exception as e:  # keep undoing the rest; report what could not be undone
                problems.append(f"{what}: {e}")
        return problems


class Rollout:
    """One change of what an environment serves: the state its steps share, and the steps."""

    def __init__(
        self,
        settings: Settings,
        env_name: str,
        facts: VersionFacts,
        pinned: str,
        samples: SmokeSamples,
        *,
        action: str,
        progress: Progress,
        canary_percent: float | None = None,
        canary_seconds: float | None = None,
    ) -> None:
        self.settings = settings
        self.env_name = env_name
        self.env = environment(settings, env_name)
        self.facts = facts
        self.pinned = pinned
        self.samples = samples
        self.action = action
        self.progress = progress
        self.canary_percent = canary_percent
        self.canary_seconds = canary_seconds
        self.deploy_id = uuid.uuid4().hex[:12]
        self.who = current_user()
        self.started = now_iso()
        self.undo = Undo()
        self.step = "lock"
        self.client: Any = None
        self.front: Any = None
        self.old: list[de.Backend] = []  # what the front served before
        self.new: list[Replica] = []
        self.canary: dict[str, Any] | None = None
        self.front_undone = False  # the undo restoring the front is registered
        self.port = 0

    # -- running ----------------------------------------------------------------------------

    def say(self, message: str) -> None:
        self.progress(f"{self.action} {self.env_name}: {message}")

    @contextlib.contextmanager
    def check(self, name: str) -> Iterator[None]:
        """Run one named step; any failure inside becomes CheckFailure(name)."""
        self.step = name
        try:
            yield
        except CheckFailure:
            raise
        except MlciError as e:
            raise CheckFailure(name, str(e)) from None
        except Exception as e:
            raise CheckFailure(name, f"{e.__class__.__name__}: {e}") from None

    def plan(self) -> list[tuple[str, Callable[[], None]]]:
        """The ordered steps of this rollout."""
        prepare = [("pull", self.pull), ("front", self.open_front), ("sweep", self.sweep)]
        finish = [
            ("switch", self.switch),
            ("registry", self.move_alias),
            ("history", self.record),
        ]
        if self.canary_percent is None:
            return [*prepare, ("replicas", lambda: self.start_replicas(admit=True)), *finish]
        return [
            *prepare,
            ("replicas", lambda: self.start_replicas(admit=False)),
            ("split", self.split),
            ("watch", self.watch),
            *finish,
        ]

    def run(self) -> DeploymentRecord:
        with _sigterm_interrupts():
            try:
                for name, step in self.plan():
                    with self.check(name):
                        step()
            except BaseException as e:  # also Ctrl-C / a Jenkins abort: never leave it half-done
                self.fail(e)
                raise  # fail() raises DeployFailed for an Exception; re-raise an interrupt
            self.undo.actions.clear()  # committed: the new version serves
            record = self.result
            self.retire()
            return record

    def fail(self, e: BaseException) -> None:
        step = e.check if isinstance(e, CheckFailure) else self.step
        detail = e.detail if isinstance(e, CheckFailure) else str(e)
        if step in ("start", "ready"):
            logs = "".join(de.logs_tail(r.container) for r in self.new[-1:])
            detail += f"\ncontainer log (last lines):\n{logs}" if logs else ""
        problems = self.undo.run()
        outcome = INTERRUPTED if not isinstance(e, Exception) else FAILED
        if isinstance(e, CanaryRolledBack):
            outcome = ROLLED_BACK
        with contextlib.suppress(Exception):  # the record must not hide the failure
            append_history(
                self.settings,
                self._record(outcome=outcome, failed_step=step, detail=detail[:2000]),
            )
        if not isinstance(e, Exception):
            return
        was = self._old_description()
        undone = (
            "the new containers were removed and the registry is unchanged"
            if not problems
            else "could not undo: " + "; ".join(problems)
        )
        if isinstance(e, CanaryRolledBack):
            raise DeployFailed(
                f"canary of {self.facts.name} version {self.facts.version} in {self.env_name} "
                f"was rolled back: {detail}\n{was}; {undone}"
            ) from None
        raise DeployFailed(
            f"{self.action} of {self.facts.name} version {self.facts.version} to "
            f"{self.env_name} failed the {step!r} check: {detail}\n{was}; {undone}"
        ) from None

    # -- steps ------------------------------------------------------------------------------

    def pull(self) -> None:
        self.say(f"pulling {self.pinned}")
        _pull(self.client, self.settings, self.pinned)
        self.port = de.model_port(self.client, self.pinned)

    def open_front(self) -> None:
        self.front = de.ensure_front(self.client, self.settings, self.env_name, self.env)
        self.old = de.front_backends(self.front)
        if self.canary_percent is not None and not [b for b in self.old if b.weight > 0]:
            raise InputError(
                f"nothing serves in {self.env_name!r} yet: a canary needs an old version to "
                f"compare with; deploy without --canary first"
            )

    def sweep(self) -> None:
        """Remove serving containers the front does not know: left by a deploy that was killed
        (kill -9, a lost agent) before it could undo. Nothing else deploys: we hold the lock."""
        known = {b.name for b in self.old}
        done = {r.started_at for r in read_history(self.settings, self.env_name)}
        for c in _env_containers(self.client, self.env_name, self.env):
            # an orphan: not behind the front, and from a deploy that never completed
            if c.name not in known and c.labels.get(f"{de.LABEL}.deployed_at") not in done:
                self.say(f"removing {c.name} (not behind the front: left by an earlier deploy)")
                de.remove_quietly(c)

    def start_replicas(self, *, admit: bool) -> None:
        """Start the new version's containers one at a time; each passes ready, metadata and
        smoke before it takes traffic. A deploy admits each one and drains one old server."""
        live = [b for b in self.old if b.weight > 0]
        for i in range(1, self.env.replicas + 1):
            replica = self.start_one(i)
            for name, check in (
                ("ready", self.wait_ready),
                ("metadata", self.check_metadata),
                ("smoke", self.smoke),
            ):
                with self.check(name):
                    check(replica)
            if admit:  # replica i takes traffic; old server i stops getting new requests
                with self.check("admit"):
                    last = i == self.env.replicas
                    drained = {b.name for b in (live if last else live[:i])}
                    self.serve([r.backend for r in self.new], drained)

    def start_one(self, i: int) -> Replica:
        name = f"{self.env.container}-v{self.facts.version}-{i}-{uuid.uuid4().hex[:4]}"
        self.say(f"starting {name} (replica {i} of {self.env.replicas})")
        with self.check("start"):
            run_env: dict[str, Any] = {"environment": {"OMP_NUM_THREADS": "1"}}
            extra = self._prediction_log(name)
            run_env["environment"].update(extra.pop("environment", {}))
            try:
                container = self.client.containers.run(
                    self.pinned,
                    name=name,
                    detach=True,
                    network=de.network_name(self.env),
                    ports={f"{self.port}/tcp": (_check_bind(self.env), None)},
                    labels=_labels(self.env_name, self.facts, self.pinned, self.who, self.started),
                    nano_cpus=int(self.env.cpus * 1e9) if self.env.cpus else None,
                    mem_limit=self.env.memory,
                    restart_policy={"Name": "unless-stopped"},
                    **run_env,
                    **extra,
                )
            except BaseException:
                # interrupted between create and start, or docker refused: remove what exists
                de.remove_quietly(de.get_container(self.client, name))
                raise
            self.undo.push(f"remove {name}", lambda: de.remove_quietly(container))
            replica = Replica(
                container=container,
                backend=de.backend_for(container, self.env),
                direct=_direct_url(self.env, container, self.port),
            )
        self.new.append(replica)
        return replica

    def _prediction_log(self, name: str) -> dict[str, Any]:
        """docker run settings so the serving app logs its requests (ml/deploy/predictions)."""
        from ml.deploy.predictions import container_config

        return dict(
            container_config(
                self.settings,
                self.env_name,
                self.env,
                container_name=name,
                version=self.facts.version,
            )
        )

    def wait_ready(self, r: Replica) -> None:
        waited = wait_ready(r.direct, self.env.ready_timeout, r.container)
        self.say(f"{r.container.name} ready after {waited:.1f}s on {r.direct}")

    def check_metadata(self, r: Replica) -> None:
        check_metadata(r.direct, self.facts.name, self.facts.version, self.env.smoke.timeout)

    def smoke(self, r: Replica) -> None:
        tol, timeout = self.env.smoke.tolerance, self.env.smoke.timeout
        result = check_predictions(r.direct, self.samples, tol, timeout)
        self.say(
            f"smoke passed on {r.container.name}: {result['samples']} samples "
            f"(max diff {result['max_probability_diff']:.1e})"
        )

    def _front_changes(self) -> None:
        """Register, once, the undo of what follows: the front serves the old servers again.
        Registered at the first change, after the new containers' removal, so an undo gives
        traffic back to the old servers before it removes a new container."""
        if self.front_undone:
            return
        self.front_undone = True
        old = list(self.old)
        self.undo.push("restore the front's servers", lambda: de.set_backends(self.front, old))

    def serve(self, new: list[de.Backend], drained: set[str], new_weight: int = 100) -> None:
        """Point the front at `new` beside the old servers, those in `drained` at weight 0."""
        self._front_changes()
        old = [replace(b, weight=0) if b.name in drained else b for b in self.old]
        de.set_backends(self.front, [replace(b, weight=new_weight) for b in new] + old)

    def split(self) -> None:
        """Send canary_percent of requests to the new containers, the rest to the old ones."""
        live = [b for b in self.old if b.weight > 0]
        w_new, w_old = cn.split_weights(self.canary_percent or 0, len(self.new), len(live))
        self._front_changes()
        de.set_backends(
            self.front,
            [replace(r.backend, weight=w_new) for r in self.new]
            + [replace(b, weight=w_old if b.weight > 0 else 0) for b in self.old],
        )
        seconds = self.canary_seconds or self.env.canary.duration
        self.canary = {
            "percent": self.canary_percent,
            "weights": {"new": w_new, "old": w_old},
            "started_at": now_iso(),
            "seconds": seconds,
            "until_epoch": time.time() + seconds,
            "new_servers": [r.backend.name for r in self.new],
            "old_servers": [b.name for b in live],
        }
        append_history(self.settings, self._record(outcome=CANARY))
        self.say(
            f"canary: {self.canary_percent:g}% of traffic (weights {w_new}/{w_old}) goes to "
            f"version {self.facts.version} for {seconds:g}s"
        )

    def watch(self) -> None:
        """Look at the figures every interval; roll back on a broken bound, promote at the end."""
        bounds = self.env.canary
        assert self.canary is not None
        watch = CanaryWatch(self, bounds)
        deadline = time.monotonic() + self.canary["seconds"]
        while True:
            time.sleep(max(0.0, min(bounds.interval, deadline - time.monotonic())))
            finished = time.monotonic() >= deadline
            figures = watch.figures()
            decision = cn.decide(figures, bounds, finished=finished)
            self.canary.update(
                figures=figures.as_dict(),
                decision=decision.verdict,
                reasons=list(decision.reasons),
            )
            self.say(
                f"canary after {figures.elapsed:.0f}s: {figures.requests} requests, "
                f"{figures.errors} failed, p99 {_ms(figures.p99_ms)} vs "
                f"{_ms(figures.baseline_p99_ms)}, disagreement "
                f"{figures.disagreed}/{figures.compared} -> {decision.verdict}"
            )
            if decision.verdict == cn.ROLLBACK:
                raise CanaryRolledBack("watch", "; ".join(decision.reasons))
            if decision.verdict == cn.PROMOTE:
                return

    def switch(self) -> None:
        """All traffic to the new containers, old ones drained; verified through the port."""
        self.serve([r.backend for r in self.new], {b.name for b in self.old})
        stable = f"http://{de.published_host(self.env)}:{self.env.port}"
        _verify_front(stable, self.facts.name, self.facts.version, timeout=10)
        self.say(f"traffic on {stable} now goes to version {self.facts.version}")

    def move_alias(self) -> None:
        catalog = DeployCatalog(self.settings)
        alias = env_alias(self.env_name, self.env)
        before = catalog.alias_version(self.facts.name, alias)
        catalog.set_alias(self.facts.name, alias, self.facts.version)
        if before and before != self.facts.version:
            self.undo.push(
                f"move alias {alias} back to version {before}",
                lambda: catalog.set_alias(self.facts.name, alias, before),
            )

    def record(self) -> None:
        self.result = self._record(outcome=DONE)
        append_history(self.settings, self.result)

    def retire(self) -> None:
        """After drain_seconds, take the old servers out of the front and stop them."""
        time.sleep(self.env.drain_seconds)
        try:
            de.set_backends(self.front, [r.backend for r in self.new])
        except MlciError as e:  # the new version serves; the old ones are drained (weight 0)
            self.say(f"could not remove the old servers from the front: {e}")
        keep = {r.container.id for r in self.new}
        for c in _env_containers(self.client, self.env_name, self.env):
            if c.id not in keep:
                self.say(f"stopping {c.name}")
                try:
                    c.stop(timeout=self.env.stop_timeout)
                finally:
                    de.remove_quietly(c)
        self.say(
            f"{self.facts.name} version {self.facts.version} serves on port {self.env.port} "
            f"({len(self.new)} replica{'s' if len(self.new) > 1 else ''})"
        )

    # -- records ----------------------------------------------------------------------------

    def _old_description(self) -> str:
        versions = sorted({_version_of(self.client, b.name) for b in self.old if b.weight > 0})
        if not versions:
            return "nothing was serving before"
        return f"{self.facts.name} version {', '.join(versions)} keeps serving"

    def _record(self, **kw: Any) -> DeploymentRecord:
        previous = read_history(self.settings, self.env_name)
        return DeploymentRecord(
            env=self.env_name,
            model=self.facts.name,
            version=self.facts.version,
            digest=self.pinned.split("@")[-1],
            image=self.pinned,
            action=self.action,
            by=self.who,
            at=now_iso(),
            started_at=self.started,
            previous_version=previous[-1].version if previous else None,
            docker_host=self.env.docker_host,
            deploy_id=self.deploy_id,
            replicas=self.env.replicas,
            canary=dict(self.canary) if self.canary else None,
            **kw,
        )


class CanaryRolledBack(CheckFailure):
    """The canary broke a bound (or did not get enough traffic to judge it)."""


class CanaryWatch:
    """Figures of a canary since it began: the front's counts, both versions' /metrics
    latency, and the new version's logged requests replayed on the old one."""

    def __init__(self, rollout: Rollout, bounds: Any) -> None:
        self.r = rollout
        self.bounds = bounds
        self.t0 = time.monotonic()
        self.since = now_iso()
        self.new_names = {x.backend.name for x in rollout.new}
        self.old_names = {b.name for b in rollout.old if b.weight > 0}
        self.new_urls = [x.direct for x in rollout.new]
        self.old_urls = [u for u in (self._old_url(n) for n in self.old_names) if u]
        self.stats0 = de.front_stats(rollout.front)
        self.hist0 = {u: self._histogram(u) for u in self.new_urls + self.old_urls}
        self.compared = 0
        self.disagreed = 0
        self.replayed: set[str] = set()
        self.task = rollout.samples.task or rollout.settings.train.task

    def _old_url(self, name: str) -> str | None:
        c = de.get_container(self.r.client, name)
        if c is None:
            return None
        try:
            return _direct_url(self.r.env, c, self.r.port)
        except ServiceError:
            return None

    @staticmethod
    def _histogram(url: str) -> dict[float, float]:
        try:
            r = requests.get(f"{url}/metrics", timeout=2)
            return cn.latency_histogram(r.text) if r.status_code == 200 else {}
        except requests.RequestException:
            return {}

    def _p99(self, urls: list[str]) -> float | None:
        total: dict[float, float] = {}
        for u in urls:
            for le, n in cn.histogram_since(self._histogram(u), self.hist0.get(u, {})).items():
                total[le] = total.get(le, 0.0) + n
        return cn.quantile_ms(total)

    def _counts(self, stats: dict[str, dict[str, int]], names: set[str]) -> tuple[int, int]:
        requests_, errors = 0, 0
        for name in names:
            now, before = stats.get(name, {}), self.stats0.get(name, {})

            def delta(key: str, now: dict = now, before: dict = before) -> int:
                return int(now.get(key, 0)) - int(before.get(key, 0))

            requests_ += delta("requests")
            errors += delta("5xx") + delta("failed")
        return requests_, errors

    def _replay(self) -> None:
        if not self.old_urls or self.compared >= self.bounds.max_compared * 10:
            return
        from ml.deploy.predictions import disagreement, read_predictions

        fresh = []
        for name in self.new_names:
            for rec in read_predictions(
                self.r.settings, self.r.env_name, container=name, since=self.since
            ):
                key = str(rec.get("id") or f"{rec.get('request_id')}/{rec.get('row', 0)}")
                if key not in self.replayed and rec.get("status", 200) == 200:
                    self.replayed.add(key)
                    fresh.append(rec)
        fresh = fresh[: self.bounds.max_compared]
        if not fresh:
            return
        d = disagreement(fresh, self.old_urls[0], self.task, tolerance=self.bounds.tolerance)
        self.compared += d.n
        self.disagreed += d.disagreed

    def figures(self) -> cn.CanaryFigures:
        stats = de.front_stats(self.r.front)
        n_new, e_new = self._counts(stats, self.new_names)
        n_old, e_old = self._counts(stats, self.old_names)
        self._replay()
        states = de.server_states(self.r.front)
        down = tuple(sorted(n for n in self.new_names if states.get(n) in ("DOWN", "MAINT")))
        return cn.CanaryFigures(
            elapsed=time.monotonic() - self.t0,
            requests=n_new,
            errors=e_new,
            baseline_requests=n_old,
            baseline_errors=e_old,
            p99_ms=self._p99(self.new_urls),
            baseline_p99_ms=self._p99(self.old_urls),
            compared=self.compared,
            disagreed=self.disagreed,
            down=down,
        )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _version_of(client: Any, container_name: str) -> str:
    c = de.get_container(client, container_name)
    return (c.labels.get(f"{de.LABEL}.version") if c is not None else None) or "?"


def _verify_front(url: str, name: str, version: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            check_metadata(url, name, version, timeout=2)
            return
        except CheckFailure as e:
            if time.monotonic() > deadline:
                raise CheckFailure("switch", f"through the stable port: {e.detail}") from None
            time.sleep(0.1)


def _preflight(
    settings: Settings,
    env_name: str,
    name: str | None,
    version: str,
    action: str,
    pinned: str | None,
) -> tuple[VersionFacts, str, SmokeSamples]:
    """The checks before the lock: approved, requires, image, samples (nothing changes yet)."""
    env = environment(settings, env_name)
    catalog = DeployCatalog(settings)
    facts = catalog.version(name, str(version))  # type: ignore[arg-type]
    require_approved(settings, catalog.registry.get_version(facts.name, facts.version))
    pinned = pinned or facts.pinned_image()
    digest = pinned.split("@")[-1]
    if env.requires and action != "rollback":
        passed = any(r.digest == digest for r in read_history(settings, env.requires))
        required = settings.environments.get(env.requires)
        if not passed and required is not None:
            holder = catalog.alias_version(facts.name, env_alias(env.requires, required))
            passed = holder == facts.version  # deployed there from another state folder
        if not passed:
            raise NotApproved(
                f"{facts.name} version {facts.version} ({digest[:19]}) has not been deployed to "
                f"{env.requires!r}; deploy it there first "
                f"(environments.{env_name}.requires = {env.requires})"
            )
    samples = load_samples(catalog.smoke_samples_file(facts), env.smoke.max_samples)
    return facts, pinned, samples


def deploy(
    settings: Settings,
    env_name: str,
    name: str | None,
    version: str,
    *,
    lock_timeout: float = 300.0,
    action: str = "deploy",
    pinned_override: str | None = None,
    canary_percent: float | None = None,
    canary_seconds: float | None = None,
    progress: Progress = _quiet,
) -> DeploymentRecord:
    """Put `name` (default mlflow.model_name) version `version` into service in `env_name`, or
    leave everything as it was. With `canary_percent`, first send that share of traffic to it
    and promote or roll back by the bounds in environments.<env>.canary."""
    if canary_percent is not None:
        cn.split_weights(canary_percent, 1, 1)  # refuse a bad percentage before any work
        action = "canary"
    facts, pinned, samples = _preflight(settings, env_name, name, version, action, pinned_override)
    with deploy_lock(settings, env_name, lock_timeout):
        rollout = Rollout(
            settings,
            env_name,
            facts,
            pinned,
            samples,
            action=action,
            progress=progress,
            canary_percent=canary_percent,
            canary_seconds=canary_seconds,
        )
        rollout.client = de.docker_client(rollout.env)
        return rollout.run()


def rollback(
    settings: Settings, env_name: str, *, lock_timeout: float = 300.0, progress: Progress = _quiet
) -> DeploymentRecord:
    """Re-deploy the version that served before the current one (same checks as a deploy)."""
    environment(settings, env_name)
    stack = serving_stack(read_history(settings, env_name))
    if len(stack) < 2:
        raise InputError(
            f"no previous version recorded for {env_name!r} in "
            f"{history_where(settings)}; nothing to roll back to"
        )
    target = stack[-2]
    progress(f"rollback {env_name}: {stack[-1].model} {stack[-1].version} -> {target.version}")
    return deploy(
        settings,
        env_name,
        target.model,
        target.version,
        lock_timeout=lock_timeout,
        action="rollback",
        pinned_override=target.image,
        progress=progress,
    )


def _health(url: str) -> str:
    try:
        r = requests.get(f"{url}/ready", timeout=2)
        return "ready" if r.status_code == 200 else f"HTTP {r.status_code}"
    except requests.RequestException as e:
        return f"unreachable ({e.__class__.__name__})"


def _replicas(client: Any, env_name: str, env: EnvironmentSettings) -> list[dict[str, Any]]:
    """Every serving container of the environment, with the front's weight for it."""
    front = de.get_container(client, de.front_name(env))
    weights: dict[str, int] = {}
    stats: dict[str, dict[str, int]] = {}
    if front is not None and front.status == "running":
        with contextlib.suppress(MlciError):
            weights = {b.name: b.weight for b in de.front_backends(front)}
        with contextlib.suppress(MlciError):
            stats = de.front_stats(front)
    rows = []
    for c in _env_containers(client, env_name, env):
        lab = c.labels
        rows.append(
            {
                "name": c.name,
                "model": lab.get(f"{de.LABEL}.model"),
                "version": lab.get(f"{de.LABEL}.version"),
                "digest": lab.get(f"{de.LABEL}.digest"),
                "state": c.status,
                "weight": weights.get(c.name),  # None: not behind the front
                "requests": stats.get(c.name, {}).get("requests"),
                "deployed_by": lab.get(f"{de.LABEL}.deployed_by"),
                "deployed_at": lab.get(f"{de.LABEL}.deployed_at"),
            }
        )
    return sorted(rows, key=lambda r: (-(r["weight"] or 0), r["name"]))


def status(settings: Settings, env_name: str | None = None) -> list[dict[str, Any]]:
    """What runs in each environment: version, digest, health, replicas, registry alias, a
    canary in progress, the last deploy and the last attempt."""
    names = [env_name] if env_name else sorted(settings.environments)
    catalog = DeployCatalog(settings)
    rows = []
    for n in names:
        env = environment(settings, n)
        attempts = read_history(settings, n, attempts=True)
        history = [r for r in attempts if r.outcome == DONE]
        running = canary_in_progress(attempts)
        row: dict[str, Any] = {
            "env": n,
            "port": env.port,
            "docker_host": env.docker_host or "local",
            "container": env.container,
            "alias": env_alias(n, env),
            "alias_version": None,
            "model": None,
            "version": None,
            "digest": None,
            "state": "not deployed",
            "health": None,
            "deployed_by": None,
            "deployed_at": None,
            "replicas": [],
            "canary": asdict(running) if running else None,
            "last": asdict(history[-1]) if history else None,
            "last_attempt": asdict(attempts[-1]) if attempts else None,
        }
        try:
            client = de.docker_client(env)
            replicas = _replicas(client, n, env)
            row["replicas"] = replicas
            serving = [r for r in replicas if r["weight"]] or replicas
            if serving:
                top = serving[0]
                row.update(
                    {k: top[k] for k in ("model", "version", "digest", "deployed_by")},
                    deployed_at=top["deployed_at"],
                    state=top["state"],
                )
                row["health"] = _health(f"http://{de.published_host(env)}:{env.port}")
        except ServiceError as e:
            row["state"] = f"unknown: {e}"
        model = row["model"] or (history[-1].model if history else settings.mlflow.model_name)
        try:
            row["alias_version"] = catalog.alias_version(model, row["alias"])
        except MlciError:
            row["alias_version"] = None
        rows.append(row)
    return rows
