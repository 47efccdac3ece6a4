"""Fixtures of the image tests: one registered model, one built image, one private registry.

Everything is session-scoped and built once: the image build dominates this area's time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from ml.config import Settings, load_settings
from tests.conftest import REPO, write_project
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
