"""Write the data contract of a new project from the profile of its first dataset version.

The output has the layout of data/contract/churn.yaml (a Great Expectations Core 1.x suite in
GX's vocabulary, `meta.risk` and `meta.why` on every entry), which ml.validate.contract reads.
Rules, each stated again in the entry's `why`:
- column set: exactly the columns of the first version;
- row count: at least half the rows of the first version;
- ID: never empty, unique;
- numeric dtype: whole numbers stay int64 (float64 allowed when the column may be empty),
  other numbers float64 or int64;
- nulls: a column with no empty value must stay so; one with a fraction f of empty values may
  have up to min(1, 2f + 1%);
- ranges: [min - 10% of the range, max + 10% of the range], not below 0 for a column that
  has no negative value, whole numbers for integer columns;
- categories: the set seen, when it has at most MAX_SET values;
- label: classification -> the set of classes, every class present; regression -> a range as
  for any numeric column.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from ml.project.profile import (
    CATEGORICAL,
    ID,
    IGNORED,
    MAX_SET,
    NUMERIC,
    TARGET,
    ColumnProfile,
    DataProfile,
)

MARGIN = 0.10  # of the observed range, on each side


def _e(kind: str, kwargs: dict[str, Any], risk: str, why: str) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs, "meta": {"risk": risk, "why": why}}


def _nice(x: float, up: bool) -> float | int:
    """A readable bound: 4 significant digits, rounded outwards."""
    if x == 0 or not math.isfinite(x):
        return 0 if x == 0 else x
    digits = 3 - math.floor(math.log10(abs(x)))
    scale = 10.0**digits
    v = (math.ceil if up else math.floor)(x * scale) / scale
    return int(v) if float(v).is_integer() else v


def numeric_range(col: ColumnProfile) -> tuple[float | int, float | int]:
    lo, hi = float(col.min), float(col.max)
    span = hi - lo
    margin = MARGIN * span if span > 0 else max(1.0, MARGIN * abs(hi))
    low, high = lo - margin, hi + margin
    if lo >= 0:
        low = max(0.0, low)
    if col.integer:
        return math.floor(low), math.ceil(high)
    return _nice(low, up=False), _nice(high, up=True)


def _fmt_range(col: ColumnProfile) -> str:
    def f(v: float | None) -> str:
        return "?" if v is None else (f"{v:g}" if not col.integer else str(int(v)))

    return f"[{f(col.min)}, {f(col.max)}]"


def _nulls(col: ColumnProfile, rows: int, what: str) -> dict[str, Any]:
    if col.nulls == 0:
        return _e(
            "expect_column_values_to_not_be_null",
            {"column": col.name},
            "nulls",
            f"{what} is never empty in the first version ({rows} rows); an empty value means "
            f"a broken export or join.",
        )
    allowed = min(1.0, 2 * col.null_fraction + 0.01)
    mostly = math.floor((1 - allowed) * 10_000) / 10_000
    return _e(
        "expect_column_values_to_not_be_null",
        {"column": col.name, "mostly": mostly},
        "nulls",
        f"{col.null_fraction:.2%} of the first version is empty; up to {1 - mostly:.2%} "
        f"(twice that plus 1%) is tolerated, more means a broken export or join.",
    )


def _dtype(col: ColumnProfile, label: bool = False) -> dict[str, Any] | None:
    if not col.numeric:
        return None
    if col.dtype.startswith(("int", "uint")) and col.nulls == 0:
        types, why = ["int64"], "whole numbers in the first version"
    else:
        types, why = ["float64", "int64"], "numbers in the first version"
    return _e(
        "expect_column_values_to_be_in_type_list",
        {"column": col.name, "type_list": types},
        "label dtype" if label else "dtype",
        f"{why}; text or another type means a broken export or a changed encoding.",
    )


def _range(col: ColumnProfile, label: bool = False) -> dict[str, Any]:
    lo, hi = numeric_range(col)
    clamped = col.min >= 0 and lo == 0 and col.min - MARGIN * (col.max - col.min) < 0
    floor = " It has no negative value, so the lower bound stays at 0." if clamped else ""
    return _e(
        "expect_column_values_to_be_between",
        {"column": col.name, "min_value": lo, "max_value": hi},
        "label range" if label else "range",
        f"the first version spans {_fmt_range(col)}; 10% of that range is allowed on each "
        f"side.{floor} A value outside is a unit error, a sentinel or an impossible value.",
    )


def build_contract(profile: DataProfile, name: str) -> dict[str, Any]:
    """The contract document (a dict ready for YAML) for the profiled first version."""
    rows = profile.rows
    sections: list[tuple[str, list[dict[str, Any]]]] = []
    names = [c.name for c in profile.columns]
    sections.append(
        (
            "schema",
            [
                _e(
                    "expect_table_columns_to_match_set",
                    {"column_set": names, "exact_match": True},
                    "schema / data leak",
                    "a missing column breaks training; an extra one (such as a field recorded "
                    "after the outcome) may leak the label into the features.",
                ),
                _e(
                    "expect_table_row_count_to_be_between",
                    {"min_value": max(1, rows // 2)},
                    "volume",
                    f"the first version has {rows} rows; fewer than half of that means an "
                    f"empty or truncated export.",
                ),
            ],
        )
    )
    if profile.id_column:
        idc = profile.column(profile.id_column)
        sections.append(
            (
                "identity",
                [
                    _e(
                        "expect_column_values_to_not_be_null",
                        {"column": idc.name},
                        "identity",
                        "every row must be traceable to one record.",
                    ),
                    _e(
                        "expect_column_values_to_be_unique",
                        {"column": idc.name},
                        "duplicates / data leak",
                        "a duplicated record can land in both the train and the test split and "
                        "inflate the evaluation.",
                    ),
                ],
            )
        )
    numeric, categorical = [], []
    for col in profile.columns:
        if col.kind in (ID, TARGET):
            continue
        what = f"{col.name}"
        if col.kind == IGNORED and col.nulls == rows:
            continue  # an all-empty column: only its presence is checked (column set)
        if col.numeric and col.kind in (NUMERIC, IGNORED):
            entries = [e for e in (_dtype(col),) if e]
            entries.append(_nulls(col, rows, what))
            if col.min is not None:
                entries.append(_range(col))
            numeric.extend(entries)
        elif col.kind in (CATEGORICAL, IGNORED):
            categorical.append(_nulls(col, rows, what))
            if col.values is not None and len(col.values) <= MAX_SET:
                categorical.append(
                    _e(
                        "expect_column_values_to_be_in_set",
                        {"column": col.name, "value_set": col.values},
                        "unknown category",
                        f"the {len(col.values)} values seen in the first version; a new or "
                        f"renamed one is unseen by the model and needs a contract change and "
                        f"retraining.",
                    )
                )
    if numeric:
        sections.append(("numeric columns: types, nulls, ranges", numeric))
    if categorical:
        sections.append(("categorical columns: nulls, categories", categorical))

    tcol = profile.column(profile.target)
    label: list[dict[str, Any]] = []
    if profile.task == "regression":
        label += [e for e in (_dtype(tcol, label=True),) if e]
        label.append(
            _e(
                "expect_column_values_to_not_be_null",
                {"column": tcol.name},
                "label range",
                "a row without a target value cannot be trained or evaluated on.",
            )
        )
        label.append(_range(tcol, label=True))
    else:
        classes = list(profile.classes or [])
        label += [e for e in (_dtype(tcol, label=True),) if e]
        label.append(
            _e(
                "expect_column_values_to_not_be_null",
                {"column": tcol.name},
                "label range",
                "a row without a label cannot be trained or evaluated on.",
            )
        )
        label.append(
            _e(
                "expect_column_values_to_be_in_set",
                {"column": tcol.name, "value_set": classes},
                "label range",
                f"the {profile.task} model knows the {len(classes)} classes of the first "
                f"version only; a new label needs a contract change.",
            )
        )
        label.append(
            _e(
                "expect_column_distinct_values_to_contain_set",
                {"column": tcol.name, "value_set": classes},
                "label balance",
                "every class of the first version must be present; a missing class means a "
                "filtered or mislabelled export.",
            )
        )
    sections.append(("label", label))
    return {"name": name, "sections": sections}


HEADER = """\
# The data contract of {name}: a Great Expectations Core 1.x expectation suite, written by
# `mlci init` from the first dataset version ({source}, {rows} rows).
#
# Every snapshot must pass all of it before training (`mlci data validate`); one failed
# expectation fails the build. Each entry is a GX expectation (`type` + `kwargs`) and names
# the risk it guards in `meta.risk`, with a line of why in `meta.why`. The bounds come from
# the first version (ranges widened by 10% of the observed range on each side, category and
# label sets as seen): review them, and review changes to this file like code.
#
# `mostly` is the fraction of rows that must pass (GX semantics): `mostly: 0.95` on a
# not-null expectation allows up to 5% nulls.
"""


def render_contract(doc: dict[str, Any], source: str, rows: int) -> str:
    """The contract as commented YAML (one block per section, flow style for short lists)."""
    out = [HEADER.format(name=doc["name"], source=source, rows=rows)]
    out.append(yaml.safe_dump({"name": doc["name"]}, sort_keys=False))
    out.append("expectations:\n")
    for title, entries in doc["sections"]:
        out.append(f"  # --- {title} " + "-" * max(3, 86 - len(title)) + "\n")
        text = yaml.safe_dump(
            entries, sort_keys=False, default_flow_style=None, width=96, allow_unicode=True
        )
        out.append("".join(f"  {line}\n" for line in text.splitlines()))
        out.append("\n")
    return "".join(out).rstrip() + "\n"
