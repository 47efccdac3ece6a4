"""One environment's Docker side: its engine, network, stable front and serving containers.

Layout on the environment's Docker host, for `container: churn-staging`:

    network   churn-staging-net      user-defined bridge shared by front and model containers
    front     churn-staging-front    HAProxy (ml/deploy/haproxy.py), publishes the stable port
    volume    churn-staging-front-state   the front's haproxy.cfg (survives restarts)
    model     churn-staging          the serving container(s) traffic goes to
    model     churn-staging-next-…   a new version while it is checked (ephemeral port)

The front forwards to the serving containers' IP addresses on the network (no DNS); a deploy
changes them with HAProxy's runtime API through `docker exec` (works for a remote DOCKER_HOST
too, no extra port to secure). The interface the deploy uses: ensure_front, backend_for,
set_backends, front_backends, front_stats.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any
from urllib.parse import urlparse

from ml.config import EnvironmentSettings, Settings
from ml.deploy import haproxy
from ml.deploy.haproxy import Backend, front_backends, front_stats, server_states, set_backends
from ml.errors import ServiceError

__all__ = [
    "Backend",
    "backend_for",
    "ensure_front",
    "front_backends",
    "front_stats",
    "server_states",
    "set_backends",
]

LABEL = "org.mlci"
FRONT_PORT = haproxy.FRONT_PORT
DEFAULT_MODEL_PORT = 8000


def docker_client(env: EnvironmentSettings) -> Any:
    """A docker SDK client for the environment's engine (DOCKER_HOST style URL or local)."""
    import docker

    try:
        client = (
            docker.DockerClient(base_url=env.docker_host, timeout=120)
            if env.docker_host
            else docker.from_env(timeout=120)
        )
        client.ping()
    except Exception as e:
        where = env.docker_host or "the local engine (DOCKER_HOST or /var/run/docker.sock)"
        raise ServiceError(
            f"cannot reach the Docker Engine at {where}: {e}; start it (scripts/install-docker.sh) "
            f"or fix environments.*.docker_host"
        ) from None
    return client


def published_host(env: EnvironmentSettings) -> str:
    """The address where ports published by the environment's engine are reachable from here.

    `check_host` when set (e.g. `host.docker.internal` from a CI container), else the host of a
    tcp/ssh DOCKER_HOST, else loopback.
    """
    if env.check_host:
        return env.check_host
    if env.docker_host and env.docker_host.startswith(("tcp://", "ssh://", "http")):
        return urlparse(env.docker_host).hostname or "127.0.0.1"
    return "127.0.0.1"


def network_name(env: EnvironmentSettings) -> str:
    return f"{env.container}-net"


def front_name(env: EnvironmentSettings) -> str:
    return f"{env.container}-front"


def ensure_network(client: Any, env: EnvironmentSettings) -> Any:
    import docker.errors

    name = network_name(env)
    try:
        return client.networks.get(name)
    except docker.errors.NotFound:
        return client.networks.create(name, driver="bridge", labels={f"{LABEL}.role": "network"})


def get_container(client: Any, name: str) -> Any | None:
    import docker.errors

    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None


def _front_image(client: Any, settings: Settings) -> str:
    """The front image (front.image): present locally, or pulled when the user can pull."""
    import docker.errors

    image = settings.front.image
    try:
        client.images.get(image)
        return image
    except docker.errors.ImageNotFound:
        pass
    try:
        client.images.pull(image)
        return image
    except docker.errors.APIError as e:
        raise ServiceError(
            f"the front image {image} (front.image) is not in the engine and cannot be pulled "
            f"({e.explanation or e}); build it with scripts/bootstrap-front-image.sh "
            f"(FRONT_IMAGE={image})"
        ) from None


def ensure_front(client: Any, settings: Settings, env_name: str, env: EnvironmentSettings) -> Any:
    """Start the environment's HAProxy front on its stable port unless it already runs; return
    the container once its runtime API answers."""
    import docker.errors

    ensure_network(client, env)
    host_network = settings.front.network == "host"
    opts = haproxy.FrontOptions(
        settings.front.check_interval_ms,
        settings.front.drain_timeout,
        listen=f"{env.bind}:{env.port}" if host_network else f":{FRONT_PORT}",
        host_network=host_network,
    )
    front = get_container(client, front_name(env))
    if front is not None and haproxy.LABEL_NET not in (front.labels or {}):
        # The hand-written front of mlci before issue 13: replaced once by HAProxy (the stable
        # port is down until this deploy's switch; the old model container keeps running).
        remove_quietly(front)
        front = None
    if front is not None:
        if front.status != "running":
            front.start()
        haproxy.wait_api(front)
        expected = f"template {haproxy.template_digest(haproxy.FrontOptions.of(front))}"
        if not haproxy.configured_template(front).endswith(expected):
            # Written by another mlci version: same servers, current template, graceful reload.
            haproxy.write_config(front, front_backends(front), haproxy.FrontOptions.of(front))
            haproxy.reload(front)
        return front
    image = _front_image(client, settings)
    try:
        front = client.containers.run(
            image,
            command=["sh", "-c", haproxy.BOOT],
            name=front_name(env),
            detach=True,
            **(
                {"network_mode": "host"}
                if host_network
                else {
                    "network": network_name(env),
                    "ports": {f"{FRONT_PORT}/tcp": (env.bind, env.port)},
                }
            ),
            restart_policy={"Name": "unless-stopped"},
            labels={f"{LABEL}.role": "front", f"{LABEL}.env": env_name, **opts.labels()},
            environment={"MLCI_FRONT_CONFIG": haproxy.render_config([], opts)},
            read_only=True,
            stop_signal="SIGUSR1",  # HAProxy's soft stop: finish requests in flight
            # A named volume keeps haproxy.cfg across restarts of the front or the engine.
            volumes={f"{front_name(env)}-state": {"bind": haproxy.STATE_DIR, "mode": "rw"}},
        )
    except docker.errors.APIError as e:
        raise ServiceError(
            f"cannot start the front {front_name(env)} on {env.bind}:{env.port} "
            f"(environments.{env_name}.port): {e.explanation or e}"
        ) from None
    try:
        haproxy.wait_api(front)
    except ServiceError as e:  # e.g. the port is taken: HAProxy cannot bind it
        remove_quietly(front)
        raise ServiceError(
            f"the front {front_name(env)} did not start on {env.bind}:{env.port} "
            f"(environments.{env_name}.port, front.network {settings.front.network}): {e}"
        ) from None
    return front


def backend_for(container: Any, env: EnvironmentSettings, weight: int = 100) -> Backend:
    """The front's view of a started serving container: its IP on the environment network and
    the first TCP port its image exposes."""
    container.reload()
    net = (container.attrs["NetworkSettings"].get("Networks") or {}).get(network_name(env))
    ip = (net or {}).get("IPAddress")
    if not ip:
        raise ServiceError(
            f"container {container.name} has no address on {network_name(env)} "
            f"(state {container.status})"
        )
    exposed = container.attrs.get("Config", {}).get("ExposedPorts") or {}
    ports = sorted(int(p.split("/")[0]) for p in exposed if p.endswith("/tcp"))
    return Backend(container.name, f"{ip}:{ports[0] if ports else DEFAULT_MODEL_PORT}", weight)


def model_port(client: Any, image: str) -> int:
    """The port the serving image listens on: its first exposed TCP port."""
    exposed = client.images.get(image).attrs.get("Config", {}).get("ExposedPorts") or {}
    ports = sorted(int(p.split("/")[0]) for p in exposed if p.endswith("/tcp"))
    return ports[0] if ports else DEFAULT_MODEL_PORT


def network_alias(env: EnvironmentSettings, version: str) -> str:
    """A name for one serving container on the environment network, stable across restarts and
    renames (an IP address is not), so the front's upstream survives an engine restart."""
    return f"{env.container}-v{version}-{uuid.uuid4().hex[:8]}"


def endpoint_config(client: Any, env: EnvironmentSettings, alias: str) -> dict[str, Any]:
    from docker.types import EndpointConfig

    return {network_name(env): EndpointConfig(client.api._version, aliases=[alias])}


def host_port(container: Any, port: int, timeout: float = 10.0) -> int:
    """The ephemeral host port Docker published for the container's `port`."""
    deadline = time.monotonic() + timeout
    while True:
        container.reload()
        bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp") or []
        if bindings:
            return int(bindings[0]["HostPort"])
        if time.monotonic() > deadline:
            raise ServiceError(f"container {container.name} published no host port for {port}")
        time.sleep(0.1)


def logs_tail(container: Any, lines: int = 15) -> str:
    try:
        return container.logs(tail=lines).decode(errors="replace").strip()
    except Exception:
        return ""


def remove_quietly(container: Any | None) -> None:
    """Stop and remove a container, ignoring that it is already gone."""
    if container is None:
        return
    with contextlib.suppress(Exception):  # already removed is fine
        container.remove(force=True)


def model_containers(client: Any, env_name: str) -> list[Any]:
    return client.containers.list(
        ignore_removed=True,
        all=True,
        filters={"label": [f"{LABEL}.role=model", f"{LABEL}.env={env_name}"]},
    )
