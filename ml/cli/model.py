"""`mlci model`: register, list, inspect, approve, reject and promote model versions."""

from __future__ import annotations

import click

from ml.cli.common import (
    echo_json,
    get_settings,
    handle_errors,
    json_option,
    model_version_arguments,
    progress,
)


def _registry():
    from ml.registry import ModelRegistry

    return ModelRegistry(get_settings())


def _who(by: str | None) -> str:
    from ml.common import current_user

    return current_user(by)


def _line(v) -> str:
    from ml.registry import tags as T

    aliases = ",".join(v.aliases) or "-"
    return (
        f"{v.version:>4}  {v.approval!s:<9} {aliases:<22} "
        f"{v.tags.get(T.DATASET_VERSION, '-'):<10} {v.tags.get(T.GIT_COMMIT, '-')[:12]:<12} "
        f"{v.created_at}"
    )


name_option = click.option(
    "--name", metavar="MODEL", help="Registered model name; default: mlflow.model_name."
)
by_option = click.option(
    "--by", metavar="WHO", help="Who decides; default: $BUILD_USER_ID, then $USER."
)


@click.group()
def model() -> None:
    """Manage model versions in the MLflow registry (aliases, approvals)."""


@model.command("register")
@click.option(
    "--run",
    "run_id",
    metavar="RUN_ID",
    help="Evaluated run to register; default: the run in build/train/run.json.",
)
@click.option(
    "--build-url",
    metavar="URL",
    envvar="BUILD_URL",
    help="The CI build registering it, kept as tag ci.build_url (default: $BUILD_URL, which "
    "Jenkins sets).",
)
@json_option
@handle_errors
def register(run_id: str | None, build_url: str | None, as_json: bool) -> None:
    """Register the evaluated run as a pending version with alias `challenger`.

    Refuses (exit 1, nothing registered) unless the run passed the evaluation gate.
    """
    from ml.registry.register import register_run

    reg = register_run(get_settings(), run_id, build_url)
    info = reg.version
    if as_json:
        echo_json({**info.to_dict(), "created": reg.created})
    elif reg.created:
        click.echo(
            f"registered {info.name} version {info.version} "
            f"(approval {info.approval}, aliases {', '.join(info.aliases)})"
        )
    else:
        click.echo(
            f"run {info.run_id} is already registered as {info.name} version "
            f"{info.version} (approval {info.approval}); nothing changed"
        )


@model.command("list")
@name_option
@json_option
@handle_errors
def list_(name: str | None, as_json: bool) -> None:
    """List versions, newest first, with approval state, aliases, dataset and commit."""
    versions = _registry().list_versions(name)
    if as_json:
        echo_json([v.to_dict() for v in versions])
        return
    if not versions:
        click.echo("no versions registered")
        return
    click.echo(
        f"{'ver':>4}  {'approval':<9} {'aliases':<22} {'dataset':<10} {'commit':<12} registered"
    )
    for v in versions:
        click.echo(_line(v))


@model.command("show")
@model_version_arguments(metavar="VERSION|ALIAS")
@json_option
@handle_errors
def show(name: str | None, version: str, as_json: bool) -> None:
    """Show one version (by number or alias): source, run, aliases and every tag."""
    v = _registry().resolve(name, version)
    if as_json:
        echo_json(v.to_dict())
        return
    click.echo(f"{v.name} version {v.version}")
    click.echo(f"  approval: {v.approval}")
    click.echo(f"  aliases:  {', '.join(v.aliases) or '-'}")
    click.echo(f"  run:      {v.run_id}")
    click.echo(f"  source:   {v.source}")
    click.echo(f"  created:  {v.created_at}")
    for k, val in sorted(v.tags.items()):
        click.echo(f"  {k}: {val}")


@model.command("approve")
@model_version_arguments
@click.option(
    "--by",
    metavar="WHO",
    help="Who decides; default: $BUILD_USER_ID, then $USER. With --jenkins-build: the "
    "submitter Jenkins reports (checked against it).",
)
@click.option("--reason", help="Why it is approved (recorded as approval.reason).")
@click.option(
    "--jenkins-build",
    metavar="URL",
    help="Prove the approval by this Jenkins build's answered input (e.g. $BUILD_URL); "
    "default: sign with the local approver key.",
)
@click.option(
    "--input-id",
    metavar="ID",
    help="Id of the answered input of --jenkins-build, as Jenkins spells it (e.g. Promote).",
)
@handle_errors
def approve(
    version: str,
    name: str | None,
    by: str | None,
    reason: str | None,
    jenkins_build: str | None,
    input_id: str | None,
) -> None:
    """Approve a version with a proof: records who, when (UTC) and why.

    Without --jenkins-build the approval is signed with your approver key
    ($XDG_CONFIG_HOME/mlci/approver-ed25519.pem, made on first use). With it, Jenkins' API
    must show that an approver answered the input; the submitter comes from Jenkins.
    """
    from ml.errors import InputError

    settings = get_settings()
    reg = _registry()
    if jenkins_build or input_id:
        from ml.registry.proofs.jenkins import JenkinsInputProof

        if not (jenkins_build and input_id):
            raise InputError("--jenkins-build and --input-id go together")
        prover = JenkinsInputProof(settings, jenkins_build, input_id)
        info = reg.get_version(name, version)
        who = prover.submitter(info.name, info.version, by)
    else:
        from ml.registry.proofs.local import LocalKeyProof

        prover = LocalKeyProof(settings)
        who = _who(by)
    v = reg.approve(name, version, who, reason, prover=prover)
    created = getattr(prover, "created", None)
    if created is not None:
        progress(
            f"created your approver key {created} (mode 600; keep it private). Approvals you "
            f"sign count on this machine; for CI and your team, add its public key to "
            f"mlci.yaml:\n  approval:\n    trusted_keys:\n      - {prover.public_line()}"
        )
    click.echo(f"approved {v.name} version {v.version} by {who}")


@model.command("reject")
@model_version_arguments
@by_option
@click.option("--reason", required=True, help="Why it is rejected (required).")
@handle_errors
def reject(version: str, name: str | None, by: str | None, reason: str) -> None:
    """Reject a version: records who, when (UTC) and why; it can never be promoted."""
    v = _registry().reject(name, version, _who(by), reason)
    click.echo(f"rejected {v.name} version {v.version} by {_who(by)}: {reason}")


@model.command("promote")
@model_version_arguments
@by_option
@handle_errors
def promote(version: str, name: str | None, by: str | None) -> None:
    """Move alias `champion` to an approved version (exit 3 if it is not approved)."""
    reg = _registry()
    previous = reg.promote(name, version, _who(by))
    v = reg.get_version(name, version)
    was = f" (was version {previous.version})" if previous else ""
    progress(f"champion of {v.name}: version {v.version}{was}")
    click.echo(f"promoted {v.name} version {v.version} to champion{was}")


@model.command("test")
@click.pass_context
@handle_errors
def test(ctx: click.Context) -> None:
    """Run the project's own model tests (pytest on evaluate.tests); exit 1 if one fails.

    The pipeline's `test` stage; writes JUnit XML to build/test/junit.xml.
    """
    from pathlib import Path

    from ml.cli.common import CliState
    from ml.train.user_tests import run_user_tests

    state = ctx.find_object(CliState)
    config = Path(state.config_path) if state and state.config_path else None
    result = run_user_tests(get_settings(), config, say=progress)
    click.echo(f"model tests in {result.folder} passed; JUnit in {result.junit}")


# Model images (build, push, inspect) live in their own module; attached here.
from ml.cli.model_image import build, inspect_image, push  # noqa: E402

model.add_command(build)
model.add_command(push)
model.add_command(inspect_image)
