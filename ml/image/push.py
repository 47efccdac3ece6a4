"""`mlci model push`: publish an approved model version's image and record where it went.

Order matters (a failed push must leave the registry tags unchanged):
    approved (with a proof that verifies)? -> image built for this version? -> credentials ->
    docker push (retries with backoff on transient errors) -> manifest digest confirmed via the
    registry's v2 API -> only then image.ref / image.digest are written to the model version.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ml.config import Settings
from ml.errors import InputError, ServiceError
from ml.image import labels as L
from ml.image.build import docker_client, image_tag
from ml.registry import tags as T

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
AUTH_MARKERS = (
    "unauthorized",
    "authentication required",
    "no basic auth credentials",
    "denied",
    "401",
)
Progress = Callable[[str], None]


@dataclass
class PushResult:
    image_ref: str
    digest: str
    attempts: int
    registry: str

    def to_json(self) -> dict[str, Any]:
        return {
            "image_ref": self.image_ref,
            "digest": self.digest,
            "attempts": self.attempts,
            "registry": self.registry,
        }


class RegistryAuthError(ServiceError):
    """The registry refused the credentials (exit 4, never retried)."""


def credentials(settings: Settings) -> dict[str, str] | None:
    """Registry credentials: the configured environment variables, else the docker config."""
    reg = settings.registry
    user, password = os.environ.get(reg.username_env), os.environ.get(reg.password_env)
    if user and password:
        return {"username": user, "password": password}
    try:
        import docker.auth

        found = docker.auth.load_config().resolve_authconfig(reg.url)
    except Exception:
        found = None
    if found and found.get("username") and found.get("password"):
        return {"username": found["username"], "password": found["password"]}
    if found and found.get("auth"):
        user, _, password = base64.b64decode(found["auth"]).decode().partition(":")
        return {"username": user, "password": password}
    return None


def _where(settings: Settings) -> str:
    reg = settings.registry
    return f"${reg.username_env}/${reg.password_env} or the docker config (docker login {reg.url})"


def registry_base(settings: Settings) -> str:
    return f"{'http' if settings.registry.insecure else 'https'}://{settings.registry.url}"


def manifest_digest(
    settings: Settings,
    repository: str,
    tag: str,
    creds: dict[str, str] | None,
    timeout: float = 10.0,
) -> str:
    """The digest the registry serves for repository:tag (HEAD, GET as a fallback)."""
    import hashlib

    import requests

    url = f"{registry_base(settings)}/v2/{repository}/manifests/{tag}"
    headers = {"Accept": ", ".join(MANIFEST_TYPES)}
    auth = (creds["username"], creds["password"]) if creds else None
    try:
        r = requests.head(url, headers=headers, auth=auth, timeout=timeout)
        if r.status_code == 401 and "bearer" in r.headers.get("WWW-Authenticate", "").lower():
            headers["Authorization"] = f"Bearer {_bearer_token(r, creds, timeout)}"
            auth = None
            r = requests.head(url, headers=headers, auth=auth, timeout=timeout)
        digest = r.headers.get("Docker-Content-Digest") if r.status_code == 200 else None
        if r.status_code == 200 and not digest:
            g = requests.get(url, headers=headers, auth=auth, timeout=timeout)
            g.raise_for_status()
            digest = "sha256:" + hashlib.sha256(g.content).hexdigest()
    except requests.RequestException as e:
        raise ServiceError(
            f"registry {settings.registry.url} did not answer the manifest check "
            f"GET {url}: {e.__class__.__name__}"
        ) from None
    if r.status_code == 401:
        raise RegistryAuthError(
            f"registry {settings.registry.url} refused the credentials for "
            f"the manifest check (HTTP 401); check {_where(settings)}"
        )
    if r.status_code != 200 or not digest:
        raise ServiceError(
            f"registry {settings.registry.url} has no manifest for "
            f"{repository}:{tag} after the push (HTTP {r.status_code} from {url})"
        )
    return digest


def _bearer_token(challenge: Any, creds: dict[str, str] | None, timeout: float) -> str:
    import re

    import requests

    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge.headers["WWW-Authenticate"]))
    realm = params.pop("realm", "")
    auth = (creds["username"], creds["password"]) if creds else None
    r = requests.get(realm, params=params, auth=auth, timeout=timeout)
    if r.status_code in (401, 403):
        raise RegistryAuthError(f"token service {realm} refused the registry credentials")
    r.raise_for_status()
    doc = r.json()
    return doc.get("token") or doc.get("access_token") or ""


def _push_once(
    client: Any, remote_repo: str, tag: str, creds: dict[str, str] | None, progress: Progress
) -> tuple[str | None, str | None]:
    """One `docker push`; returns (digest, error message)."""
    import docker

    digest = error = None
    last = {}
    try:
        for event in client.api.push(remote_repo, tag, stream=True, decode=True, auth_config=creds):
            if "error" in event:
                error = event["error"]
                break
            status, layer = event.get("status", ""), event.get("id", "")
            if status and last.get(layer) != status and status not in ("Pushing", "Waiting"):
                last[layer] = status
                progress(f"  {layer + ': ' if layer else ''}{status}")
            aux = event.get("aux") or {}
            if "Digest" in aux:
                digest = aux["Digest"]
    except docker.errors.APIError as e:
        error = str(e.explanation or e)
    except Exception as e:
        error = f"{e.__class__.__name__}: {e}"
    return digest, error


def push_model_image(
    settings: Settings,
    name: str | None,
    version: str | int,
    *,
    attempts: int = 3,
    backoff: float = 2.0,
    progress: Progress = lambda _: None,
) -> PushResult:
    """Push the built image of an approved version and record image.ref/image.digest."""
    from ml.registry.approval import require_approved
    from ml.registry.client import ModelRegistry

    registry = ModelRegistry(settings)
    info = require_approved(settings, registry.get_version(name, version))  # proof verified
    client = docker_client()
    local = image_tag(settings, info.version)
    try:
        image = client.images.get(local)
    except Exception:
        raise InputError(
            f"image {local} is not in the local Docker Engine; build it first with "
            f"`mlci model build {info.name} {info.version}`"
        ) from None
    labels = image.labels or {}
    if labels.get(L.MODEL_NAME) != info.name or labels.get(L.MODEL_VERSION) != info.version:
        raise InputError(
            f"image {local} is labelled {labels.get(L.MODEL_NAME)!r} version "
            f"{labels.get(L.MODEL_VERSION)!r}, not {info.name!r} version "
            f"{info.version}; rebuild it with `mlci model build`"
        )
    if labels.get(L.APPROVAL_STATUS) != T.ApprovalStatus.APPROVED:
        progress(
            f"note: {local} was built before approval; its approval labels say "
            f"{labels.get(L.APPROVAL_STATUS) or 'nothing'} (rebuild to record the approver)"
        )
    remote_repo = f"{settings.registry.url}/{settings.image.repository}"
    tag = local.rsplit(":", 1)[1]
    image.tag(remote_repo, tag)
    creds = credentials(settings)
    ref = f"{remote_repo}:{tag}"
    digest, error = None, None
    attempt = 0
    for attempt in range(1, attempts + 1):
        progress(f"pushing {ref} (attempt {attempt}/{attempts})")
        digest, error = _push_once(client, remote_repo, tag, creds, progress)
        if error is None and digest:
            break
        error = error or "the push reported no manifest digest"
        if any(m in error.lower() for m in AUTH_MARKERS):
            who = f"user {creds['username']!r}" if creds else "no credentials"
            raise RegistryAuthError(
                f"registry {settings.registry.url} refused the push of {ref} ({who}): {error}; "
                f"check {_where(settings)}"
            )
        if attempt < attempts:
            delay = backoff * 2 ** (attempt - 1)
            progress(f"  push failed ({error}); retrying in {delay:g}s")
            time.sleep(delay)
    if error is not None or not digest:
        raise ServiceError(
            f"pushing {ref} to registry {settings.registry.url} failed after "
            f"{attempt} attempts: {error}; is the registry running and reachable? "
            f"The model version's {T.IMAGE_REF}/{T.IMAGE_DIGEST} tags are unchanged"
        )
    confirmed = manifest_digest(settings, settings.image.repository, tag, creds)
    if confirmed != digest:
        raise ServiceError(
            f"registry {settings.registry.url} serves {confirmed} for {ref}, but "
            f"the push reported {digest}; tags left unchanged"
        )
    progress(f"confirmed {ref}@{digest} via the registry API")
    registry.set_tags(info.name, info.version, {T.IMAGE_REF: ref, T.IMAGE_DIGEST: digest})
    return PushResult(
        image_ref=ref, digest=digest, attempts=attempt, registry=settings.registry.url
    )


def inspect_image(ref: str, settings: Settings | None = None) -> dict[str, Any]:
    """An image's lineage labels: from the local engine, pulling it first if it is absent."""
    import docker

    client = docker_client()
    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        creds = credentials(settings) if settings else None
        try:
            image = client.images.pull(ref, auth_config=creds)
        except docker.errors.APIError as e:
            raise InputError(
                f"image {ref} is neither local nor pullable: {e.explanation or e}"
            ) from None
    except docker.errors.APIError as e:
        raise ServiceError(f"Docker Engine could not inspect {ref}: {e.explanation or e}") from None
    labels = image.labels or {}
    return {
        "image": ref,
        "id": image.id,
        "repo_digests": image.attrs.get("RepoDigests", []),
        "size_bytes": image.attrs.get("Size"),
        **L.lineage_view(labels),
    }
