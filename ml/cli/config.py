"""`mlci config`: show the effective settings."""

from __future__ import annotations

import click

from ml.cli.common import echo_json, get_settings, handle_errors


@click.group()
def config() -> None:
    """Inspect the effective configuration (mlci.yaml + MLCI_* overrides)."""


@config.command("show")
@handle_errors
def show() -> None:
    """Print the effective settings as JSON, with every override applied."""
    echo_json(get_settings().model_dump(mode="json"))
