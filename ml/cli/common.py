"""What every command group shares: the settings loader, error conversion and output options."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from ml.config import Settings, load_settings
from ml.errors import MlciError
from ml.session import Session


class MlciClickError(click.ClickException):
    """A ClickException that keeps the MlciError's exit code."""

    def __init__(self, error: MlciError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


@dataclass
class CliState:
    config_path: str | None = None
    _settings: Settings | None = field(default=None, repr=False)
    # Set by `mlci pipeline run` (in-process executor): shared by the stages it runs.
    session: Session | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings


def get_settings(ctx: click.Context | None = None) -> Settings:
    ctx = ctx or click.get_current_context()
    state = ctx.find_object(CliState)
    if state is None:
        state = CliState()
        ctx.obj = state
    return state.settings


def get_session(ctx: click.Context | None = None) -> Session | None:
    """The pipeline run's session when a stage runs inside `mlci pipeline run`, else None."""
    ctx = ctx or click.get_current_context()
    state = ctx.find_object(CliState)
    return state.session if state is not None else None


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn MlciError into a clean `Error: ...` line and its exit code; no tracebacks."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MlciError as e:
            raise MlciClickError(e) from None

    return wrapper


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(fn)


def quiet_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("-q", "--quiet", is_flag=True, help="Print only errors.")(fn)


def echo_json(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=2, sort_keys=True, default=str))


def progress(message: str) -> None:
    """A progress line on stderr, so stdout stays parseable."""
    click.echo(message, err=True)
    sys.stderr.flush()


def model_version_arguments(
    fn: Callable[..., Any] | None = None, *, metavar: str = "VERSION"
) -> Any:
    """`[NAME] VERSION` for commands about one model version; NAME defaults to
    mlflow.model_name. The wrapped function receives `name` (or None) and `version`."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, name_or_version: str, version: str | None, **kwargs: Any) -> Any:
            if version is None:
                name, version = None, name_or_version
            else:
                name = name_or_version
            return fn(*args, name=name, version=version, **kwargs)

        wrapper = click.argument("version", required=False, metavar="")(wrapper)
        return click.argument("name_or_version", metavar=f"[NAME] {metavar}")(wrapper)

    return decorate(fn) if fn is not None else decorate
