"""Fixtures shared by every test area.

- `project`: a throwaway copy of the project settings (bundled data, contract) whose state,
  build outputs and MLflow store live in a temp folder.
- `mlflow_server`: a real `mlflow server` (SQLite backend, free port), one per session.
- `docker_client`: the real Docker Engine; skips without one, fails under CI=true.
- `registry`: a private image registry with htpasswd auth on a free port, one per session.
- `team_stack`: PostgreSQL, S3 (SeaweedFS) and MLflow with basic-auth started by
  scripts/team-stack.sh on free ports, one per session (tests/fixtures/team_stack.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.fixtures.mlflow_server import MlflowServer, start_mlflow_server
from tests.fixtures.registry import Registry, registry  # noqa: F401 - a shared fixture
from tests.fixtures.team_stack import (
    StackUnavailable,
    TeamStack,
    start_team_stack,
    stop_team_stack,
)

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_sessionstart(session: pytest.Session) -> None:
    """A fresh clone holds only the .dvc records of the bundled snapshots: fetch their bytes
    from the bundled DVC remote (data/remote/, offline) once, before any test reads them."""
    from ml.data.dvc import ensure_version

    for record in sorted((REPO / "data" / "snapshots").glob("*.csv.dvc")):
        ensure_version(record.with_suffix(""))


def need_service(reason: str) -> None:
    """Skip on a laptop, fail in CI: a missing service is never a silent skip under CI=true."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true requires it)")
    pytest.skip(reason)


def write_project(
    root: Path, overrides: dict | None = None, tracking_uri: str | None = None
) -> Path:
    """Write mlci.yaml into `root` from the repository's, pointing data at the bundled files."""
    doc = yaml.safe_load((REPO / "mlci.yaml").read_text())
    doc["data"]["dir"] = str(REPO / doc["data"]["dir"])
    doc["data"]["contract"] = str(REPO / doc["data"]["contract"])
    if tracking_uri:
        doc["mlflow"]["tracking_uri"] = tracking_uri
    for dotted, value in (overrides or {}).items():
        node = doc
        *parents, last = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    root.mkdir(parents=True, exist_ok=True)
    path = root / "mlci.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="session", autouse=True)
def approver_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Approver keys (ml/registry/proofs/local.py) go to a temp XDG_CONFIG_HOME, never ~/.config;
    the CI markers of Jenkins/GitLab/GitHub are cleared so tests see a laptop unless they set
    one (tests/approval does)."""
    home = tmp_path_factory.mktemp("xdg-config")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CONFIG_HOME", str(home))
        for var in ("JENKINS_URL", "BUILD_URL", "GITLAB_CI", "GITHUB_ACTIONS"):
            mp.delenv(var, raising=False)
        yield home


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with its own embedded MLflow store; returns the path of its mlci.yaml."""
    for var in [v for v in os.environ if v.startswith("MLCI_")]:
        monkeypatch.delenv(var)
    path = write_project(tmp_path / "proj")
    monkeypatch.setenv("MLCI_CONFIG", str(path))
    monkeypatch.chdir(path.parent)
    return path


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = start_mlflow_server(tmp_path_factory.mktemp("mlflow-server"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def team_stack() -> Iterator[TeamStack]:
    """PostgreSQL + S3 (SeaweedFS) + MLflow with basic-auth, by scripts/team-stack.sh."""
    try:
        stack = start_team_stack()
    except StackUnavailable as e:
        need_service(f"the team stack cannot start here: {e}")
    try:
        yield stack
    finally:
        stop_team_stack(stack)


@pytest.fixture(scope="session")
def docker_client():
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as e:
        need_service(f"no Docker Engine answers ({e.__class__.__name__}: {e})")
    return client


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A copy of the repository's tracked configuration files, for tests that edit them."""
    dest = tmp_path / "repo"
    shutil.copytree(
        REPO,
        dest,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".mlci", "build", "node_modules", "__pycache__", "*.egg-info"
        ),
    )
    return dest
