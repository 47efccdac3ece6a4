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


def build_ci_image(
    settings: Settings,
    tag: str | None = None,
    *,
    no_cache: bool = False,
    progress: Progress = lambda _: None,
) -> dict[str, Any]:
    """Build docker/ci.Dockerfile from the checkout (wheelhouse first); returns tag, id, time."""
    from ml.image.build import REPO, docker_build, docker_client, wheelhouse

    root = REPO
    lock = root / "locks" / "requirements.txt"
    if not (root / "docker" / "ci.Dockerfile").is_file() or not lock.is_file():
        raise InputError(
            f"{root}: not an mlci checkout (docker/ci.Dockerfile and "
            "locks/requirements.txt are needed to build the stage image)"
        )
    tag = tag or settings.image.ci_image
    start = time.monotonic()
    # Inside the checkout: it is part of the build context (.dockerignore lets exactly it in).
    rel = Path(".mlci/cache/wheelhouse/requirements")
    wheelhouse(settings, lock, progress, out=root / rel)
    client = docker_client()
    args = {"BASE_IMAGE": settings.image.base_image, "WHEELHOUSE": str(rel)}
    image_id = docker_build(
        client, root, tag, args, {}, progress, "docker/ci.Dockerfile", nocache=no_cache
    )
    return {"image": tag, "image_id": image_id, "seconds": round(time.monotonic() - start, 1)}


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
