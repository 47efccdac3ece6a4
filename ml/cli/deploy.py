"""`mlci deploy`: put an approved model image into an environment, roll back, show status."""

from __future__ import annotations

from dataclasses import asdict

import click

from ml.cli.common import (
    echo_json,
    get_settings,
    handle_errors,
    json_option,
    model_version_arguments,
    progress,
)

LOCK_TIMEOUT_HELP = "Seconds to wait for another deploy to the same environment (default 300)."


class DeployGroup(click.Group):
    """`mlci deploy ENV [NAME] VERSION` is shorthand for `mlci deploy run ENV [NAME] VERSION`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DeployGroup)
def deploy() -> None:
    """Deploy model versions to environments, roll back, and show what runs where.

    `mlci deploy ENV [NAME] VERSION` deploys (same as `mlci deploy run`; NAME defaults to
    mlflow.model_name). Exit codes: 2 bad input, 3 not approved (or not yet deployed to the
    environment it requires), 4 Docker/MLflow unreachable or the environment is locked, 5 a
    check failed or a canary was rolled back, and the old version keeps serving.
    """


def _print_record(rec, as_json: bool) -> None:
    if as_json:
        echo_json(asdict(rec))
    else:
        click.echo(
            f"{rec.env}: {rec.model} version {rec.version} ({rec.digest}) deployed "
            f"by {rec.by} at {rec.at}"
        )


@deploy.command("run")
@click.argument("env")
@model_version_arguments
@click.option(
    "--canary",
    "canary_percent",
    type=click.FloatRange(0, 100, min_open=True, max_open=True),
    default=None,
    metavar="PERCENT",
    help="Send PERCENT of live traffic to the new version first, watch it against "
    "environments.ENV.canary and promote or roll back by itself.",
)
@click.option(
    "--for",
    "canary_for",
    default=None,
    metavar="DURATION",
    help="How long to watch a canary (90s, 5m, 1h); default environments.ENV.canary.duration.",
)
@click.option(
    "--lock-timeout", type=float, default=300.0, show_default=True, help=LOCK_TIMEOUT_HELP
)
@json_option
@handle_errors
def run(
    env: str,
    name: str | None,
    version: str,
    canary_percent: float | None,
    canary_for: str | None,
    lock_timeout: float,
    as_json: bool,
) -> None:
    """Deploy model [NAME] version VERSION to environment ENV.

    Pulls the pushed image by digest and starts environments.ENV.replicas containers beside
    the running ones, one at a time: each waits for /ready, answers /metadata with the version
    and replays the recorded smoke samples before it takes traffic. Then the stable port serves
    only the new version, the registry alias moves and the old containers stop. On any failure
    the old containers keep serving. With --canary, the new version first gets PERCENT of the
    traffic for --for DURATION and is promoted or rolled back against the canary bounds.
    """
    from ml.deploy.canary import parse_duration
    from ml.deploy.deploy import deploy as do_deploy

    if canary_for is not None and canary_percent is None:
        raise click.UsageError("--for needs --canary PERCENT")
    seconds = parse_duration(canary_for) if canary_for else None
    rec = do_deploy(
        get_settings(),
        env,
        name,
        version,
        lock_timeout=lock_timeout,
        canary_percent=canary_percent,
        canary_seconds=seconds,
        progress=progress,
    )
    _print_record(rec, as_json)


@deploy.command("rollback")
@click.argument("env")
@click.option(
    "--lock-timeout", type=float, default=300.0, show_default=True, help=LOCK_TIMEOUT_HELP
)
@json_option
@handle_errors
def rollback(env: str, lock_timeout: float, as_json: bool) -> None:
    """Return ENV to the version that served before the current one (same checks as deploy)."""
    from ml.deploy.deploy import rollback as do_rollback

    rec = do_rollback(get_settings(), env, lock_timeout=lock_timeout, progress=progress)
    _print_record(rec, as_json)


@deploy.command("status")
@click.argument("env", required=False)
@json_option
@handle_errors
def status(env: str | None, as_json: bool) -> None:
    """Show what runs in each environment (or ENV): version, digest, health, alias, last deploy."""
    from ml.deploy.deploy import status as do_status

    rows = do_status(get_settings(), env)
    if as_json:
        echo_json(rows)
        return
    header = ("ENV", "PORT", "VERSION", "DIGEST", "STATE", "HEALTH", "ALIAS", "DEPLOYED")
    table = [header]
    for r in rows:
        alias = f"{r['alias']}={r['alias_version'] or '-'}"
        deployed = f"{r['deployed_at'] or '-'} by {r['deployed_by'] or '-'}"
        digest = (r["digest"] or "-")[:19]
        table.append(
            (
                r["env"],
                str(r["port"]),
                r["version"] or "-",
                digest,
                r["state"],
                r["health"] or "-",
                alias,
                deployed,
            )
        )
    from ml.common import format_table

    click.echo(format_table(table))
    for r in rows:
        if r["replicas"]:
            lines = [("", "REPLICA", "VERSION", "WEIGHT", "STATE", "REQUESTS")]
            for rep in r["replicas"]:
                weight = "-" if rep["weight"] is None else str(rep["weight"])
                requests = "-" if rep["requests"] is None else str(rep["requests"])
                lines.append(
                    ("", rep["name"], rep["version"] or "-", weight, rep["state"], requests)
                )
            click.echo(f"{r['env']} replicas:")
            click.echo(format_table(lines))
        if r["canary"]:
            click.echo(_canary_line(r["env"], r["canary"]))


def _canary_line(env: str, rec: dict) -> str:
    """`staging: canary of version 3 in progress: 10% of traffic since ..., until ...`."""
    import datetime

    c = rec.get("canary") or {}
    until = datetime.datetime.fromtimestamp(c.get("until_epoch", 0), datetime.UTC)
    return (
        f"{env}: canary of {rec['model']} version {rec['version']} in progress: "
        f"{c.get('percent', 0):g}% of traffic since {c.get('started_at', '?')}, watched until "
        f"{until.isoformat(timespec='seconds').replace('+00:00', 'Z')} by {rec['by']}"
    )
