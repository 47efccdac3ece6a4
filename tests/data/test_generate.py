"""The snapshot generator: deterministic bytes, the bundled files reproducible, CLI options."""

from __future__ import annotations

from pathlib import Path

from ml.data.dataset import file_digest
from ml.data.generate import write_snapshot
from tests.data.conftest import BUNDLED


def test_same_arguments_give_identical_bytes(mlci, tmp_path: Path):
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    for out, seed in ((a, "7"), (b, "7"), (c, "8")):
        r = mlci(
            "data",
            "generate",
            "--version",
            "2025Q2",
            "--rows",
            "3000",
            "--seed",
            seed,
            "--out",
            str(out),
        )
        assert r.exit_code == 0, r.output
        assert r.stdout == f"{out}  3000 rows  md5 {file_digest(out)}\n"
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_bundled_snapshots_are_reproducible(mlci, tmp_path: Path):
    for version in ("2025Q1", "2025Q2"):
        out = tmp_path / f"{version}.csv"
        r = mlci("data", "generate", "--version", version, "--out", str(out))
        assert r.exit_code == 0, r.output
        assert file_digest(out) == file_digest(BUNDLED / f"{version}.csv")


def test_default_output_paths(mlci, data_project: Path, tmp_path: Path):
    r = mlci("data", "generate", "--rows", "1200", "--seed", "1")
    assert r.exit_code == 0, r.output
    assert (data_project.parent / "data/generated/churn-2025Q1-1200.csv").is_file()


def test_chunked_writing_reports_progress_and_leaves_no_part_file(tmp_path: Path):
    seen: list[tuple[int, int]] = []
    path = write_snapshot(
        tmp_path / "x.csv",
        2500,
        3,
        "2025Q1",
        chunk_rows=1000,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(1000, 2500), (2000, 2500), (2500, 2500)]
    assert path.read_text().count("\n") == 2501
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]


def test_unknown_profile_is_an_input_error(mlci):
    r = mlci("data", "generate", "--version", "2031Q4")
    assert r.exit_code == 2
    assert r.output == (
        "Error: --version '2031Q4': unknown profile; expected one of 2025Q1, 2025Q2\n"
    )
