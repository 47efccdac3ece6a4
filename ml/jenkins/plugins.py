"""The pinned plugin list (`jenkins/plugins.txt`, the jenkins-plugin-cli format) and its check."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ml.errors import InputError


@dataclass(frozen=True)
class PluginDrift:
    name: str
    pinned: str
    installed: str | None  # None: not installed


def read_plugins_file(path: Path) -> dict[str, str]:
    """`name:version` per line; `#` comments and blank lines ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"{path}: cannot read the plugin list ({e.strerror})") from None
    out = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition(":")
        if not sep or not name.strip() or not version.strip():
            raise InputError(f"{path}:{n}: expected 'plugin-name:version', got {raw.strip()!r}")
        out[name.strip()] = version.strip()
    return out


def compare(pinned: dict[str, str], installed: dict[str, str]) -> list[PluginDrift]:
    return [
        PluginDrift(name, version, installed.get(name))
        for name, version in sorted(pinned.items())
        if installed.get(name) != version
    ]
