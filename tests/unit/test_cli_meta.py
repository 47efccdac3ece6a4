"""Every command has help text and appears in the documentation, and no work happens at import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from ml.cli import COMMANDS, cli
from tests.conftest import REPO


def walk(group: click.Group, ctx: click.Context, prefix: str = "mlci"):
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        path = f"{prefix} {name}"
        yield path, cmd
        if isinstance(cmd, click.Group):
            yield from walk(cmd, click.Context(cmd, parent=ctx), path)


ALL = list(walk(cli, click.Context(cli)))
DOCS = "\n".join(
    p.read_text() for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))] if p.exists()
)


def test_every_registered_group_imports():
    ctx = click.Context(cli)
    missing = [n for n in COMMANDS if cli.get_command(ctx, n) is None]
    assert missing == []


@pytest.mark.parametrize("path,cmd", ALL, ids=[p for p, _ in ALL])
def test_command_has_help(path: str, cmd: click.Command):
    assert (cmd.help or "").strip(), f"{path} has no help text"
    for param in cmd.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"{path} option {param.opts[0]} has no help text"


@pytest.mark.parametrize("path,cmd", ALL, ids=[p for p, _ in ALL])
def test_command_is_documented(path: str, cmd: click.Command):
    assert f"`{path}" in DOCS, f"{path} is not in README.md or docs/*.md"


def test_import_does_no_work(tmp_path: Path):
    """Importing every module creates no files and starts nothing (run in an empty folder)."""
    code = (
        "import importlib, pkgutil, ml\n" + "for m in pkgutil.walk_packages(ml.__path__, 'ml.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=120)
    assert list(tmp_path.iterdir()) == []
