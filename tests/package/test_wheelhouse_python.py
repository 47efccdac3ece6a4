"""Issue 13 (found on the way): image builds work from an activated uv venv, which has no pip.

scripts/build-wheelhouse.sh picks a CPython 3.11 with pip deliberately instead of the first
python3 on PATH. Offline: pip reads the checkout's wheelhouse (PIP_NO_INDEX/PIP_FIND_LINKS).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.package.conftest import WHEELHOUSE

SCRIPT = REPO / "scripts" / "build-wheelhouse.sh"


def _pin(name: str) -> str:
    lock = (REPO / "locks" / "requirements.txt").read_text().splitlines()
    return next(line for line in lock if line.lower().startswith(f"{name}=="))


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    lock = tmp_path / "lock.txt"
    lock.write_text(_pin("click") + "\n")
    venv = Path(sys.prefix)  # this test's interpreter: a uv venv, no pip
    base = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    activated = {
        **base,
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(WHEELHOUSE),
        "MLCI_STATE_DIR": str(tmp_path / "state"),
        **env,
    }
    return subprocess.run(
        ["bash", str(SCRIPT), str(lock), str(tmp_path / "out")],
        env=activated,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module", autouse=True)
def _wheelhouse() -> None:
    if not any(WHEELHOUSE.glob("click-*.whl")):
        from tests.package.conftest import _filled_wheelhouse

        _filled_wheelhouse()


def test_activated_venv_without_pip_still_builds_the_wheelhouse(tmp_path):
    no_pip = subprocess.run([sys.executable, "-c", "import pip"], capture_output=True)
    assert no_pip.returncode != 0, "precondition: the test venv has no pip (uv venv)"
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in (tmp_path / "out").glob("*.whl")] == [
        next(WHEELHOUSE.glob("click-*.whl")).name
    ]
    used = proc.stderr.split(" with ", 1)[1].split(" ...", 1)[0]
    assert Path(used).resolve() != Path(sys.executable).resolve()


def test_a_python_without_pip_named_by_PYTHON_is_a_clear_error(tmp_path):
    proc = _run(tmp_path, PYTHON=sys.executable)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"build-wheelhouse: ERROR: PYTHON={sys.executable} must be CPython 3.11 on Linux "
        "(the images' platform) with pip"
    )
    assert not (tmp_path / "out").exists()
