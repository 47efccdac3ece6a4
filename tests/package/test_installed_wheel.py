"""Issue 14 items 1 and 6: mlci installed from its wheel in a fresh venv, used in a project
folder outside this repository (`mlci init` on a CSV, then `mlci pipeline run`, locally and
with `--executor docker` in a stage image built from that installed wheel)."""

from __future__ import annotations

import json
import shutil
import tarfile
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from ml import resources
from tests.conftest import REPO
from tests.package.conftest import WHEELHOUSE, Dist, InstalledVenv

pytestmark = pytest.mark.slow


def _shipped_in_repo() -> list[str]:
    out: list[str] = []
    for rel in resources.SHIPPED:
        path = REPO / rel
        files = sorted(path.rglob("*.xml")) if path.is_dir() else [path]
        out += [p.relative_to(REPO).as_posix() for p in files]
    return sorted(out)


def test_wheel_and_sdist_carry_the_runtime_files(dist: Dist):
    with zipfile.ZipFile(dist.wheel) as zf:
        names = set(zf.namelist())
        lock = zf.read("ml/_resources/locks/requirements.txt")
    with tarfile.open(dist.sdist) as tf:
        top = tf.getnames()[0].split("/")[0]
        in_sdist = {n.removeprefix(f"{top}/") for n in tf.getnames()}
    expected = _shipped_in_repo()
    assert [rel for rel in expected if f"ml/_resources/{rel}" not in names] == []
    assert [rel for rel in expected if rel not in in_sdist] == []
    assert lock == (REPO / "locks" / "requirements.txt").read_bytes()
    assert not any("__pycache__" in n or n.startswith(("tests/", "ml/_resources/.")) for n in names)


def _breast_cancer_csv(path: Path) -> Path:
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame = frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame["diagnosis"] = np.where(frame.pop("target") == 0, "malignant", "benign")
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def outside_project(installed: InstalledVenv, tmp_path_factory) -> tuple[Path, float]:
    """`mlci init` in a folder outside the repository, with the installed mlci."""
    root = tmp_path_factory.mktemp("team-repo") / "tumours"
    root.mkdir()
    csv = _breast_cancer_csv(root.parent / "tumours.csv")
    start = time.monotonic()
    proc = installed.run("mlci", "init", "--data", str(csv), "--target", "diagnosis", cwd=root)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return root, time.monotonic() - start


def test_installed_mlci_is_the_wheel_not_the_checkout(installed: InstalledVenv, tmp_path):
    proc = installed.run(
        "python",
        "-c",
        "import ml, ml.resources as r; print(ml.__file__); print(r.root())",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    package, root = proc.stdout.split()
    assert Path(package).is_relative_to(installed.root) and not Path(package).is_relative_to(REPO)
    assert Path(root) == Path(package).parent / "_resources"
    lock = installed.run("mlci", "resources", cwd=tmp_path)
    assert lock.returncode == 0, lock.stderr
    assert Path(lock.stdout.strip()).read_bytes() == (REPO / "locks/requirements.txt").read_bytes()


def test_repacked_wheel_has_the_installed_files(installed: InstalledVenv, dist: Dist, tmp_path):
    """The stage image gets the installed mlci back as a wheel: same files, same bytes."""
    code = (
        "import sys; from pathlib import Path; from ml.image.mlci_wheel import mlci_wheel; "
        "print(mlci_wheel(Path(sys.argv[1])))"
    )
    proc = installed.run("python", "-c", code, str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(proc.stdout.strip()) as a, zipfile.ZipFile(dist.wheel) as b:
        skip = {n for n in b.namelist() if n.endswith("/RECORD")}
        assert sorted(set(a.namelist()) - skip) == sorted(set(b.namelist()) - skip)
        assert [n for n in b.namelist() if n not in skip and a.read(n) != b.read(n)] == []


def test_init_and_pipeline_run_outside_the_repository(installed: InstalledVenv, outside_project):
    root, init_seconds = outside_project
    assert (root / "requirements.txt").is_file()
    start = time.monotonic()
    proc = installed.run("mlci", "pipeline", "run", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    result = _last_json(proc.stdout)
    assert {s["name"]: s["status"] for s in result["stages"]}["train"] == "passed"
    assert [s["name"] for s in result["stages"] if s["status"] not in ("passed", "skipped")] == []
    metrics = json.loads((root / "build" / "evaluate" / "metrics.json").read_text())
    assert metrics["verdict"] == "passed"
    print(
        f"\noutside project: pip install {installed.seconds}s, init {init_seconds:.1f}s, "
        f"pipeline run {time.monotonic() - start:.1f}s"
    )


@pytest.mark.docker
def test_stage_image_and_docker_executor_from_the_installed_wheel(
    installed: InstalledVenv, outside_project, docker_client, tmp_path
):
    """`mlci pipeline ci-image` from the installed wheel, with the project's requirements.txt
    naming a package the lock does not have (a team's own wheel, offline), then every stage
    in that image with `--executor docker`."""
    root, _ = outside_project
    # A warm host cache, as on a CI node: the wheelhouse of the same lock (same hash stamp).
    cache = root / ".mlci" / "cache" / "wheelhouse"
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "requirements").exists():
        (cache / "requirements").symlink_to(WHEELHOUSE)
    extras = _team_wheel(tmp_path / "index")
    (root / "requirements.txt").write_text("# the team's extras\nteamextras==0.1.0\n")
    offline = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": f"{extras.parent} {WHEELHOUSE}"}
    tag = f"mlci-pkg-test/ci:{uuid.uuid4().hex[:10]}"
    try:
        start = time.monotonic()
        built = installed.run(
            "mlci", "pipeline", "ci-image", "--tag", tag, "--json", cwd=root, **offline
        )
        assert built.returncode == 0, built.stderr[-3000:]
        image = _last_json(built.stdout)
        assert image["image_id"].startswith("sha256:")
        assert image["mlci_wheel"].startswith("mlci-")
        assert image["requirements"] == str(root / "requirements.txt")
        build_seconds = time.monotonic() - start
        out = docker_client.containers.run(
            tag, ["python", "-c", "import teamextras; print(teamextras.VALUE)"], remove=True
        )
        assert out.decode().strip() == "extra-7d1c"
        shutil.rmtree(root / "build", ignore_errors=True)  # every output below is the image's
        start = time.monotonic()
        proc = installed.run(
            "mlci",
            "pipeline",
            "run",
            "--executor",
            "docker",
            "--no-cache",
            "--json",
            cwd=root,
            MLCI_IMAGE__CI_IMAGE=tag,
        )
        assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
        stages = {s["name"]: s["status"] for s in _last_json(proc.stdout)["stages"]}
        assert stages["train"] == stages["evaluate"] == "passed"
        metrics = json.loads((root / "build" / "evaluate" / "metrics.json").read_text())
        assert metrics["verdict"] == "passed"
        print(
            f"\noutside project: ci-image {build_seconds:.1f}s, "
            f"pipeline run --executor docker {time.monotonic() - start:.1f}s"
        )
    finally:
        docker_client.images.remove(tag, force=True) if _exists(docker_client, tag) else None


def _last_json(stdout: str) -> dict:
    """The `--json` document: the stages print their own lines before it."""
    start = 0 if stdout.startswith("{") else stdout.rindex("\n{") + 1
    return json.loads(stdout[start:])


def _exists(client, tag: str) -> bool:
    try:
        client.images.get(tag)
    except Exception:
        return False
    return True


def _team_wheel(folder: Path) -> Path:
    """A real, minimal wheel of a package the lock does not have (a team's own extra)."""
    import base64
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "teamextras/__init__.py": b"VALUE = 'extra-7d1c'\n",
        "teamextras-0.1.0.dist-info/METADATA": (
            b"Metadata-Version: 2.1\nName: teamextras\nVersion: 0.1.0\n"
        ),
        "teamextras-0.1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [
        f"{n},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},"
        f"{len(d)}"
        for n, d in files.items()
    ]
    files["teamextras-0.1.0.dist-info/RECORD"] = (
        "\n".join([*record, "teamextras-0.1.0.dist-info/RECORD,,"]) + "\n"
    ).encode()
    path = folder / "teamextras-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path
