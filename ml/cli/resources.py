"""`mlci resources`: where the files shipped with mlci are (lock, Dockerfiles, scripts, jobs)."""

from __future__ import annotations

import click

from ml.cli.common import echo_json, handle_errors


@click.command()
@click.argument("name", required=False, default="locks/requirements.txt")
@click.option("--list", "list_all", is_flag=True, help="List every shipped file instead.")
@click.option("--json", "as_json", is_flag=True, help="Print the root and the files as JSON.")
@handle_errors
def resources(name: str, list_all: bool, as_json: bool) -> None:
    """Print the path of a file shipped with mlci; NAME defaults to the runtime lock.

    The wheel ships the lock it was built with: install with it as constraints (docs/install.md),
    e.g. `pip install -U mlci-*.whl -c "$(mlci resources)"`. From a checkout: the checkout's files.
    """
    from ml import resources as shipped

    if as_json:
        echo_json({"root": str(shipped.root()), "files": shipped.shipped_files()})
    elif list_all:
        for rel in shipped.shipped_files():
            click.echo(rel)
    else:
        click.echo(str(shipped.resource(name)))
