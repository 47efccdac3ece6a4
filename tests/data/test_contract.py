"""The contract file and `mlci data contract`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml.errors import InputError
from ml.validate import load_contract
from tests.conftest import REPO

CONTRACT = load_contract(REPO / "data/contract/churn.yaml")


def test_every_expectation_names_its_risk():
    assert len(CONTRACT.expectations) >= 25
    assert all(e.risk and e.meta.get("why") for e in CONTRACT.expectations)
    risks = {e.risk for e in CONTRACT.expectations}
    assert {
        "schema / data leak",
        "label range",
        "nulls",
        "range",
        "unknown category",
        "dtype",
    } <= risks


def test_contract_text_lists_each_expectation_with_risk(mlci):
    r = mlci("data", "contract")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0] == (
        f"contract churn ({REPO / 'data/contract/churn.yaml'}): "
        f"{len(CONTRACT.expectations)} expectations"
    )
    assert len(lines) == len(CONTRACT.expectations) + 1
    assert any(
        line.split() == ["churned", "in", "{0,", "1}", "#", "label", "range"] for line in lines
    )


def test_contract_json(mlci):
    r = mlci("data", "contract", "--json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert [e["title"] for e in doc["expectations"]] == [e.title for e in CONTRACT.expectations]
    between = next(
        e for e in doc["expectations"] if e["title"] == "monthly_charges between 18 and 120"
    )
    assert between == {
        "title": "monthly_charges between 18 and 120",
        "type": "expect_column_values_to_be_between",
        "column": "monthly_charges",
        "kwargs": {"column": "monthly_charges", "min_value": 18, "max_value": 120},
        "risk": "range",
        "why": between["why"],
    }


def test_entry_without_risk_is_rejected(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "expectations:\n  - type: expect_column_values_to_be_unique\n    kwargs: {column: id}\n"
    )
    with pytest.raises(InputError) as e:
        load_contract(path)
    assert str(e.value) == (
        f"{path}: expectations[0] (expect_column_values_to_be_unique): meta.risk is missing; "
        f"name the risk this expectation guards (schema, data leak, label range, ...)"
    )


def test_missing_contract_file_exits_2(
    mlci, data_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("MLCI_DATA__CONTRACT", str(tmp_path / "none.yaml"))
    r = mlci("data", "contract")
    assert r.exit_code == 2
    assert r.output == (
        f"Error: {tmp_path / 'none.yaml'}: data contract not found "
        f"(set data.contract in mlci.yaml)\n"
    )


def test_expectation_gx_rejects_is_an_input_error(
    mlci, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    text = (REPO / "data/contract/churn.yaml").read_text()
    bad = tmp_path / "typo.yaml"
    bad.write_text(
        text.replace(
            "{column: tenure_months, min_value: 0, max_value: 72}",
            "{column: tenure_months, min_vlaue: 0, max_value: 72}",
        )
    )
    monkeypatch.setenv("MLCI_DATA__CONTRACT", str(bad))
    r = mlci("data", "validate", "--out", str(tmp_path / "out"))
    assert r.exit_code == 2
    assert r.output.splitlines()[-1].startswith(
        f"Error: {bad}: expectations[19] (expect_column_values_to_be_between): Great "
        f"Expectations rejects it: "
    )
    assert "min_vlaue" in r.output
    assert not (tmp_path / "out").exists()
