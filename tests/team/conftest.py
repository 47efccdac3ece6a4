"""Fixtures of the team tests: the stage image (built once per session from the checkout)."""

from __future__ import annotations

import pytest

from ml.config import load_settings
from tests.conftest import write_project


@pytest.fixture(scope="session")
def stage_image(docker_client, tmp_path_factory) -> str:
    """docker/ci.Dockerfile built from this checkout's locks and code; returns the image id.

    The same tag as tests/image's stage-image tests: a second build in a session is all cache
    hits. Jenkins' buildStageImage() does the same on the node (`mlci pipeline ci-image`).
    """
    from ml.image.stage import build_ci_image

    root = tmp_path_factory.mktemp("stage-image")
    settings = load_settings(write_project(root), environ={})
    return build_ci_image(settings, "mlci/ci:test")["image_id"]
