"""`mlci init`: profiling, task inference, refusals, bad input, and the files it writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from ml.cli import cli
from ml.project.contract_writer import numeric_range
from ml.project.profile import profile_csv


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in [v for v in os.environ if v.startswith("MLCI_")]:
        monkeypatch.delenv(var)
    proj = tmp_path / "proj"
    proj.mkdir()
    monkeypatch.chdir(proj)
    return proj


def mixed(rows: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    x = rng.normal(50, 10, rows).round(2)
    score = (x - 50) / 10 + (plan == "pro") * 1.5 + rng.normal(0, 0.5, rows)
    return pd.DataFrame(
        {
            "user_id": [f"U{i:05d}" for i in range(rows)],
            "age": rng.integers(18, 80, rows),
            "spend": np.where(rng.random(rows) < 0.05, np.nan, x),
            "plan": plan,
            "label": np.where(score > 1.0, "yes", "no"),
        }
    )


def write(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path


def init(*args: str):
    return CliRunner().invoke(cli, ["init", *args], catch_exceptions=False)


def test_task_inference_rules(tmp_path: Path):
    rng = np.random.default_rng(0)
    n = 300
    base = {"a": rng.normal(size=n), "b": rng.choice(["x", "y"], n)}
    cases = {
        "text2": (rng.choice(["no", "yes"], n, p=(0.7, 0.3)), "binary"),
        "int2": (rng.choice([0, 1], n), "binary"),
        "int3": (rng.choice([0, 1, 2], n), "multiclass"),
        "text4": (rng.choice(list("abcd"), n), "multiclass"),
        "float": (rng.normal(size=n), "regression"),
        "int_many": (rng.integers(0, 300, n), "regression"),
    }
    for name, (values, task) in cases.items():
        path = write(pd.DataFrame({**base, "y": values}), tmp_path / f"{name}.csv")
        p = profile_csv(path, "y")
        assert p.task == task, (name, p.task_reason)
    p = profile_csv(tmp_path / "text2.csv", "y")
    assert p.positive_class == "yes"  # the minority class
    assert p.numeric == ["a"] and p.categorical == ["b"]


def test_id_detection(tmp_path: Path):
    df = mixed()
    p = profile_csv(write(df, tmp_path / "m.csv"), "label")
    assert p.id_column == "user_id"
    assert "user_id" not in p.numeric + p.categorical
    # a column named id that repeats is not an ID: it stays a feature
    df2 = df.drop(columns="user_id").assign(id=np.arange(len(df)) % 7)
    p2 = profile_csv(write(df2, tmp_path / "m2.csv"), "label")
    assert p2.id_column is None and "id" in p2.numeric
    # no ID at all
    p3 = profile_csv(write(df.drop(columns="user_id"), tmp_path / "m3.csv"), "label")
    assert p3.id_column is None


def test_ranges_have_a_margin_and_keep_signs(tmp_path: Path):
    df = pd.DataFrame({"n": [0, 10, 100] * 4, "f": [-1.5, 0.0, 2.5] * 4, "y": [0, 1] * 6})
    p = profile_csv(write(df, tmp_path / "r.csv"), "y", task="binary")
    assert numeric_range(p.column("n")) == (0, 110)  # non-negative stays non-negative
    assert numeric_range(p.column("f")) == (-1.9, 2.9)


@pytest.mark.parametrize(
    "case, args, needle",
    [
        ("missing", ["--data", "nope.csv", "--target", "y"], "nope.csv: CSV file not found"),
        ("not a column", ["--target", "nope"], "--target 'nope': not a column of"),
        ("empty", ["--target", "y"], "file is empty"),
        ("header only", ["--target", "y"], "no data rows"),
        ("single valued", ["--target", "y"], "every row of"),
        ("null labels", ["--target", "y"], "have no label"),
        ("id not unique", ["--target", "y", "--id", "b"], "--id 'b': an ID must be unique"),
        ("binary on 3", ["--target", "y", "--task", "binary"], "has 3 distinct values, not 2"),
        ("regression on text", ["--target", "b", "--task", "regression"], "is not numeric"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(folder: Path, tmp_path: Path, case, args, needle):
    rng = np.random.default_rng(1)
    n = 60
    frames = {
        "single valued": pd.DataFrame({"a": rng.normal(size=n), "y": 1}),
        "null labels": pd.DataFrame({"a": rng.normal(size=n), "y": [1, None] * (n // 2)}),
        "binary on 3": pd.DataFrame({"a": rng.normal(size=n), "y": [0, 1, 2] * (n // 3)}),
    }
    csv = tmp_path / "in.csv"
    if case == "empty":
        csv.write_text("")
    elif case == "header only":
        csv.write_text("a,y\n")
    else:
        default = pd.DataFrame(
            {"a": rng.normal(size=n), "b": ["u", "v"] * (n // 2), "y": [0, 1] * (n // 2)}
        )
        frames.get(case, default).to_csv(csv, index=False)
    if "--data" not in args:
        args = ["--data", str(csv), *args]
    result = init(*args)
    assert result.exit_code == 2, result.output
    assert needle in result.output, result.output
    assert list(folder.iterdir()) == []


def test_refuses_to_overwrite_naming_each_file(folder: Path, tmp_path: Path):
    csv = write(mixed(), tmp_path / "m.csv")
    (folder / "mlci.yaml").write_text("project: mine\n")
    contract = folder / "data" / "contract" / "proj.yaml"
    contract.parent.mkdir(parents=True)
    contract.write_text("name: mine\n")
    result = init("--data", str(csv), "--target", "label")
    assert result.exit_code == 2, result.output
    assert "refusing to overwrite" in result.output
    assert str(folder / "mlci.yaml") in result.output and str(contract) in result.output
    assert "--force" in result.output
    assert (folder / "mlci.yaml").read_text() == "project: mine\n"
    assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == ["mlci.yaml", "proj.yaml"]


@pytest.mark.slow
def test_writes_a_project_that_loads_and_validates(folder: Path, tmp_path: Path):
    from ml.config import load_settings
    from ml.validate.contract import load_settings_contract

    csv = write(mixed(), tmp_path / "m.csv")
    result = init("--data", str(csv), "--target", "label")
    assert result.exit_code == 0, result.output
    settings = load_settings(folder / "mlci.yaml")
    assert settings.project == "proj"
    assert settings.train.task == "binary" and settings.train.positive_class == "yes"
    assert settings.data.id_column == "user_id"
    assert settings.data.features.numeric == ["age", "spend"]
    assert settings.data.features.categorical == ["plan"]
    snap = settings.dataset_path()
    assert snap.read_bytes() == csv.read_bytes()
    assert snap.parent == folder / "data" / "snapshots"
    assert (snap.parent / f"{snap.name}.dvc").is_file()
    # ...a DVC-tracked version: its bytes in the project's local DVC remote, the CSV git-ignored
    from ml.data.dvc import dvc_md5

    md5 = dvc_md5(snap)
    assert (folder / "data/remote/files/md5" / md5[:2] / md5[2:]).read_bytes() == csv.read_bytes()
    assert f"/{snap.name}" in (snap.parent / ".gitignore").read_text().split()
    # bounds sit strictly between the dummy's score and the model's
    assert 0.5 < settings.evaluate.min["roc_auc"] < 1.0
    assert settings.evaluate.max["log_loss"] > 0
    contract = load_settings_contract(settings)
    kinds = {(e.type, e.column) for e in contract.expectations}
    assert ("expect_column_values_to_be_unique", "user_id") in kinds
    assert ("expect_column_values_to_be_in_set", "plan") in kinds
    assert ("expect_column_values_to_be_between", "age") in kinds
    assert all(e.risk and e.meta.get("why") for e in contract.expectations)
    spend_nulls = next(
        e for e in contract.expectations
        if e.type == "expect_column_values_to_not_be_null" and e.column == "spend"
    )  # fmt: skip
    assert 0.8 < spend_nulls.kwargs["mostly"] < 0.95  # ~5% empty: up to twice that + 1%
    doc = yaml.safe_load((folder / "mlci.yaml").read_text())
    assert doc["ct"]["drift"]["sample_size"] == 5000
    # a second run refuses, --force rewrites
    again = init("--data", str(csv), "--target", "label")
    assert again.exit_code == 2 and "mlci.yaml" in again.output
    forced = init("--data", str(csv), "--target", "label", "--name", "Other Name", "--force")
    assert forced.exit_code == 0, forced.output
    assert load_settings(folder / "mlci.yaml").project == "other-name"
