"""The model's input signature and the request parsing that enforces it.

Requests arrive as JSON in the shapes the MLflow scoring protocol allows (`dataframe_split`,
`dataframe_records`, `instances`, `inputs`) or as a list of records (`/predict`). Each shape is
turned into one list of values per signature column; every value is checked against the
column's type here, so the predictor never sees a value it cannot score and a bad request is a
4xx that names the field, never a 500.

Only the standard library and numpy are imported: this module ships in the serving image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

NUMBER_TYPES = {"double", "float"}
INTEGER_TYPES = {"long", "integer"}
SUPPORTED_TYPES = NUMBER_TYPES | INTEGER_TYPES | {"string", "boolean"}
MLFLOW_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class RequestError(Exception):
    """A request the server refuses: HTTP status, MLflow-style error code, message, field."""

    def __init__(
        self, message: str, status: int = 400, field: str | None = None, code: str = "BAD_REQUEST"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field
        self.code = code

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error_code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


def _field_error(column: str, message: str) -> RequestError:
    return RequestError(message, status=422, field=column, code="INVALID_PARAMETER_VALUE")


@dataclass(frozen=True)
class ColumnSpec:
    """One input column of the signature: name, MLflow type, and whether it must be present."""

    name: str
    type: str
    required: bool = True

    @property
    def nullable(self) -> bool:
        # A missing numeric value is NaN, which the model's imputer handles (as in training).
        return self.type in NUMBER_TYPES or not self.required


@dataclass(frozen=True)
class InputSchema:
    """The ordered input columns a model accepts."""

    columns: tuple[ColumnSpec, ...]

    @classmethod
    def from_json(cls, inputs: list[dict[str, Any]]) -> InputSchema:
        """Build from MLflow's signature JSON (`[{"name": ..., "type": ..., "required": ...}]`)."""
        cols = []
        for i, spec in enumerate(inputs):
            name, type_ = spec.get("name"), spec.get("type")
            if not name or type_ not in SUPPORTED_TYPES:
                raise ValueError(
                    f"signature input {i} ({spec!r}): need a named column of type "
                    f"{sorted(SUPPORTED_TYPES)}; tensor signatures are not supported"
                )
            cols.append(ColumnSpec(name, type_, bool(spec.get("required", True))))
        if not cols:
            raise ValueError("the model signature has no input columns")
        return cls(tuple(cols))

    def to_json(self) -> list[dict[str, Any]]:
        return [{"name": c.name, "type": c.type, "required": c.required} for c in self.columns]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    # ---- request shapes -> {column: [values]} ------------------------------------------------

    def from_records(self, records: Any, where: str) -> tuple[dict[str, list[Any]], int]:
        """Rows as a list of JSON objects (`dataframe_records`, `instances`, `/predict`)."""
        if not isinstance(records, list) or not records:
            raise RequestError(
                f"{where}: expected a non-empty list of records (JSON objects)", field=where
            )
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                raise RequestError(
                    f"{where}[{i}]: expected a JSON object mapping column names to values, "
                    f"got {type(rec).__name__}",
                    field=where,
                )
        out: dict[str, list[Any]] = {}
        for col in self.columns:
            name = col.name
            try:
                out[name] = [rec[name] for rec in records]
            except KeyError:
                if col.required:
                    row = next(i for i, rec in enumerate(records) if name not in rec)
                    raise _field_error(
                        name, f"{where}[{row}]: missing required column '{name}' ({col.type})"
                    ) from None
                out[name] = [rec.get(name) for rec in records]
        return out, len(records)

    def from_split(
        self, split: Any, where: str = "dataframe_split"
    ) -> tuple[dict[str, list[Any]], int]:
        """Pandas `split` orient: `{"columns": [...], "data": [[...], ...]}`."""
        if not isinstance(split, dict):
            raise RequestError(
                f"{where}: expected an object with 'columns' and 'data'", field=where
            )
        columns, data = split.get("columns"), split.get("data")
        if not isinstance(data, list) or not data:
            raise RequestError(
                f"{where}.data: expected a non-empty list of rows", field=f"{where}.data"
            )
        if columns is None:
            columns = self.names
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise RequestError(
                f"{where}.columns: expected a list of column names", field=f"{where}.columns"
            )
        index = {c: i for i, c in enumerate(columns)}
        width = len(columns)
        for r, row in enumerate(data):
            if not isinstance(row, list) or len(row) != width:
                got = f"{len(row)} values" if isinstance(row, list) else type(row).__name__
                raise RequestError(
                    f"{where}.data[{r}]: expected a list of {width} values "
                    f"(one per column), got {got}",
                    field=f"{where}.data",
                )
        out: dict[str, list[Any]] = {}
        for col in self.columns:
            pos = index.get(col.name)
            if pos is None:
                if col.required:
                    raise _field_error(
                        col.name,
                        f"{where}.columns: missing required column '{col.name}' ({col.type})",
                    )
                out[col.name] = [None] * len(data)
            else:
                out[col.name] = [row[pos] for row in data]
        return out, len(data)

    def from_column_dict(
        self, cols: dict[str, Any], where: str
    ) -> tuple[dict[str, list[Any]], int]:
        """Column orient: `{"col": [v1, v2], ...}` (`inputs`/`instances` as a dict)."""
        out: dict[str, list[Any]] = {}
        n = None
        for col in self.columns:
            if col.name not in cols:
                if col.required:
                    raise _field_error(
                        col.name, f"{where}: missing required column '{col.name}' ({col.type})"
                    )
                continue
            values = cols[col.name]
            if not isinstance(values, list):
                values = [values]
            if n is None:
                n = len(values)
            elif len(values) != n:
                raise _field_error(
                    col.name,
                    f"{where}.{col.name}: has {len(values)} values but other columns have {n}",
                )
            out[col.name] = values
        if not n:
            raise RequestError(f"{where}: no rows", field=where)
        for col in self.columns:
            out.setdefault(col.name, [None] * n)
        return out, n

    def from_mlflow(self, body: Any) -> tuple[dict[str, list[Any]], int]:
        """An MLflow scoring request: exactly one of the four input keys (plus optional params)."""
        if not isinstance(body, dict):
            raise RequestError(
                "request body must be a JSON object with exactly one of the keys "
                f"{', '.join(MLFLOW_FORMATS)}; got a JSON {type(body).__name__}"
            )
        keys = [k for k in MLFLOW_FORMATS if k in body]
        if len(keys) != 1:
            raise RequestError(
                "request body must have exactly one of the keys "
                f"{', '.join(MLFLOW_FORMATS)}; got keys {sorted(body)}"
            )
        key = keys[0]
        value = body[key]
        if key == "dataframe_split":
            return self.from_split(value)
        if key == "dataframe_records":
            return self.from_records(value, key)
        if isinstance(value, dict):
            return self.from_column_dict(value, key)
        return self.from_records(value, key)

    # ---- type checks ---------------------------------------------------------------------------

    def typed_columns(self, columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
        """Check every value against its column type; numbers become floats, nulls NaN/None."""
        for col in self.columns:
            values = columns[col.name]
            checker = _CHECKERS[col.type]
            for row, value in enumerate(values):
                if value is None:
                    if not col.nullable:
                        raise _field_error(
                            col.name,
                            f"column '{col.name}' (row {row}): null is "
                            f"not allowed for a {col.type} column",
                        )
                    continue
                if not checker(value):
                    raise _field_error(
                        col.name,
                        f"column '{col.name}' (row {row}): expected {col.type}, got "
                        f"{_json_type(value)} {_short(value)}",
                    )
            if col.type in NUMBER_TYPES and None in values:
                columns[col.name] = [math.nan if v is None else v for v in values]
        return columns


def _is_number(v: Any) -> bool:
    t = type(v)  # exact type checks: bool is an int subclass and must not pass as a number
    return t is int or (t is float and math.isfinite(v))


def _is_integer(v: Any) -> bool:
    return type(v) is int or (type(v) is float and v.is_integer())


_CHECKERS = {
    "double": _is_number,
    "float": _is_number,
    "long": _is_integer,
    "integer": _is_integer,
    "string": lambda v: type(v) is str,
    "boolean": lambda v: type(v) is bool,
}


def _json_type(v: Any) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(v), type(v).__name__)


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def numpy_dtype(onnx_type: str) -> Any:
    """The numpy dtype that feeds an ONNX tensor type such as `tensor(float)`."""
    return {
        "tensor(float)": np.float32,
        "tensor(double)": np.float64,
        "tensor(int64)": np.int64,
        "tensor(int32)": np.int32,
        "tensor(bool)": np.bool_,
        "tensor(string)": object,
    }[onnx_type]
