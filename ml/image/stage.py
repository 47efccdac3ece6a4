"""The stage image (docker/ci.Dockerfile) and the executor that runs pipeline stages in it.

`DockerExecutor` runs each stage's `mlci` argv the way a Jenkins Docker agent does: the
workspace mounted at the same path and used as the working directory, the host's user id (so
outputs are not root-owned), host networking (so an MLflow server on loopback is reachable),
and the same configuration file. Paths the configuration points outside the workspace (data,
MLflow store, state) are mounted at their own paths too, so every stage sees the same files as
`--executor local` and writes the same results.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ml.config import Settings
from ml.errors import InputError, ServiceError

# Variables passed through by name (`-e NAME`: the value never appears on a command line).
PASS_PREFIXES = (
    "MLCI_",
    "MLFLOW_",
    "GIT_",
    "BUILD_",
    "JOB_",
    "JENKINS_",
    "BRANCH_",
    "CHANGE_",
    "AWS_",
)
PASS_NAMES = ("WORKSPACE", "NODE_NAME", "CI", "TZ")

Progress = Callable[[str], None]


REQUIREMENTS = "requirements.txt"  # a project's own extra requirements, next to mlci.yaml


def project_requirements(settings: Settings) -> Path | None:
    """The project's requirements.txt when it names at least one requirement, else None."""
    path = settings.root / REQUIREMENTS
    if not path.is_file():
        return None
    lines = [ln.split("#", 1)[0].strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return path if any(lines) else None


def _cache_dir(settings: Settings) -> Path:
    """Where the wheelhouses go: the checkout's .mlci/cache when mlci runs from its source tree
    (one cache for every test project and workspace of that checkout, keyed by the lock's
    hash), else the project's state folder."""
    from ml import resources

    source = resources.source_root()
    return (source / ".mlci" if source else settings.state_dir) / "cache"


def assemble_ci_context(settings: Settings, ctx: Path, progress: Progress) -> dict[str, Any]:
    """Fill `ctx` with what docker/ci.Dockerfile copies (see its header); returns what went in."""
    import shutil

    from ml import resources
    from ml.image.build import link_tree, project_file, wheelhouse
    from ml.image.mlci_wheel import mlci_wheel

    dockerfile = project_file(settings, "docker/ci.Dockerfile")
    lock = resources.resource(resources.RUNTIME_LOCK)
    extra = project_requirements(settings)
    cache = _cache_dir(settings)
    wheels = wheelhouse(settings, lock, progress, out=cache / "wheelhouse" / lock.stem)
    shutil.copy2(dockerfile, ctx / "ci.Dockerfile")
    shutil.copy2(lock, ctx / "lock.txt")
    link_tree(wheels, ctx / "wheels")
    (ctx / "extra" / "wheels").mkdir(parents=True)
    if extra is not None:
        # Keyed by the file's content (the stamp): a project's folder of its own.
        out = settings.state_dir / "cache" / "wheelhouse" / "project-requirements"
        link_tree(
            wheelhouse(settings, extra, progress, out=out, constraints=lock),
            ctx / "extra" / "wheels",
        )
        shutil.copy2(extra, ctx / "extra" / REQUIREMENTS)
    else:
        (ctx / "extra" / REQUIREMENTS).write_text("", encoding="utf-8")
    wheel = mlci_wheel(ctx / "mlci", progress)
    return {"mlci_wheel": wheel.name, "requirements": str(extra) if extra else None}


def build_ci_image(
    settings: Settings,
    tag: str | None = None,
    *,
    no_cache: bool = False,
    progress: Progress = lambda _: None,
) -> dict[str, Any]:
    """Build the stage image for the project: mlci (the running one, as a wheel), its runtime
    lock and the project's requirements.txt on top, all from host-built wheelhouses (the build
    has no network). The project's code, mlci.yaml and contract are not baked in: Jenkins and
    `--executor docker` mount the workspace, so one image serves every commit until the
    requirements or mlci change. Returns tag, image id, seconds and what went in."""
    import tempfile

    from ml.image.build import docker_build, docker_client

    tag = tag or settings.image.ci_image
    start = time.monotonic()
    client = docker_client()
    tmp_root = _cache_dir(settings) / "tmp"  # beside the wheelhouse, so hard links work
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ci-context-", dir=tmp_root) as tmp:
        ctx = Path(tmp)
        parts = assemble_ci_context(settings, ctx, progress)
        args = {"BASE_IMAGE": settings.image.base_image}
        image_id = docker_build(
            client, ctx, tag, args, {}, progress, "ci.Dockerfile", nocache=no_cache
        )
    return {
        "image": tag,
        "image_id": image_id,
        "seconds": round(time.monotonic() - start, 1),
        **parts,
    }


class DockerExecutor:
    """Runs each stage as `docker run ... IMAGE mlci [--config CFG] ARGV`."""

    def __init__(
        self,
        settings: Settings,
        config_path: str | None = None,
        image: str | None = None,
        workspace: Path | None = None,
    ) -> None:
        self.settings = settings
        self.image = image or settings.image.ci_image
        self.config = Path(config_path).resolve() if config_path else settings.root / "mlci.yaml"
        self.workspace = (workspace or Path(os.environ.get("WORKSPACE") or Path.cwd())).resolve()
        self._checked = False

    def _mounts(self) -> list[Path]:
        """The workspace plus every configured path that lies outside it (deduplicated)."""
        s = self.settings
        wanted = [
            self.workspace,
            s.root,
            self.config.parent,
            s.state_dir,
            s.build_dir,
            s.path(s.data.dir),
            s.path(s.data.contract).parent,
            s.path(s.mlflow.artifact_root),
        ]
        uri = s.tracking_uri
        if uri.startswith("sqlite:///"):
            wanted.append(Path(uri[len("sqlite:///") :]).parent)
        out: list[Path] = []
        for p in sorted({Path(os.path.abspath(p)) for p in wanted}, key=lambda p: len(p.parts)):
            if not any(p == m or m in p.parents for m in out):
                p.mkdir(parents=True, exist_ok=True)
                out.append(p)
        return out

    def _env(self) -> tuple[list[str], dict[str, str]]:
        env = dict(os.environ)
        if "GIT_COMMIT" not in env:  # the image has no git; the host's checkout knows
            commit = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=self.settings.root, capture_output=True, text=True
            ).stdout.strip()
            if commit:
                env["GIT_COMMIT"] = commit
        names = sorted(n for n in env if n.startswith(PASS_PREFIXES) or n in PASS_NAMES)
        names = [n for n in names if n != "MLCI_CONFIG"]
        return names, env

    def command(self, argv: list[str] | tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
        """The `docker run` argv and the environment it is started with."""
        names, env = self._env()
        cmd = [
            "docker",
            "run",
            "--rm",
            "--network",
            "host",
            "--init",
            "--user",
            f"{os.getuid()}:{os.getgid()}",
            "-e",
            "HOME=/tmp",
            "-w",
            str(self.workspace),
        ]
        for m in self._mounts():
            cmd += ["-v", f"{m}:{m}"]
        for n in names:
            cmd += ["-e", n]
        cmd += [self.image, "mlci", "--config", str(self.config), *argv]
        return cmd, env

    def check_image(self) -> None:
        if self._checked:
            return
        probe = subprocess.run(
            ["docker", "image", "inspect", self.image], capture_output=True, text=True
        )
        if probe.returncode != 0:
            if "No such image" in probe.stderr or "No such object" in probe.stderr:
                raise InputError(
                    f"stage image {self.image} is not in the local Docker Engine; "
                    "build it with `mlci pipeline ci-image`"
                )
            raise ServiceError(f"Docker Engine unavailable: {probe.stderr.strip()[:300]}")
        self._checked = True

    def run(self, stage: Any) -> int:
        self.check_image()
        cmd, env = self.command(stage.argv)
        return subprocess.run(cmd, env=env).returncode
