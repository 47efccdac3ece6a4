"""DVC metadata of a snapshot: the md5 a `<file>.dvc` records, read without running DVC.

DVC 3 records the plain MD5 of a file's bytes (`hash: md5`), the same value as
`ml.data.dataset.file_digest`, so a model version's `dataset.digest` can be looked up in the DVC
history of `data/snapshots/*.csv.dvc`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ml.errors import InputError


def dvc_file(path: Path) -> Path:
    return path.with_name(path.name + ".dvc")


def dvc_md5(path: Path) -> str | None:
    """The md5 recorded in `<path>.dvc`, or None when the file is not tracked by DVC."""
    meta = dvc_file(path)
    if not meta.is_file():
        return None
    try:
        # BaseLoader keeps every scalar a string: an all-digit md5 must not become an int.
        doc = yaml.load(meta.read_text(encoding="utf-8"), Loader=yaml.BaseLoader) or {}
        outs = doc["outs"]
        entry = next(o for o in outs if o.get("path") == path.name) if len(outs) > 1 else outs[0]
        return str(entry["md5"])
    except (yaml.YAMLError, KeyError, IndexError, TypeError, StopIteration):
        raise InputError(f"{meta}: not a DVC file with outs[].md5 for {path.name}") from None


def write_dvc_file(path: Path, md5: str) -> Path:
    """Write `<path>.dvc` as `dvc add` would (DVC 3 layout), so DVC can adopt the file later.

    The CSVs themselves stay in git; the .dvc file only records what DVC would, which lets
    `mlci data version` detect a snapshot edited without updating its record.
    """
    meta = dvc_file(path)
    meta.write_text(
        f"outs:\n- md5: {md5}\n  size: {path.stat().st_size}\n  hash: md5\n  path: {path.name}\n",
        encoding="utf-8",
    )
    return meta
