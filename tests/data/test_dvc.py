"""DVC agrees with mlci on a snapshot's digest; the committed .dvc records match the files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from ml.data.dataset import file_digest
from ml.data.dvc import dvc_md5, write_dvc_file
from tests.conftest import REPO, write_project
from tests.data.conftest import BUNDLED

DVC = Path(sys.executable).with_name("dvc")


def test_real_dvc_records_the_dataset_digest(tmp_path: Path):
    shutil.copy(BUNDLED / "2025Q2.csv", tmp_path / "2025Q2.csv")
    subprocess.run([DVC, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    subprocess.run([DVC, "add", "-q", "2025Q2.csv"], cwd=tmp_path, check=True)
    recorded = (tmp_path / "2025Q2.csv.dvc").read_text()
    assert dvc_md5(tmp_path / "2025Q2.csv") == file_digest(tmp_path / "2025Q2.csv")
    # mlci writes the record exactly as DVC does, so a regenerated snapshot stays adoptable.
    write_dvc_file(tmp_path / "2025Q2.csv", file_digest(tmp_path / "2025Q2.csv"))
    assert (tmp_path / "2025Q2.csv.dvc").read_text() == recorded


def test_committed_dvc_records_match_the_snapshots(mlci):
    for version in ("2025Q1", "2025Q2"):
        r = mlci("data", "version", version, "--json")
        assert r.exit_code == 0, r.output
        info = json.loads(r.stdout)
        assert info["rows"] == 20000
        assert info["dvc_md5"] == info["digest"] == file_digest(BUNDLED / f"{version}.csv")
        assert info["dvc_matches"] is True


def test_stale_dvc_record_fails(mlci, tmp_path: Path):
    snap = tmp_path / "s.csv"
    shutil.copy(BUNDLED / "2025Q1.csv", snap)
    write_dvc_file(snap, "0" * 32)
    r = mlci("data", "version", str(snap))
    assert r.exit_code == 1
    assert f"dvc md5  {'0' * 32} (DIFFERS: run dvc add)" in r.stdout
    assert r.output.endswith(
        f"Error: {snap}: its .dvc file records md5 {'0' * 32} but the file's md5 is "
        f"{file_digest(snap)}; run `dvc add {snap}`\n"
    )


def test_untracked_file(mlci, tmp_path: Path):
    snap = tmp_path / "s.csv"
    snap.write_text("a,b\n1,2\n")
    r = mlci("data", "version", str(snap))
    assert r.exit_code == 0
    assert r.stdout == (
        f"version  s\npath     {snap}\ndigest   {file_digest(snap)}\n"
        f"rows     1\ndvc md5  no .dvc file\n"
    )


# --- dataset versions in a DVC remote ----------------------------------------------------------

REMOTE = REPO / "data" / "remote"


def dvc_project(root: Path, versions: tuple[str, ...] = ("2025Q1",)) -> Path:
    """A clone-like project: git + DVC, the .dvc records, the bundled remote's objects, and no
    CSV in the working tree (what a fresh clone holds). Returns its mlci.yaml."""
    snaps = root / "data" / "snapshots"
    snaps.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".dvc").mkdir()
    shutil.copy(REPO / ".dvc" / "config", root / ".dvc" / "config")
    for v in versions:
        shutil.copy(BUNDLED / f"{v}.csv.dvc", snaps / f"{v}.csv.dvc")
        md5 = dvc_md5(BUNDLED / f"{v}.csv")
        obj = Path("files/md5") / md5[:2] / md5[2:]
        (root / "data/remote" / obj).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REMOTE / obj, root / "data/remote" / obj)
    cfg = write_project(root)
    doc = cfg.read_text().replace(str(BUNDLED), "data/snapshots")
    cfg.write_text(doc)
    return cfg


def run_cli(cfg: Path, *args: str):
    from click.testing import CliRunner

    from ml.cli import cli

    return CliRunner().invoke(cli, ["--config", str(cfg), *args])


def test_bundled_remote_holds_every_committed_version():
    records = sorted(BUNDLED.glob("*.csv.dvc"))
    assert [r.name for r in records] == ["2025Q1.csv.dvc", "2025Q2.csv.dvc"]
    for record in records:
        md5 = dvc_md5(record.with_suffix(""))
        assert file_digest(REMOTE / "files" / "md5" / md5[:2] / md5[2:]) == md5
    # The CSVs themselves are not in git: DVC owns them.
    tracked = subprocess.run(
        ["git", "ls-files", "data/snapshots"], cwd=REPO, capture_output=True, text=True
    ).stdout.split()
    assert "data/snapshots/2025Q1.csv" not in tracked
    assert "data/snapshots/2025Q1.csv.dvc" in tracked


def test_a_stage_fetches_the_version_it_asks_for(tmp_path: Path):
    cfg = dvc_project(tmp_path / "p")
    csv = tmp_path / "p/data/snapshots/2025Q1.csv"
    assert not csv.exists()
    r = run_cli(cfg, "data", "validate", "2025Q1", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["dataset"]["digest"] == file_digest(BUNDLED / "2025Q1.csv")
    assert csv.read_bytes() == (BUNDLED / "2025Q1.csv").read_bytes()


def test_a_working_file_edited_behind_dvc_is_refused(tmp_path: Path):
    cfg = dvc_project(tmp_path / "p")
    csv = tmp_path / "p/data/snapshots/2025Q1.csv"
    csv.write_bytes((BUNDLED / "2025Q1.csv").read_bytes().replace(b"C", b"D", 1))
    r = run_cli(cfg, "data", "validate", "2025Q1")
    assert r.exit_code == 2
    assert f"Error: {csv}: its bytes (md5 {file_digest(csv)}) are not the version" in r.output


def test_data_add_pushes_a_version_whose_name_digest_and_remote_agree(tmp_path: Path):
    cfg = dvc_project(tmp_path / "p")
    src = tmp_path / "new.csv"
    src.write_bytes((BUNDLED / "2025Q1.csv").read_bytes()[:200_000].rsplit(b"\n", 1)[0] + b"\n")
    md5 = file_digest(src)
    r = run_cli(cfg, "data", "add", str(src), "--version", "2025Q3", "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert (info["version"], info["digest"], info["remote"], info["created"]) == (
        "2025Q3",
        md5,
        "bundled",
        True,
    )
    snap = tmp_path / "p/data/snapshots/2025Q3.csv"
    assert dvc_md5(snap) == md5
    assert file_digest(tmp_path / "p/data/remote/files/md5" / md5[:2] / md5[2:]) == md5
    assert "/2025Q3.csv" in (snap.parent / ".gitignore").read_text().split()
    # Same bytes again: nothing new; other bytes under the same name: refused.
    again = run_cli(cfg, "data", "add", str(src), "--version", "2025Q3", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["created"] is False
    other = tmp_path / "other.csv"
    other.write_bytes(src.read_bytes() + b"")
    other.write_bytes(src.read_bytes().replace(b"\n", b"\r\n", 1))
    clash = run_cli(cfg, "data", "add", str(other), "--version", "2025Q3")
    assert clash.exit_code == 2
    assert clash.output == (
        f"Error: dataset version '2025Q3' already exists with md5 {md5} "
        f"({snap}.dvc); {other} has md5 {file_digest(other)}: choose a new version name\n"
    )
    bad = run_cli(cfg, "data", "add", str(src), "--version", "../x")
    assert bad.exit_code == 2 and "dataset version '../x': not a valid name" in bad.output


def test_a_version_that_does_not_exist(tmp_path: Path):
    cfg = dvc_project(tmp_path / "p")
    r = run_cli(cfg, "data", "validate", "2031Q1")
    assert r.exit_code == 2
    assert "2031Q1.csv: dataset not found, and no 2031Q1.csv.dvc records such a version" in (
        r.output
    )
    assert "DVC-tracked versions in" in r.output and ": 2025Q1)" in r.output


def test_a_record_whose_remote_lacks_the_data(tmp_path: Path):
    cfg = dvc_project(tmp_path / "p")
    shutil.rmtree(tmp_path / "p/data/remote")
    md5 = dvc_md5(BUNDLED / "2025Q1.csv")
    r = run_cli(cfg, "train")
    assert r.exit_code == 2
    assert f"DVC remote 'bundled' ({tmp_path / 'p/data/remote'}) has no object for md5 {md5}" in (
        r.output
    )
    assert not (tmp_path / "p/.mlci/mlflow.db").exists()  # nothing recorded


def test_a_remote_that_is_down(tmp_path: Path):
    import socket

    cfg = dvc_project(tmp_path / "p")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}/dvc"
    env = {"MLCI_DVC__REMOTE": "team", "MLCI_DVC__URL": url}
    from click.testing import CliRunner

    from ml.cli import cli

    r = CliRunner().invoke(cli, ["--config", str(cfg), "data", "validate"], env=env)
    assert r.exit_code == 4, r.output
    assert f"Error: DVC remote 'team' ({url}) cannot be reached:" in r.output
