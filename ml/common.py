"""Small facts every area records the same way: who did it, when, and plain-text tables.

One definition each, so a model version's `approval.by`, a deploy record's `by` and a lock's
owner name the same person, and every timestamp has one format (UTC, ISO 8601, `Z`).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from datetime import UTC, datetime

# Who runs mlci: explicit --by, else the Jenkins build's user, else the OS user.
USER_VARIABLES = ("MLCI_USER", "BUILD_USER_ID", "BUILD_USER", "USER")


def utc_now(timespec: str = "seconds") -> str:
    """UTC now in ISO 8601 with `Z`, e.g. 2026-01-31T12:00:00Z (or ...:00.123Z)."""
    return datetime.now(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def current_user(explicit: str | None = None) -> str:
    """`explicit` if given, else $MLCI_USER, $BUILD_USER_ID, $BUILD_USER, $USER, the OS
    account, and "unknown" when none is known."""
    if explicit:
        return explicit
    for var in USER_VARIABLES:
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def format_table(rows: Sequence[Sequence[str]], rule_after_header: bool = False) -> str:
    """Left-aligned columns two spaces apart (trailing blanks stripped); with
    `rule_after_header`, a line of dashes under the first row."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if rule_after_header:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
