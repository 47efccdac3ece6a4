"""The data contract: a reviewable YAML file of Great Expectations expectations.

The file (`data.contract` in mlci.yaml) holds a GX expectation suite in GX's own vocabulary
(`type`, `kwargs`, `meta`), so it can be handed to GX unchanged, plus a `meta.risk` on every entry
naming what it protects against. This module reads and checks the file and gives each
expectation a readable title (used as the JUnit testcase name); it does not import GX.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ml.config import Settings
from ml.errors import InputError

REQUIRED_KEYS = {"type", "kwargs"}


@dataclass(frozen=True)
class ContractExpectation:
    """One expectation of the contract, as written in the file."""

    type: str
    kwargs: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")

    @property
    def risk(self) -> str:
        return str(self.meta.get("risk", ""))

    @property
    def title(self) -> str:
        """A short sentence for reports and JUnit, e.g. `monthly_charges between 18 and 120`."""
        if "title" in self.meta:
            return str(self.meta["title"])
        k = self.kwargs
        col = k.get("column", "")
        t = self.type
        if t == "expect_table_columns_to_match_set":
            return "columns match the contract" + (" exactly" if k.get("exact_match") else "")
        if t == "expect_table_row_count_to_be_between":
            return "row count " + _bounds(k.get("min_value"), k.get("max_value"))
        if t == "expect_column_to_exist":
            return f"{col} exists"
        if t == "expect_column_values_to_not_be_null":
            mostly = k.get("mostly")
            if mostly is not None and mostly < 1:
                return f"{col} at most {_pct(1 - mostly)} null"
            return f"{col} not null"
        if t == "expect_column_values_to_be_unique":
            return f"{col} unique"
        if t == "expect_column_values_to_be_in_type_list":
            return f"{col} dtype in {', '.join(k.get('type_list', []))}"
        if t == "expect_column_values_to_be_of_type":
            return f"{col} dtype {k.get('type_')}"
        if t == "expect_column_values_to_be_between":
            return f"{col} " + _bounds(k.get("min_value"), k.get("max_value"))
        if t == "expect_column_values_to_be_in_set":
            return f"{col} in {{{', '.join(str(v) for v in k.get('value_set', []))}}}"
        if t == "expect_column_mean_to_be_between":
            return f"{col} mean " + _bounds(k.get("min_value"), k.get("max_value"))
        args = ", ".join(f"{a}={v}" for a, v in k.items() if a != "column")
        return f"{col} {t.removeprefix('expect_')}({args})".strip()


@dataclass(frozen=True)
class Contract:
    """The whole contract: its name, source file and expectations in file order."""

    name: str
    path: Path
    expectations: list[ContractExpectation]

    @property
    def columns(self) -> list[str]:
        """The column set the contract requires (from its columns-match-set expectation)."""
        for e in self.expectations:
            if e.type == "expect_table_columns_to_match_set":
                return list(e.kwargs.get("column_set", []))
        return sorted({e.column for e in self.expectations if e.column})


def _bounds(lo: Any, hi: Any) -> str:
    if lo is not None and hi is not None:
        return f"between {lo} and {hi}"
    if lo is not None:
        return f"at least {lo}"
    return f"at most {hi}"


def _pct(x: float) -> str:
    return f"{x * 100:.4g}%"


def load_contract(path: Path) -> Contract:
    """Read and check the contract file; errors name the file and the entry at fault."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{path}: data contract not found (set data.contract in mlci.yaml)"
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}: data contract is not valid YAML{where}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("expectations"), list):
        raise InputError(f"{path}: expected a mapping with a list under `expectations`")
    out = []
    for i, entry in enumerate(doc["expectations"]):
        where = f"{path}: expectations[{i}]"
        if not isinstance(entry, dict) or not entry.keys() >= REQUIRED_KEYS:
            raise InputError(f"{where}: each entry needs `type` and `kwargs`")
        if not str(entry["type"]).startswith("expect_"):
            raise InputError(f"{where}: type {entry['type']!r} is not a GX expectation type")
        if not isinstance(entry["kwargs"], dict):
            raise InputError(f"{where}: kwargs must be a mapping")
        meta = entry.get("meta") or {}
        if not meta.get("risk"):
            raise InputError(
                f"{where} ({entry['type']}): meta.risk is missing; name the risk "
                f"this expectation guards (schema, data leak, label range, ...)"
            )
        out.append(ContractExpectation(str(entry["type"]), dict(entry["kwargs"]), dict(meta)))
    titles = [e.title for e in out]
    dupes = sorted({t for t in titles if titles.count(t) > 1})
    if dupes:
        raise InputError(
            f"{path}: expectations with the same title: {', '.join(dupes)} "
            f"(set meta.title to tell them apart)"
        )
    return Contract(name=str(doc.get("name") or path.stem), path=path, expectations=out)


def load_settings_contract(settings: Settings) -> Contract:
    """The contract named in mlci.yaml, checked against the configured feature schema."""
    contract = load_contract(settings.path(settings.data.contract))
    d = settings.data
    needed = [*([d.id_column] if d.id_column else []), d.target, *d.features.all]
    missing = [c for c in needed if c not in contract.columns]
    if missing:
        raise InputError(
            f"{contract.path}: the contract's column set lacks {', '.join(missing)}, which "
            f"mlci.yaml (data.id_column/target/features) uses; add them to the contract"
        )
    return contract
