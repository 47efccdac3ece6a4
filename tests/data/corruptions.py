"""Corrupted copies of the bundled 2025Q1 snapshot, one per failure the contract must catch.

Each builder takes the bundled CSV's bytes and returns the corrupted bytes; CORRUPTIONS maps a
name to (builder, the key message text `mlci data validate` must print for it).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import pandas as pd


def _frame(src: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(src), dtype={"customer_id": str}, keep_default_na=True)


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, float_format="%.2f", lineterminator="\n").encode()


def _edit(fn: Callable[[pd.DataFrame], None]) -> Callable[[bytes], bytes]:
    def build(src: bytes) -> bytes:
        df = _frame(src)
        fn(df)
        return _csv(df)

    return build


def _drop_total(df: pd.DataFrame) -> None:
    del df["total_charges"]


def _leak_column(df: pd.DataFrame) -> None:
    df["cancelled_at"] = "2025-03-31"


def _text_in_tenure(df: pd.DataFrame) -> None:
    df["tenure_months"] = df["tenure_months"].astype(object)
    df.loc[5:9, "tenure_months"] = "twelve"


def _null_totals(df: pd.DataFrame) -> None:
    df.loc[df.index % 5 == 0, "total_charges"] = None


def _price_out_of_range(df: pd.DataFrame) -> None:
    df.loc[[3, 7, 11], "monthly_charges"] = 999.0


def _unknown_contract(df: pd.DataFrame) -> None:
    df.loc[df.index % 100 == 0, "contract"] = "quarterly"


def _duplicate_ids(df: pd.DataFrame) -> None:
    df.loc[[10, 11], "customer_id"] = df.loc[0, "customer_id"]


def _bad_label(df: pd.DataFrame) -> None:
    df.loc[[1, 2], "churned"] = 2


def _truncate(src: bytes) -> bytes:
    cut = len(src) // 2
    while src[cut - 1 : cut] in (b"\n", b","):  # end mid-field, not on a boundary
        cut += 1
    return src[:cut]


def _extra_field(src: bytes) -> bytes:
    lines = src.split(b"\n")
    lines[6] = lines[6] + b",oops"
    return b"\n".join(lines)


def _header_only(src: bytes) -> bytes:
    return src.split(b"\n", 1)[0] + b"\n"


CORRUPTIONS: dict[str, tuple[Callable[[bytes], bytes], list[str]]] = {
    "missing_column": (
        _edit(_drop_total),
        ["expect_table_columns_to_match_set", "missing column(s) 'total_charges'"],
    ),
    "extra_column": (
        _edit(_leak_column),
        ["expect_table_columns_to_match_set", "extra column(s) 'cancelled_at' not in the contract"],
    ),
    "wrong_dtype": (
        _edit(_text_in_tenure),
        [
            "expect_column_values_to_be_in_type_list (tenure_months dtype in int64)",
            "column 'tenure_months' has dtype str, expected int64",
        ],
    ),
    "too_many_nulls": (
        _edit(_null_totals),
        [
            "expect_column_values_to_not_be_null (total_charges at most 5% null)",
            "column 'total_charges' has 4168 null values in 20000 rows (20.8%), allowed 5%",
        ],
    ),
    "out_of_range": (
        _edit(_price_out_of_range),
        [
            "expect_column_values_to_be_between (monthly_charges between 18 and 120)",
            "column 'monthly_charges' has 3 values outside [18, 120]",
            "e.g. 999.0",
        ],
    ),
    "unknown_category": (
        _edit(_unknown_contract),
        [
            "expect_column_values_to_be_in_set (contract in {month-to-month, one-year, two-year})",
            "column 'contract' has 200 values not in the allowed set",
            "e.g. 'quarterly'",
        ],
    ),
    "duplicate_ids": (
        _edit(_duplicate_ids),
        [
            "expect_column_values_to_be_unique (customer_id unique)",
            "column 'customer_id' has 3 rows with duplicated values; e.g. 'C00000001'",
        ],
    ),
    "invalid_label": (
        _edit(_bad_label),
        [
            "expect_column_values_to_be_in_set (churned in {0, 1})",
            "column 'churned' has 2 values not in the allowed set [0, 1]",
        ],
    ),
    "empty_file": (lambda src: b"", ["file is a readable CSV: file is empty"]),
    "header_only": (
        _header_only,
        [
            "expect_table_row_count_to_be_between (row count at least 1000)",
            "the file has 0 rows, expected at least 1000",
        ],
    ),
    "truncated": (
        _truncate,
        [
            "file is a readable CSV: malformed CSV: line 10",
            "the header has 10",
            "the last row is incomplete: file cut mid-row?",
        ],
    ),
    "malformed_row": (
        _extra_field,
        ["file is a readable CSV: malformed CSV: line 7 has 11 fields, the header has 10"],
    ),
}
