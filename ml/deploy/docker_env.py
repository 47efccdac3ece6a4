"""One environment's Docker side: its engine, network, stable front and serving containers.

Layout on the environment's Docker host, for `container: churn-staging`:

    network   churn-staging-net      user-defined bridge shared by front and model containers
    front     churn-staging-front    ml/deploy/front_proxy.py, publishes the stable port
    model     churn-staging          the serving container traffic goes to
    model     churn-staging-next-…   a new version while it is checked (ephemeral port)

The front forwards to the model container's address on the network; a deploy switches it with
`docker exec` (works for a remote DOCKER_HOST too, no extra port to secure).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ml.config import EnvironmentSettings, Settings
from ml.errors import ServiceError

LABEL = "org.mlci"
FRONT_PORT = 8080
DEFAULT_MODEL_PORT = 8000
PROXY_SOURCE = Path(__file__).with_name("front_proxy.py")
PROXY_PATH = "/opt/mlci/front_proxy.py"

FRONT_DOCKERFILE = f"""\
ARG BASE_IMAGE=python:3.11-slim
FROM ${{BASE_IMAGE}}
COPY front_proxy.py {PROXY_PATH}
RUN mkdir -p /run/mlci && chown 65534:65534 /run/mlci
USER 65534:65534
EXPOSE {FRONT_PORT}
CMD ["python3", "-u", "{PROXY_PATH}"]
"""


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


def front_image_tag(settings: Settings) -> str:
    digest = hashlib.sha256(PROXY_SOURCE.read_bytes() + FRONT_DOCKERFILE.encode()).hexdigest()
    return f"mlci/front:{digest[:12]}"


def _build_front_image(client: Any, settings: Settings) -> str:
    import docker.errors

    tag = front_image_tag(settings)
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (
            ("Dockerfile", FRONT_DOCKERFILE.encode()),
            ("front_proxy.py", PROXY_SOURCE.read_bytes()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    try:
        client.images.build(
            fileobj=buf,
            custom_context=True,
            tag=tag,
            buildargs={"BASE_IMAGE": settings.image.base_image},
            labels={f"{LABEL}.role": "front"},
            rm=True,
            pull=False,
        )
    except docker.errors.BuildError as e:
        log = "".join(str(x.get("stream", x.get("error", ""))) for x in e.build_log)[-800:]
        raise ServiceError(
            f"building the front proxy image {tag} from {settings.image.base_image} failed: {e}; "
            f"is the base image present (scripts/bootstrap-base-image.sh)?\n{log}"
        ) from None
    return tag


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


def ensure_front(client: Any, settings: Settings, env_name: str, env: EnvironmentSettings) -> Any:
    """Start the environment's front proxy on its stable port unless it already runs."""
    import docker.errors

    ensure_network(client, env)
    image = _build_front_image(client, settings)
    front = get_container(client, front_name(env))
    if front is not None:
        if front.status != "running":
            front.start()
        return front
    try:
        front = client.containers.run(
            image,
            name=front_name(env),
            detach=True,
            network=network_name(env),
            ports={f"{FRONT_PORT}/tcp": (env.bind, env.port)},
            restart_policy={"Name": "unless-stopped"},
            labels={f"{LABEL}.role": "front", f"{LABEL}.env": env_name},
            read_only=True,
            # A named volume keeps the upstream across restarts of the front or the engine.
            volumes={f"{front_name(env)}-state": {"bind": "/run/mlci", "mode": "rw"}},
        )
    except docker.errors.APIError as e:
        raise ServiceError(
            f"cannot start the front proxy {front_name(env)} on {env.bind}:{env.port} "
            f"(environments.{env_name}.port): {e.explanation or e}"
        ) from None
    return front


def front_upstream(front: Any) -> str | None:
    """HOST:PORT the front forwards to, or None before the first deploy."""
    code, out = front.exec_run(["python3", PROXY_PATH, "upstream"])
    text = out.decode().strip()
    return text if code == 0 and text else None


def switch_front(front: Any, target: str) -> None:
    """Atomically point the front at `target` (HOST:PORT on the environment network)."""
    code, out = front.exec_run(["python3", PROXY_PATH, "switch", target])
    if code != 0:
        raise ServiceError(f"switching {front.name} to {target} failed: {out.decode().strip()}")


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
        all=True, filters={"label": [f"{LABEL}.role=model", f"{LABEL}.env={env_name}"]}
    )
