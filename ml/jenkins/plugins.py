"""The pinned plugin list (`jenkins/plugins.txt`, the jenkins-plugin-cli format) and its check."""

from __future__ import annotations

import re
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


@dataclass(frozen=True)
class PluginPin:
    """One line of the plugin list with its recorded requirement: `name:version  # core>=X
    checked=<repository>@<tag> (<commit>)`."""

    name: str
    version: str
    required_core: str | None  # the plugin's `jenkins.version` at its release tag
    checked: str | None  # where that was read


_PIN_NOTE = re.compile(r"core>=(?P<core>\d+(?:\.\d+)*)(?:\s+checked=(?P<checked>.+))?")


def read_plugin_pins(path: Path) -> list[PluginPin]:
    """The pins of `path` with the core version each needs (None when the line records none)."""
    versions = read_plugins_file(path)
    pins = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line, _, note = raw.partition("#")
        name = line.partition(":")[0].strip()
        if not name:
            continue
        m = _PIN_NOTE.search(note)
        pins.append(
            PluginPin(
                name,
                versions[name],
                m.group("core") if m else None,
                (m.group("checked") or "").strip() or None if m else None,
            )
        )
    return pins


def core_version_key(version: str) -> tuple[int, ...]:
    """`2.568.2` -> (2, 568, 2), for comparing Jenkins core versions."""
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        raise InputError(f"not a Jenkins core version: {version!r}") from None


def too_new_for(core: str, pins: list[PluginPin]) -> list[PluginPin]:
    """The pins whose recorded required core is newer than `core`."""
    have = core_version_key(core)
    return [p for p in pins if p.required_core and core_version_key(p.required_core) > have]
