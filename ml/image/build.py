"""`mlci model build`: bake a registered model version into a serving image.

Steps: fetch the version (model, signature, metrics, tags) -> compile it to an ONNX bundle with a
parity check against scikit-learn (fallback: the scikit-learn model) -> assemble a small build
context (wheelhouse, serving app, bundle) -> `docker build` of docker/serve.Dockerfile with
lineage labels. The build needs no network: dependencies come from a host-built wheelhouse.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ml import resources
from ml.config import Settings
from ml.errors import CheckFailed, InputError, ServiceError
from ml.image import labels as L

APP_FILES = (
    "__init__.py",
    "__main__.py",
    "app.py",
    "metrics.py",
    "predictor.py",
    "predlog.py",
    "schema.py",
)
LOCKS = {"onnx": "serve.txt", "sklearn": "serve-sklearn.txt"}

Progress = Callable[[str], None]


@dataclass
class BuildResult:
    """The built image and what went into it."""

    image: str
    image_id: str
    name: str
    version: str
    task: str
    runtime: str
    runtime_reason: str
    parity: dict[str, Any] | None
    size_bytes: int
    base_size_bytes: int
    labels: dict[str, str]
    seconds: float

    @property
    def added_bytes(self) -> int:
        return self.size_bytes - self.base_size_bytes

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "added_bytes": self.added_bytes}


def image_tag(settings: Settings, version: str | int) -> str:
    """The local tag of a model version's image: `<image.repository>:v<version>`."""
    return f"{settings.image.repository}:v{version}"


def project_file(settings: Settings, relative: str) -> Path:
    """A file mlci ships (docker/, locks/, scripts/; ml.resources): the project's copy first."""
    if (settings.root / relative).is_file():
        return settings.root / relative
    if not (resources.root() / relative).is_file():
        raise InputError(
            f"{relative}: not found in {settings.root} or {resources.root()} (the files "
            "shipped with mlci); reinstall mlci from its wheel (docs/install.md)"
        )
    return resources.root() / relative


def docker_client(timeout: int = 600) -> Any:
    """The Docker Engine from DOCKER_HOST / the default socket; ServiceError when it is down."""
    import docker

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as e:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise ServiceError(
            f"no Docker Engine answers at {where} ({e.__class__.__name__}); start "
            "one (scripts/install-docker.sh) or set DOCKER_HOST"
        ) from None
    return client


def wheelhouse(
    settings: Settings,
    lock: Path,
    progress: Progress,
    out: Path | None = None,
    constraints: Path | None = None,
) -> Path:
    """Build (or reuse) the host-side wheelhouse for `lock` (with `constraints`: for a
    requirements file, dependencies included, pinned by the constraints where they pin)."""
    out = out or settings.state_dir / "cache" / "wheelhouse" / lock.stem
    script = resources.resource("scripts/build-wheelhouse.sh")
    progress(f"wheelhouse: {lock.name} -> {out}")
    proc = subprocess.run(
        ["bash", str(script), str(lock), str(out), *([str(constraints)] if constraints else [])],
        capture_output=True,
        text=True,
        env={**os.environ, "MLCI_STATE_DIR": str(settings.state_dir)},
    )
    if proc.returncode != 0:
        raise ServiceError(f"building the wheelhouse for {lock} failed:\n{proc.stderr.strip()}")
    return out


def link_tree(src: Path, dst: Path) -> None:
    """Hard-link (else copy) the files of `src` into `dst`, dotfiles excepted."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and not f.name.startswith("."):
            try:
                os.link(f, dst / f.name)
            except OSError:
                shutil.copy2(f, dst / f.name)


def assemble_context(settings: Settings, ctx: Path, bundle: Path, lock: Path, wheels: Path) -> None:
    """The build context: Dockerfile, wheels, the lock, the serving app only, the bundle."""
    shutil.copy2(project_file(settings, "docker/serve.Dockerfile"), ctx / "serve.Dockerfile")
    link_tree(wheels, ctx / "wheels")
    (ctx / "locks").mkdir()
    shutil.copy2(lock, ctx / "locks" / lock.name)
    app = ctx / "app" / "ml"
    (app / "serve").mkdir(parents=True)
    package = resources.package_dir()
    shutil.copy2(package / "__init__.py", app / "__init__.py")
    for name in APP_FILES:
        shutil.copy2(package / "serve" / name, app / "serve" / name)
    shutil.copytree(bundle, ctx / "model")


def docker_build(
    client: Any,
    ctx: Path,
    tag: str,
    buildargs: dict[str, str],
    labels: dict[str, str],
    progress: Progress,
    dockerfile: str,
    nocache: bool = False,
) -> str:
    """Run the build, streaming its steps to `progress`; returns the image id."""
    import docker

    log: list[str] = []
    image_id = ""
    try:
        stream = client.api.build(
            path=str(ctx),
            dockerfile=dockerfile,
            tag=tag,
            buildargs=buildargs,
            labels=labels,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            nocache=nocache,
        )
        for event in stream:
            if "stream" in event:
                line = event["stream"].rstrip()
                if line:
                    log.append(line)
                    if line.startswith("Step "):
                        progress(f"  {line}")
            elif "error" in event:
                log.append(event["error"].rstrip())
                raise CheckFailed(
                    f"docker build of {tag} failed: {event['error'].strip()}\n"
                    + "\n".join(log[-15:])
                )
            elif "aux" in event and "ID" in event["aux"]:
                image_id = event["aux"]["ID"]
    except docker.errors.APIError as e:
        raise ServiceError(
            f"Docker Engine refused the build of {tag}: {e.explanation or e}"
        ) from None
    if not image_id:
        image_id = client.images.get(tag).id
    return image_id


def build_model_image(
    settings: Settings,
    name: str | None,
    version: str | int,
    *,
    runtime: str = "auto",
    progress: Progress = lambda _: None,
) -> BuildResult:
    """Build the serving image of a registered model version; returns what was built."""
    import time

    from ml.image.source import load_source, source_url
    from ml.serve.compile import build_bundle
    from ml.serve.predictor import METADATA_FILE

    start = time.monotonic()
    client = docker_client()
    base = settings.image.base_image
    try:
        base_size = client.images.get(base).attrs["Size"]
    except Exception:
        raise ServiceError(
            f"base image {base} is not in the local Docker Engine; pull it or "
            "build it with scripts/bootstrap-base-image.sh"
        ) from None
    with tempfile.TemporaryDirectory(prefix="mlci-image-") as tmp:
        work = Path(tmp)
        progress(f"fetching model {name or settings.mlflow.model_name} version {version}")
        src = load_source(settings, name, version, work)
        info = src.info
        progress(f"compiling: ONNX with a parity check on {src.sample_origin}")
        try:
            report = build_bundle(
                src.model,
                src.inputs,
                work / "bundle",
                metadata={
                    "model": {"name": info.name, "version": info.version, "run_id": info.run_id},
                    "lineage": {k: v for k, v in info.tags.items()},
                    "metrics": src.metrics,
                },
                sample=src.sample,
                runtime=runtime,
                declared=src.declared,
            )
        except ValueError as e:  # --runtime onnx and the model cannot be compiled
            raise CheckFailed(f"{info.name} version {info.version}: {e}") from None
        task = json.loads((work / "bundle" / METADATA_FILE).read_text())["task"]
        progress(f"task: {task}; runtime: {report.runtime} ({report.reason})")
        lock = project_file(settings, f"locks/{LOCKS[report.runtime]}")
        wheels = wheelhouse(settings, lock, progress)
        ctx = work / "context"
        ctx.mkdir()
        assemble_context(settings, ctx, work / "bundle", lock, wheels)
        labels = L.lineage_labels(
            name=info.name,
            version=info.version,
            run_id=info.run_id,
            tags=info.tags,
            metrics=src.metrics,
            task=task,
            runtime=report.runtime,
            runtime_reason=report.reason,
            parity_max_diff=report.parity.max_abs_diff if report.parity else None,
            source_url=source_url(settings),
        )
        tag = image_tag(settings, info.version)
        progress(f"docker build {tag} (base {base})")
        image_id = docker_build(
            client,
            ctx,
            tag,
            {"BASE_IMAGE": base, "SERVE_LOCK": lock.name},
            labels,
            progress,
            "serve.Dockerfile",
        )
    size = client.images.get(tag).attrs["Size"]
    result = BuildResult(
        image=tag,
        image_id=image_id,
        name=info.name,
        version=info.version,
        task=task,
        runtime=report.runtime,
        runtime_reason=report.reason,
        parity=asdict(report.parity) if report.parity else None,
        size_bytes=size,
        base_size_bytes=base_size,
        labels=labels,
        seconds=round(time.monotonic() - start, 1),
    )
    out = settings.build_dir / "image"
    out.mkdir(parents=True, exist_ok=True)
    (out / "build.json").write_text(json.dumps(result.to_json(), indent=2, sort_keys=True))
    return result
