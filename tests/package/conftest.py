"""Fixtures of the package tests: the wheel and sdist built once per session, and a fresh venv
outside this repository with the wheel installed by pip, the runtime lock as constraints.

The install is offline and real: pip reads the checkout's wheelhouse of locks/requirements.txt
(the cache `mlci pipeline ci-image` fills, keyed by the lock's hash) with --no-index, so no
test depends on the package index answering.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

WHEELHOUSE = REPO / ".mlci" / "cache" / "wheelhouse" / "requirements"


@dataclass
class Dist:
    wheel: Path
    sdist: Path


@dataclass
class InstalledVenv:
    root: Path
    seconds: float  # pip install, measured

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def env(self, **extra: str) -> dict[str, str]:
        """A shell with this venv activated and nothing of the checkout's environment."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("MLCI_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
        }
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.root)
        return {**env, **extra}

    def run(self, *argv: str, cwd: Path, timeout: int = 600, **extra: str):
        return subprocess.run(
            list(argv),
            cwd=cwd,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "build-dist.sh"), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.glob("mlci-*.whl")
    (sdist,) = out.glob("mlci-*.tar.gz")
    return Dist(wheel, sdist)


def _filled_wheelhouse() -> Path:
    from ml.config import load_settings
    from ml.image.build import wheelhouse

    settings = load_settings(REPO / "mlci.yaml", environ={})
    return wheelhouse(settings, REPO / "locks" / "requirements.txt", lambda _m: None, WHEELHOUSE)


@pytest.fixture(scope="session")
def installed(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> InstalledVenv:
    """`python -m venv` + `pip install mlci-*.whl -c locks/requirements.txt`, offline."""
    wheels = _filled_wheelhouse()
    root = tmp_path_factory.mktemp("outside") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    start = time.monotonic()
    proc = subprocess.run(
        [
            str(root / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",  # byte-compiling made this install 264 s instead of 40 s here
            "--no-index",
            "--find-links",
            str(wheels),
            str(dist.wheel),
            "-c",
            str(REPO / "locks" / "requirements.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return InstalledVenv(root, round(time.monotonic() - start, 1))
