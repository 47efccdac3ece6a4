"""Dataset versions: a snapshot file, its version name and its content digest.

The digest is the MD5 of the file bytes, the same value DVC records in a `.dvc` file's `md5`
field, so a model version's `dataset.digest` can be matched against the DVC history directly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ml.config import Settings
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


def resolve_dataset(settings: Settings, source: str | Path | None = None) -> DatasetVersion:
    """Turn a version name (`2025Q2`), a path, or None (the configured default) into a version.

    A path outside the snapshot folder keeps its file stem as the version name.
    """
    if source is None:
        path = settings.dataset_path()
    else:
        candidate = Path(source)
        looks_like_path = candidate.suffix or "/" in str(source) or candidate.exists()
        path = candidate if looks_like_path else settings.dataset_path(str(source))
    if not path.exists():
        raise InputError(
            f"{path}: dataset not found (pass a snapshot version such as "
            f"{settings.data.version!r} or a path to a CSV file)"
        )
    if not path.is_file():
        raise InputError(f"{path}: is not a file")
    return DatasetVersion(version=path.stem, path=path, digest=file_digest(path))


def read_frame(dataset: DatasetVersion, settings: Settings) -> pd.DataFrame:
    """Read the CSV with the contract's categorical columns as strings and IDs kept verbatim."""
    dtypes = {c: "string" for c in settings.data.features.categorical}
    dtypes[settings.data.id_column] = "string"
    try:
        return pd.read_csv(dataset.path, dtype=dtypes, keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise InputError(f"{dataset.path}: file is empty (expected a CSV with a header row)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise InputError(f"{dataset.path}: not a readable CSV: {e}") from None
