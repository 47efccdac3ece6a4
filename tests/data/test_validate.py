"""`mlci data validate` and `validate_dataset` against real Great Expectations."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ml.config import load_settings
from ml.data.dataset import resolve_dataset
from ml.validate import load_contract, validate_dataset
from tests.conftest import REPO
from tests.data.conftest import BUNDLED
from tests.data.corruptions import CORRUPTIONS

CONTRACT = load_contract(REPO / "data/contract/churn.yaml")
CHECKS = len(CONTRACT.expectations) + 1  # + "file is a readable CSV"


def junit_cases(path: Path) -> list[ET.Element]:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return root.findall("./testsuite/testcase")


@pytest.mark.parametrize("version", ["2025Q1", "2025Q2"])
def test_bundled_snapshots_pass(mlci, tmp_path: Path, version: str):
    out = tmp_path / "v"
    result = mlci("data", "validate", version, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"data {version} (md5 " in result.stdout
    assert f"20000 rows): {CHECKS}/{CHECKS} checks passed" in result.stdout
    assert "FAIL" not in result.stdout
    cases = junit_cases(out / "junit.xml")
    assert len(cases) == CHECKS
    assert {c.get("classname") for c in cases} == {f"data.{version}"}
    assert [c.get("name") for c in cases][:3] == [
        "file is a readable CSV",
        "columns match the contract exactly",
        "row count at least 1000",
    ]
    assert "monthly_charges between 18 and 120" in [c.get("name") for c in cases]
    assert not any(c.find("failure") is not None for c in cases)
    doc = json.loads((out / "result.json").read_text())
    assert doc["success"] is True
    assert doc["dataset"]["version"] == version
    assert doc["statistics"] == {
        "expectations": CHECKS,
        "passed": CHECKS,
        "failed": 0,
        "not_evaluated": 0,
    }
    assert "# Data validation PASSED" in (out / "report.md").read_text()


def test_default_dataset_and_out_dir(mlci, data_project: Path):
    result = mlci("data", "validate")
    assert result.exit_code == 0, result.output
    assert "data 2025Q1 (md5 da1e406eaf61a353d693ed9882126cc7, 20000 rows)" in result.stdout
    assert (data_project.parent / "build/validate/junit.xml").is_file()


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corruption_fails_with_named_message(mlci, tmp_path: Path, bundled_q1: bytes, name: str):
    build, messages = CORRUPTIONS[name]
    bad = tmp_path / f"{name}.csv"
    bad.write_bytes(build(bundled_q1))
    out = tmp_path / "out"
    result = mlci("data", "validate", str(bad), "--out", str(out))
    assert result.exit_code == 1, result.output
    for text in messages:
        assert text in result.stdout, f"{text!r} not in:\n{result.stdout}"
    assert f"Error: dataset {name} broke its data contract:" in result.output
    # Reports exist even for an unreadable file, and JUnit marks exactly the failures.
    doc = json.loads((out / "result.json").read_text())
    assert doc["success"] is False
    failed = [e for e in doc["expectations"] if e["status"] == "failed"]
    assert failed and all(e["message"] for e in failed)
    cases = junit_cases(out / "junit.xml")
    assert len(cases) == CHECKS
    failures = [c for c in cases if c.find("failure") is not None]
    assert [c.find("failure").get("message") for c in failures] == [e["message"] for e in failed]
    assert messages[0] in "\n".join(c.find("failure").get("message") for c in failures)


def test_unreadable_file_reports_not_evaluated_expectations(mlci, tmp_path: Path):
    bad = tmp_path / "empty.csv"
    bad.write_bytes(b"")
    result = mlci("data", "validate", str(bad), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "FAIL (file): file is a readable CSV: file is empty" in result.stdout
    cases = junit_cases(tmp_path / "out/junit.xml")
    assert cases[0].get("name") == "file is a readable CSV"
    assert cases[0].find("failure") is not None
    assert all(c.find("skipped") is not None for c in cases[1:])


def test_missing_file_is_an_input_error(mlci, tmp_path: Path):
    missing = tmp_path / "nope.csv"
    result = mlci("data", "validate", str(missing))
    assert result.exit_code == 2
    assert result.output.endswith(
        f"Error: {missing}: dataset not found, and no nope.csv.dvc records such a version "
        f"(DVC-tracked versions in {BUNDLED}: 2025Q1, 2025Q2); pass a version name such as "
        f"'2025Q1' or a path to a CSV file, or add a version with "
        f"`mlci data add PATH --version NAME`\n"
    )
    assert not (tmp_path / "build").exists()


def test_unknown_version_is_an_input_error(mlci):
    result = mlci("data", "validate", "1999Q9")
    assert result.exit_code == 2
    assert "1999Q9.csv: dataset not found" in result.output


def test_json_output(mlci, tmp_path: Path):
    result = mlci("data", "validate", "2025Q2", "--out", str(tmp_path), "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["dataset"]["digest"] == "879939f7e73a15c03a3ccefd66edfd0b"
    nulls = next(e for e in doc["expectations"] if e["title"] == "total_charges at most 5% null")
    assert nulls["unexpected_count"] == 250 and nulls["element_count"] == 20000


def test_library_api_never_raises_on_failure(data_project: Path, tmp_path: Path, bundled_q1: bytes):
    settings = load_settings(data_project, environ={})
    bad = tmp_path / "labels.csv"
    bad.write_bytes(CORRUPTIONS["invalid_label"][0](bundled_q1))
    report = validate_dataset(settings, resolve_dataset(settings, bad), tmp_path / "out")
    assert report.success is False
    assert report.dataset.path == bad
    assert [f.column for f in report.failures] == ["churned"]
    assert (
        "column 'churned' has 2 values not in the allowed set [0, 1]" in report.failures[0].message
    )
    assert set(report.outputs) == {"junit", "markdown", "json"}
    assert all(p.is_file() for p in report.outputs.values())
