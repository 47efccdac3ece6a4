"""Fixtures of the image tests: one registered model, one built image, one private registry.

Everything is session-scoped and built once: the image build dominates this area's time.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ml.config import Settings, load_settings
from tests.conftest import REPO, write_project
from tests.fixtures.mlflow_server import free_port
from tests.image.helpers import register_version


@dataclass
class ImageProject:
    config: Path
    settings: Settings
    approved: str  # version number
    pending: str


@pytest.fixture(scope="session")
def image_project(tmp_path_factory: pytest.TempPathFactory) -> ImageProject:
    root = tmp_path_factory.mktemp("image-proj")
    config = write_project(
        root,
        overrides={
            "image.repository": "mlci-test/churn",
            "train.params.max_iter": 60,
        },
    )
    # Share the wheelhouse cache of the checkout: it is keyed by the lock's hash.
    cache = REPO / ".mlci" / "cache"
    (root / ".mlci").mkdir(exist_ok=True)
    if cache.is_dir() and not (root / ".mlci" / "cache").exists():
        (root / ".mlci" / "cache").symlink_to(cache)
    settings = load_settings(config, environ={})
    approved = register_version(settings, approve=True)
    pending = register_version(settings, approve=False)
    return ImageProject(config, settings, approved, pending)


@dataclass
class Registry:
    url: str
    user: str
    password: str
    state: Path
    env: dict[str, str]

    def run(self, action: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(REPO / "scripts" / "start-registry.sh"), action],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture(scope="session")
def registry(docker_client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A private registry (Debian's docker-registry, htpasswd auth) on a free loopback port."""
    state = tmp_path_factory.mktemp("registry")
    port = free_port()
    env = {
        **os.environ,
        "MLCI_STATE_DIR": str(state),
        "MLCI_REGISTRY_PORT": str(port),
        "MLCI_REGISTRY_USER": "mlci",
        "MLCI_REGISTRY_PASSWORD": "s3cret-test-pw",
    }
    reg = Registry(f"127.0.0.1:{port}", "mlci", "s3cret-test-pw", state, env)
    started = reg.run("start")
    if started.returncode != 0:
        from tests.conftest import need_service

        need_service(f"scripts/start-registry.sh failed: {started.stderr[-500:]}")
    try:
        yield reg
    finally:
        reg.run("stop")
