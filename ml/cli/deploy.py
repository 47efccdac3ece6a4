"""`mlci deploy`: put an approved model image into an environment, roll back, show status."""

from __future__ import annotations

from dataclasses import asdict

import click

from ml.cli.common import echo_json, get_settings, handle_errors, json_option, progress

LOCK_TIMEOUT_HELP = "Seconds to wait for another deploy to the same environment (default 300)."


class DeployGroup(click.Group):
    """`mlci deploy ENV NAME VERSION` is shorthand for `mlci deploy run ENV NAME VERSION`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DeployGroup)
def deploy() -> None:
    """Deploy model versions to environments, roll back, and show what runs where.

    `mlci deploy ENV NAME VERSION` deploys (same as `mlci deploy run`). Exit codes: 2 bad input,
    3 not approved (or not yet deployed to the environment it requires), 4 Docker/MLflow
    unreachable or the environment is locked, 5 a check failed and the old version keeps serving.
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
@click.argument("name")
@click.argument("version")
@click.option(
    "--lock-timeout", type=float, default=300.0, show_default=True, help=LOCK_TIMEOUT_HELP
)
@json_option
@handle_errors
def run(env: str, name: str, version: str, lock_timeout: float, as_json: bool) -> None:
    """Deploy model NAME version VERSION to environment ENV.

    Pulls the pushed image by digest, starts it beside the running one, waits for /ready,
    replays the recorded smoke samples, checks /metadata, then switches the stable port to it
    and stops the old container. On any failure the old container keeps serving.
    """
    from ml.deploy.deploy import deploy as do_deploy

    rec = do_deploy(
        get_settings(), env, name, version, lock_timeout=lock_timeout, progress=progress
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
