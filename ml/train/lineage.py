"""Facts that make a run traceable: git commit/branch/dirty and the hash of the dependency lock."""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

UNKNOWN = "unknown"
_COMMIT_RE = re.compile(r"[0-9a-f]{7,64}")  # abbreviated to full SHA-1/SHA-256 object names
LOCK_FILE = Path("locks/requirements.txt")
# The mlci source tree: the code that trains, when the project folder is not itself a checkout.
SOURCE_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class GitState:
    commit: str
    branch: str
    dirty: str  # "true" | "false" | "unknown"


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(root: Path) -> GitState:
    """The commit, branch and dirty flag of the repo holding `root` (else of the mlci source
    tree); "unknown" outside any repo.

    Jenkins checks out a detached HEAD, so BRANCH_NAME / GIT_BRANCH from the environment win
    over `git rev-parse --abbrev-ref` when set. Without git (the stage image) the commit comes
    from $GIT_COMMIT when it is a commit hash, with dirty "unknown".
    """
    import os

    commit = _git(root, "rev-parse", "HEAD")
    if commit is None and root != SOURCE_ROOT:
        root = SOURCE_ROOT
        commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        # No git here (the stage image has none) or no repository: Jenkins and the docker
        # executor pass the checkout's commit as GIT_COMMIT. Whether the tree was modified
        # cannot be told without git, so dirty stays "unknown".
        env_commit = os.environ.get("GIT_COMMIT", "").strip().lower()
        branch = os.environ.get("BRANCH_NAME") or os.environ.get("GIT_BRANCH") or UNKNOWN
        if _COMMIT_RE.fullmatch(env_commit):
            return GitState(env_commit, branch, UNKNOWN)
        return GitState(UNKNOWN, branch, UNKNOWN)
    branch = (
        os.environ.get("BRANCH_NAME")
        or os.environ.get("GIT_BRANCH")
        or _git(root, "rev-parse", "--abbrev-ref", "HEAD")
        or UNKNOWN
    )
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    dirty = UNKNOWN if status is None else str(bool(status)).lower()
    return GitState(commit, branch, dirty)


def lock_hash(root: Path) -> str:
    """sha256 of locks/requirements.txt (the runtime dependency lock), or "unknown".

    Looked up in the project root, then in the running mlci (its checkout or the lock shipped
    in its wheel, ml.resources).
    """
    from ml import resources

    for folder in (root, resources.root()):
        try:
            return hashlib.sha256((folder / LOCK_FILE).read_bytes()).hexdigest()
        except OSError:
            continue
    return UNKNOWN
