"""DVC agrees with mlci on a snapshot's digest; the committed .dvc records match the files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from ml.data.dataset import file_digest
from ml.data.dvc import dvc_md5, write_dvc_file
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
