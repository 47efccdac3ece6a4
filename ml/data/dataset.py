"""Dataset versions: a snapshot file, its version name and its content digest.

The digest is the MD5 of the file bytes, the same value DVC records in a `.dvc` file's `md5`
field, so a model version's `dataset.digest` can be matched against the DVC history directly.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ml.config import Settings
from ml.data.dvc import MissingData, check_version_name, dvc_file, ensure_version, tracked_versions
from ml.errors import InputError


@dataclass(frozen=True)
class DatasetVersion:
    """Which data: a version name, where it lives, and a digest of its bytes."""

    version: str
    path: Path
    digest: str


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def resolve_dataset(
    settings: Settings, source: str | Path | None = None, strict: bool = True
) -> DatasetVersion:
    """Turn a version name (`2025Q2`), a path, or None (the configured default) into a version.

    A DVC-tracked snapshot (`<file>.dvc` beside it) is fetched from the DVC remote when the
    working file is missing, and refused when its bytes differ from the record (`strict=False`
    keeps such a file, for `mlci data version` to report). A path outside the snapshot folder
    keeps its file stem as the version name.
    """
    if source is None:
        path = settings.dataset_path()
    else:
        candidate = Path(source)
        looks_like_path = candidate.suffix or "/" in str(source) or candidate.exists()
        if not looks_like_path:
            check_version_name(str(source))
        path = candidate if looks_like_path else settings.dataset_path(str(source))
    if dvc_file(path).is_file():
        ensure_version(path, settings, strict=strict)
    if not path.exists():
        folder = settings.path(settings.data.dir)
        known = tracked_versions(folder) if folder.is_dir() else []
        raise MissingData(
            f"{path}: dataset not found, and no {dvc_file(path).name} records such a version "
            f"(DVC-tracked versions in {folder}: {', '.join(known) or 'none'}); pass a version "
            f"name such as {settings.data.version!r} or a path to a CSV file, or add a version "
            f"with `mlci data add PATH --version NAME`"
        )
    if not path.is_file():
        raise InputError(f"{path}: is not a file")
    return DatasetVersion(version=path.stem, path=path, digest=file_digest(path))


class UnreadableCsv(InputError):
    """The file is not a well-formed CSV: empty, no header, or rows with the wrong field count.

    `check` names the structural check that failed, for reports that list it as a testcase.
    """

    check = "file is a readable CSV"


def csv_header(path: Path) -> list[str]:
    """The column names on the first line; raises UnreadableCsv for an empty or binary file."""
    with path.open("r", encoding="utf-8-sig", errors="strict", newline="") as fh:
        try:
            first = next(csv.reader(fh), None)
        except (UnicodeDecodeError, csv.Error) as e:
            raise UnreadableCsv(f"{path}: not a readable CSV: {e}") from None
    if not first or not any(name.strip() for name in first):
        raise UnreadableCsv(
            f"{path}: file is empty (expected a CSV with a header row and data rows)"
        )
    return first


def _first_bad_row(path: Path, width: int) -> str:
    """Locate the first row whose field count differs from the header (slow; error path only)."""
    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        for line_no, row in enumerate(csv.reader(fh), start=1):
            if row and len(row) != width:
                return f"line {line_no} has {len(row)} fields, the header has {width}"
    return "the CSV parser rejected a row"


def _ends_without_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(0, 2)
        if fh.tell() == 0:
            return False
        fh.seek(-1, 2)
        return fh.read(1) != b"\n"


def read_csv(path: Path, dtype: dict[str, str] | None = None) -> pd.DataFrame:
    """Read a CSV strictly: every row must have as many fields as the header.

    pandas' default parser pads short rows with NaN, which hides a file cut mid-row; the pyarrow
    parser rejects them (and reads several times faster on big files). `dtype` entries for
    columns the file lacks are ignored, so a missing column is reported by the contract.
    """
    header = csv_header(path)
    dtypes = {c: t for c, t in (dtype or {}).items() if c in header}
    try:
        return pd.read_csv(path, dtype=dtypes, engine="pyarrow")
    except pd.errors.EmptyDataError:
        raise UnreadableCsv(f"{path}: file is empty (expected a CSV with a header row)") from None
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as e:
        text = str(e)
        if "columns, got" in text or "Expected" in text:
            where = _first_bad_row(path, len(header))
            tail = (
                " (the last row is incomplete: file cut mid-row?)"
                if (
                    _ends_without_newline(path)
                    and where.startswith("line")
                    and _is_last_line(path, where)
                )
                else ""
            )
            raise UnreadableCsv(f"{path}: malformed CSV: {where}{tail}") from None
        raise UnreadableCsv(f"{path}: not a readable CSV: {text.splitlines()[0]}") from None


def _is_last_line(path: Path, where: str) -> bool:
    line_no = int(where.split()[1])
    with path.open("rb") as fh:
        return sum(1 for _ in fh) == line_no


def read_frame(dataset: DatasetVersion, settings: Settings) -> pd.DataFrame:
    """Read the CSV with the contract's categorical columns as strings and IDs kept verbatim.

    Strict: a row with the wrong number of fields raises UnreadableCsv (an InputError).
    """
    dtypes = {c: "string" for c in settings.data.features.categorical}
    if settings.data.id_column:
        dtypes[settings.data.id_column] = "string"
    return read_csv(dataset.path, dtypes)
