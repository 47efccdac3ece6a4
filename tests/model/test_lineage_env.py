"""git_state() without git (the stage image has none): the commit comes from $GIT_COMMIT."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ml.train.lineage import UNKNOWN, git_state

COMMIT = "3f9c2a7d0b1e4c5a6f7089a1b2c3d4e5f6a7b8c9"


@pytest.fixture
def no_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder that is not a repository, and a PATH on which there is no git."""
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    assert shutil.which("git") is None
    for var in ("GIT_COMMIT", "GIT_BRANCH", "BRANCH_NAME"):
        monkeypatch.delenv(var, raising=False)
    project = tmp_path / "project"
    project.mkdir()
    return project


def test_without_git_the_commit_comes_from_GIT_COMMIT(
    no_git: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_COMMIT", COMMIT)
    monkeypatch.setenv("BRANCH_NAME", "main")
    state = git_state(no_git)
    assert state.commit == COMMIT
    assert state.branch == "main"
    assert state.dirty == UNKNOWN  # cannot be told without git


def test_without_git_GIT_BRANCH_names_the_branch_and_case_is_normalised(
    no_git: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_COMMIT", f" {COMMIT.upper()}\n")
    monkeypatch.setenv("GIT_BRANCH", "origin/feature-x")
    state = git_state(no_git)
    assert (state.commit, state.branch, state.dirty) == (COMMIT, "origin/feature-x", UNKNOWN)


@pytest.mark.parametrize("value", ["", "null", "${GIT_COMMIT}", "abc", "HEAD", "g" * 40])
def test_without_git_a_value_that_is_not_a_commit_hash_is_not_recorded(
    no_git: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("GIT_COMMIT", value)
    state = git_state(no_git)
    assert (state.commit, state.branch, state.dirty) == (UNKNOWN, UNKNOWN, UNKNOWN)


def test_with_git_the_repository_wins_over_GIT_COMMIT(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIT_COMMIT is only a fallback: a real checkout reports its own HEAD and dirty flag."""
    repo = tmp_path / "repo"
    repo.mkdir()
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    git = ["git", "-C", str(repo)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (repo / "f.txt").write_text("a\n")
    subprocess.run([*git, "add", "f.txt"], check=True)
    subprocess.run([*git, *ident, "commit", "-q", "-m", "c"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    for var in ("GIT_BRANCH", "BRANCH_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_COMMIT", COMMIT)
    state = git_state(repo)
    assert (state.commit, state.branch, state.dirty) == (head, "main", "false")
    (repo / "f.txt").write_text("b\n")
    assert git_state(repo).dirty == "true"
