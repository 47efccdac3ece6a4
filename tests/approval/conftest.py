"""Fixtures for approval proofs: one embedded MLflow store per module, fresh versions per test.

Versions are real registry entries (MLflow on SQLite) with a run and a source URI; no model
artifacts are needed to approve or to verify an approval.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ml.cli import cli
from ml.config import Settings, load_settings
from ml.registry import ModelRegistry
from ml.registry import tags as T
from tests.conftest import write_project

MODEL = "churn-classifier"
CI_MARKERS = ("JENKINS_URL", "BUILD_URL", "GITLAB_CI", "GITHUB_ACTIONS")


@dataclass
class Store:
    root: Path
    config: Path

    def settings(self) -> Settings:
        return load_settings(self.config)

    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.settings())

    def configure(self, **values: Any) -> None:
        """Rewrite mlci.yaml with dotted overrides (the store stays where it is)."""
        write_project(self.root, {**self.base, **values})

    @property
    def base(self) -> dict[str, Any]:
        return {"mlflow.tracking_uri": f"sqlite:///{self.root / 'mlflow.db'}"}

    def new_version(self, **extra_tags: str) -> str:
        """A registered version (pending, with lineage tags) of MODEL; returns its number."""
        reg = self.registry()
        client = reg.client
        from ml.registry.tracking import connect

        exp = connect(reg.settings)
        run = client.create_run(exp)
        client.set_terminated(run.info.run_id)
        if not client.search_registered_models(f"name = '{MODEL}'"):
            client.create_registered_model(MODEL)
        mv = client.create_model_version(
            MODEL, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
        )
        tags = {
            T.APPROVAL_STATUS: "pending",
            T.GIT_COMMIT: uuid.uuid4().hex + "00000000",
            T.DATASET_DIGEST: uuid.uuid4().hex,
            T.GATE_VERDICT: "passed",
            **extra_tags,
        }
        reg.set_tags(MODEL, mv.version, tags)
        return str(mv.version)

    def tags(self, version: str) -> dict[str, str]:
        return self.registry().get_version(MODEL, version).tags

    def set_tag(self, version: str, key: str, value: str) -> None:
        self.registry().client.set_model_version_tag(MODEL, version, key, value)

    def mlci(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(
            cli, ["--config", str(self.config), *args], env=env, catch_exceptions=False
        )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root = tmp_path_factory.mktemp("approval") / "proj"
    config = write_project(root, {"mlflow.tracking_uri": f"sqlite:///{root / 'mlflow.db'}"})
    yield Store(root, config)


@pytest.fixture
def laptop(store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Store]:
    """The store with the default mlci.yaml, no CI markers and a fresh approver home."""
    for var in CI_MARKERS:
        monkeypatch.delenv(var, raising=False)
    for var in [v for v in os.environ if v.startswith("MLCI_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    store.configure()
    yield store
    store.configure()


BOT = ("bot", "bot-token")  # the CI bot's credential: reads builds (Job/Read), cannot approve
ADMIN = ("admin", "admin-token")
ALICE = ("alice", "alice-token")  # an approver in Jenkins and in approval.jenkins.approvers
MALLORY = ("mallory", "mallory-token")  # may answer the input in Jenkins, not an approver here


def creds(user: tuple[str, str]) -> dict[str, str]:
    return {"JENKINS_USER": user[0], "JENKINS_TOKEN": user[1]}


@pytest.fixture
def jenkins(laptop: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The Jenkins double (a stand-in for the controller) with the repo's jobs applied, and the
    store's mlci.yaml pointing at it with alice as the only approver; mlci reads as the bot."""
    from tests.conftest import REPO
    from tests.jenkins.double import JenkinsDouble

    d = JenkinsDouble(queue_delay=0.02)
    d.add_user(ADMIN[0], token=ADMIN[1], role="admin")
    d.add_user(BOT[0], token=BOT[1], role="viewer")
    for name, token in (ALICE, MALLORY):
        d.add_user(name, token=token, role="developer", groups=("ml-approvers",))
    d.start()
    laptop.configure(
        **{
            "jenkins.url": d.url.rstrip("/"),
            "jenkins.scm_url": "https://git.example.com/team/churn.git",
            "jenkins.timeout": 5,
            "jenkins.jobs_dir": str(REPO / "jenkins" / "jobs"),
            "approval.jenkins.approvers": ["alice"],
        }
    )
    from tests.jenkins.conftest import link_pipelines

    if not (laptop.root / "jenkins").exists():
        link_pipelines(laptop.root)  # apply reads each job's Jenkinsfile from the project
    result = laptop.mlci("jenkins", "apply", env=creds(ADMIN))
    assert result.exit_code == 0, result.output
    for var, value in creds(BOT).items():
        monkeypatch.setenv(var, value)
    try:
        yield d
    finally:
        d.stop()
    assert not d.errors, f"the double failed to serve a request:\n{d.errors[0]}"
