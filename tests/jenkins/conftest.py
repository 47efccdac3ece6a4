"""Fixtures for the Jenkins area: the controller double and a project pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ml.cli import cli
from tests.conftest import REPO, write_project
from tests.jenkins.double import JenkinsDouble

ADMIN_TOKEN = "11aa22bb33cc44dd55ee66ff77889900aa"
SCM_URL = "https://git.example.com/team/churn.git"


@pytest.fixture
def double() -> Iterator[JenkinsDouble]:
    d = JenkinsDouble(queue_delay=0.02)
    d.add_user("admin", password="admin-password", token=ADMIN_TOKEN, role="admin")
    d.add_user("dev", token="dev-token", role="developer", groups=("ml-devs",))
    d.add_user("alice", token="alice-token", role="developer", groups=("ml-approvers",))
    d.add_user("viewer", token="viewer-token", role="viewer")
    d.start()
    try:
        yield d
    finally:
        d.stop()
    assert not d.errors, f"the double failed to serve a request:\n{d.errors[0]}"


def link_pipelines(root: Path) -> None:
    """The repository's Jenkinsfiles in a project folder: `mlci jenkins apply` reads the
    parameters and cron of each job's Jenkinsfile (scriptPath) from the project root."""
    (root / "Jenkinsfile").symlink_to(REPO / "Jenkinsfile")
    (root / "jenkins").symlink_to(REPO / "jenkins", target_is_directory=True)


def point_at(project: Path, url: str, **overrides: object) -> None:
    values = {
        "jenkins.url": url,
        "jenkins.scm_url": SCM_URL,
        "jenkins.timeout": 5,
        "jenkins.jobs_dir": str(REPO / "jenkins" / "jobs"),
    }
    values.update({f"jenkins.{k}": v for k, v in overrides.items()})
    write_project(project.parent, values)


@pytest.fixture
def jproject(project: Path, double: JenkinsDouble, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose jenkins.url is the double, logged in as admin with an API token."""
    point_at(project, double.url.rstrip("/"))
    link_pipelines(project.parent)
    monkeypatch.setenv("JENKINS_USER", "admin")
    monkeypatch.setenv("JENKINS_TOKEN", ADMIN_TOKEN)
    for var in (
        "MLCI_REGISTRY_USER",
        "MLCI_REGISTRY_PASSWORD",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
    ):
        monkeypatch.delenv(var, raising=False)
    return project


def mlci(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)
