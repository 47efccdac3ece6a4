"""What `mlci init` writes for the stage image, and how `mlci pipeline ci-image` reads it."""

from __future__ import annotations

from ml.config import load_settings
from ml.image.stage import project_requirements
from ml.project.stage_image import REQUIREMENTS_STUB, write_stage_image_files
from tests.conftest import write_project


def test_stub_is_written_once_and_adds_nothing(tmp_path):
    settings = load_settings(write_project(tmp_path), environ={})
    assert write_stage_image_files(tmp_path) == [tmp_path / "requirements.txt"]
    assert (tmp_path / "requirements.txt").read_text() == REQUIREMENTS_STUB
    assert project_requirements(settings) is None  # comments only: no extra layer content
    assert not list(tmp_path.glob(".requirements.txt*"))


def test_a_projects_own_requirements_are_kept_and_used(tmp_path):
    settings = load_settings(write_project(tmp_path), environ={})
    (tmp_path / "requirements.txt").write_text("xgboost==2.1.4  # the team's estimator\n")
    assert write_stage_image_files(tmp_path) == []
    assert (tmp_path / "requirements.txt").read_text().startswith("xgboost==2.1.4")
    assert project_requirements(settings) == tmp_path / "requirements.txt"
