"""Deploy a registered model version to an environment, roll back, and report what runs where.

A deploy is a sequence of checks; the first that fails stops it, the new container is removed,
the old one keeps serving (it was never touched) and DeployFailed names the check:

    approved -> image (pushed, pinned by digest) -> pull -> start -> ready -> metadata -> smoke
    -> switch (front points at the new container; verified through the stable port)
    -> registry (environment alias) -> history -> drain, stop the old container

See docs/deploy.md for why traffic goes through a front proxy.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import requests

from ml.common import current_user
from ml.config import EnvironmentSettings, Settings
from ml.deploy import docker_env as de
from ml.deploy.catalog import DeployCatalog, VersionFacts
from ml.deploy.history import (
    DeploymentRecord,
    append_history,
    deploy_lock,
    history_where,
    now_iso,
    read_history,
    serving_stack,
)
from ml.deploy.smoke import (
    CheckFailure,
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
    try:
        return settings.environments[env_name]
    except KeyError:
        known = ", ".join(sorted(settings.environments)) or "none"
        raise InputError(
            f"environment {env_name!r} is not in {settings.root / 'mlci.yaml'} "
            f"(environments: {known})"
        ) from None


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
    import os

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


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Turn SIGTERM (how Jenkins aborts a build) into KeyboardInterrupt while a deploy runs, so
    the cleanup path runs instead of the process dying with a half-switched environment."""
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


def deploy(
    settings: Settings,
    env_name: str,
    name: str,
    version: str,
    *,
    lock_timeout: float = 300.0,
    action: str = "deploy",
    pinned_override: str | None = None,
    progress: Progress = _quiet,
) -> DeploymentRecord:
    """Put `name` version `version` into service in `env_name`, or leave everything as it was."""
    env = environment(settings, env_name)
    catalog = DeployCatalog(settings)
    facts = catalog.version(name, str(version))
    require_approved(settings, catalog.registry.get_version(facts.name, facts.version))
    pinned = pinned_override or facts.pinned_image()
    digest = pinned.split("@")[-1]
    if env.requires and action == "deploy":
        passed = any(r.digest == digest for r in read_history(settings, env.requires))
        required = settings.environments.get(env.requires)
        if not passed and required is not None:
            holder = catalog.alias_version(name, env_alias(env.requires, required))
            passed = holder == facts.version  # deployed there from another state folder
        if not passed:
            raise NotApproved(
                f"{name} version {version} ({digest[:19]}) has not been deployed to "
                f"{env.requires!r}; deploy it there first "
                f"(environments.{env_name}.requires = {env.requires})"
            )
    samples_file = catalog.smoke_samples_file(facts)
    samples = load_samples(samples_file, env.smoke.max_samples)

    with deploy_lock(settings, env_name, lock_timeout), _sigterm_interrupts():
        started = now_iso()
        who = current_user()
        client = de.docker_client(env)
        old = de.get_container(client, env.container)
        old_desc = (
            f"{old.labels.get(de.LABEL + '.model', '?')} version "
            f"{old.labels.get(de.LABEL + '.version', '?')} keeps serving"
            if old is not None
            else "nothing was serving before"
        )
        new = None
        temp_name = ""
        front = None
        old_backends: list[de.Backend] = []
        switched = False
        try:
            progress(f"deploy {env_name}: pulling {pinned}")
            _pull(client, settings, pinned)
            front = de.ensure_front(client, settings, env_name, env)
            old_backends = de.front_backends(front)
            temp_name = f"{env.container}-next-v{facts.version}"
            de.remove_quietly(de.get_container(client, temp_name))
            port = de.model_port(client, pinned)
            alias = de.network_alias(env, facts.version)
            progress(f"deploy {env_name}: starting {temp_name}")
            try:
                new = client.containers.run(
                    pinned,
                    name=temp_name,
                    detach=True,
                    network=de.network_name(env),
                    networking_config=de.endpoint_config(client, env, alias),
                    ports={f"{port}/tcp": (_check_bind(env), None)},
                    labels=_labels(env_name, facts, pinned, who, started),
                    nano_cpus=int(env.cpus * 1e9) if env.cpus else None,
                    mem_limit=env.memory,
                    restart_policy={"Name": "unless-stopped"},
                    environment={"OMP_NUM_THREADS": "1"},
                )
            except Exception as e:
                raise CheckFailure("start", f"docker run {pinned}: {e}") from None
            direct = f"http://{de.published_host(env)}:{de.host_port(new, port)}"
            progress(f"deploy {env_name}: waiting for {direct}/ready")
            waited = wait_ready(direct, env.ready_timeout, new)
            check_metadata(direct, name, facts.version, env.smoke.timeout)
            smoke = check_predictions(direct, samples, env.smoke.tolerance, env.smoke.timeout)
            progress(
                f"deploy {env_name}: ready after {waited:.1f}s, smoke passed on "
                f"{smoke['samples']} samples (max diff {smoke['max_probability_diff']:.1e})"
            )
            switched = True  # set before the call: a half-done change is undone below
            de.set_backends(front, [de.backend_for(new, env)])
            stable = f"http://{de.published_host(env)}:{env.port}"
            _verify_front(stable, name, facts.version, timeout=10)
            progress(f"deploy {env_name}: traffic on {stable} now goes to {temp_name}")
            try:
                catalog.set_alias(name, env_alias(env_name, env), facts.version)
            except MlciError as e:
                raise CheckFailure("registry", str(e)) from None
        except BaseException as e:  # also Ctrl-C / a Jenkins abort: never leave it half-done
            check = e.check if isinstance(e, CheckFailure) else "docker"
            detail = e.detail if isinstance(e, CheckFailure) else str(e)
            if switched and front is not None:  # back to what served before
                with contextlib.suppress(Exception):
                    de.set_backends(front, old_backends)
            if new is None and temp_name:  # interrupted between create and start
                with contextlib.suppress(Exception):
                    new = de.get_container(client, temp_name)
            if not isinstance(e, Exception):
                de.remove_quietly(new)
                raise
            if new is not None:
                logs = de.logs_tail(new) if check in ("ready", "start") else ""
                de.remove_quietly(new)
                detail += f"\ncontainer log (last lines):\n{logs}" if logs else ""
            raise DeployFailed(
                f"{action} of {name} version {facts.version} to {env_name} failed the "
                f"{check!r} check: {detail}\n{old_desc}; the new container was removed and the "
                f"registry is unchanged"
            ) from None

        previous = read_history(settings, env_name)
        record = DeploymentRecord(
            env=env_name,
            model=name,
            version=facts.version,
            digest=digest,
            image=pinned,
            action=action,
            by=who,
            at=now_iso(),
            started_at=started,
            previous_version=previous[-1].version if previous else None,
            docker_host=env.docker_host,
        )
        append_history(settings, record)
        time.sleep(env.drain_seconds)
        for c in de.model_containers(client, env_name):
            if c.id != new.id:
                progress(f"deploy {env_name}: stopping {c.name}")
                try:
                    c.stop(timeout=env.stop_timeout)
                finally:
                    de.remove_quietly(c)
        new.rename(env.container)
        progress(f"deploy {env_name}: {name} version {facts.version} serves on port {env.port}")
        return record


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


def status(settings: Settings, env_name: str | None = None) -> list[dict[str, Any]]:
    """What runs in each environment: version, digest, health, registry alias, last deploy."""
    names = [env_name] if env_name else sorted(settings.environments)
    catalog = DeployCatalog(settings)
    rows = []
    for n in names:
        env = environment(settings, n)
        history = read_history(settings, n)
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
            "last": asdict(history[-1]) if history else None,
        }
        try:
            client = de.docker_client(env)
            c = de.get_container(client, env.container)
            if c is not None:
                lab = c.labels
                row.update(
                    model=lab.get(f"{de.LABEL}.model"),
                    version=lab.get(f"{de.LABEL}.version"),
                    digest=lab.get(f"{de.LABEL}.digest"),
                    deployed_by=lab.get(f"{de.LABEL}.deployed_by"),
                    deployed_at=lab.get(f"{de.LABEL}.deployed_at"),
                    state=c.status,
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
