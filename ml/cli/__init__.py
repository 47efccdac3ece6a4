"""The `mlci` command line. Click only: every command parses options, calls the library and
prints. Command groups live one per module and are imported only when invoked."""

from __future__ import annotations

import importlib

import click

from ml import __version__
from ml.cli.common import CliState

# command name -> "module:attribute"; modules load lazily so `mlci --help` stays fast.
COMMANDS: dict[str, str] = {
    "data": "ml.cli.data:data",
    "train": "ml.cli.train:train",
    "evaluate": "ml.cli.evaluate:evaluate",
    "model": "ml.cli.model:model",
    "pipeline": "ml.cli.pipeline:pipeline",
    "lineage": "ml.cli.lineage:lineage",
    "jenkins": "ml.cli.jenkins:jenkins",
    "deploy": "ml.cli.deploy:deploy",
    "ct": "ml.cli.ct:ct",
    "config": "ml.cli.config:config",
    "reproduce": "ml.cli.reproduce:reproduce",
    "init": "ml.cli.init:init",
    "resources": "ml.cli.resources:resources",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n in COMMANDS if _available(n))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not _available(name):
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)


def _available(name: str) -> bool:
    module = COMMANDS[name].split(":")[0]
    return importlib.util.find_spec(module) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlci")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="MLCI_CONFIG",
    help="Path to mlci.yaml (default: the nearest one at or above the current folder).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """mlci: CI/CD for machine learning, driven by Jenkins.

    Every Jenkins stage is one mlci command; `mlci pipeline run` runs the same stages locally.
    """
    session = ctx.obj.session if isinstance(ctx.obj, CliState) else None
    ctx.obj = CliState(config_path=config_path, session=session)


def main() -> None:
    cli(prog_name="mlci")
