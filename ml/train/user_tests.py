"""The project's own model tests: pytest on `evaluate.tests`, the pipeline's `test` stage.

The tests run in a child `python -m pytest` from the project root (so they import the user's
own modules as the estimator factory does), with MLCI_CONFIG pointing at the project's
mlci.yaml, and leave JUnit XML in build/test/junit.xml for Jenkins.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ml.config import Settings
from ml.errors import ConfigError, GateFailed

JUNIT = Path("test/junit.xml")


@dataclass(frozen=True)
class UserTestResult:
    folder: Path
    exit_code: int
    junit: Path


def run_user_tests(
    settings: Settings,
    config_path: Path | None = None,
    say: Callable[[str], None] = lambda _m: None,
) -> UserTestResult:
    """Run pytest on `evaluate.tests`; GateFailed (exit 1) when a test fails."""
    if settings.evaluate.tests is None:
        raise ConfigError(
            "evaluate.tests: not set; name the folder of your model tests in mlci.yaml"
        )
    folder = settings.path(settings.evaluate.tests)
    if not folder.is_dir():
        raise ConfigError(f"evaluate.tests: {folder} is not a folder")
    junit = settings.build_dir / JUNIT
    junit.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["MLCI_CONFIG"] = str(config_path or settings.root / "mlci.yaml")
    say(f"test: pytest {folder}")
    code = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(folder),
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            f"--rootdir={settings.root}",
        ],
        cwd=settings.root,
        env=env,
    ).returncode
    if code == 5:  # pytest: no tests collected
        raise ConfigError(f"evaluate.tests: no tests found in {folder}")
    if code != 0:
        raise GateFailed(f"the project's model tests in {folder} failed (see {junit})")
    return UserTestResult(folder, code, junit)
