"""`mlci pipeline run`: the CI stages in order on this machine."""

from __future__ import annotations

import traceback

import click

from ml.cli.common import (
    CliState,
    MlciClickError,
    echo_json,
    get_settings,
    handle_errors,
    json_option,
    progress,
)
from ml.session import Session


def invoke_in_process(argv: list[str], session: Session | None = None) -> int:
    """Run `mlci <argv>` in this process (sharing `session`) and return its exit code."""
    from ml.cli import cli

    try:
        cli.main(
            args=argv,
            prog_name="mlci",
            standalone_mode=False,
            obj=CliState(session=session),
        )
    except MlciClickError as e:
        e.show()
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Abort:
        progress("Aborted!")
        return 1
    except Exception:
        progress(traceback.format_exc())
        return 1
    return 0


@click.group()
def pipeline() -> None:
    """Run the pipeline stages locally, exactly as Jenkins runs them."""


@pipeline.command("run")
@click.option(
    "--from",
    "start",
    metavar="STAGE",
    help="First stage to run (test when evaluate.tests is set, validate, train, evaluate, "
    "register).",
)
@click.option("--to", "stop", metavar="STAGE", help="Last stage to run.")
@click.option(
    "--dataset",
    metavar="VERSION|PATH",
    help="Dataset for validate and train; default: data.version.",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "subprocess", "docker"]),
    default="local",
    show_default=True,
    help="local: stages run in this process (fast); subprocess: one process each; docker: "
    "each stage in the stage image (image.ci_image), workspace mounted as Jenkins does.",
)
@click.option(
    "--speculate/--no-speculate",
    default=True,
    show_default=True,
    help="local: fit in memory while validation runs; the train stage (its MLflow run) still "
    "waits for validation to pass, and a failed validation discards the fit.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Retrain even when the training-cache key is already on a registered version or "
    "finished run (also: FORCE_RETRAIN=true).",
)
@json_option
@click.pass_context
@handle_errors
def run(
    ctx: click.Context,
    start: str | None,
    stop: str | None,
    dataset: str | None,
    executor: str,
    speculate: bool,
    no_cache: bool,
    as_json: bool,
) -> None:
    """[test ->] validate -> train -> evaluate -> register; stops at the first failure.

    `test` (the project's own model tests, `mlci model test`) runs when evaluate.tests is set.
    The run exits with the failing stage's exit code.

    Progress goes to stderr; a table of per-stage status and timings ends the run (also written
    to build/pipeline/summary.json).
    """
    from ml.pipeline import run_local

    result = run_local(
        get_settings(),
        ctx.find_object(CliState).config_path,
        invoke_in_process,
        dataset,
        start,
        stop,
        executor,
        speculate,
        say=progress,
        use_cache=not no_cache,
    )
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(result.table())
    ctx.exit(result.exit_code)


@pipeline.command("ci-image")
@click.option("--tag", metavar="IMAGE", help="Image tag; default: image.ci_image.")
@click.option("--no-cache", is_flag=True, help="Rebuild every layer (a cold build).")
@json_option
@handle_errors
def ci_image(tag: str | None, no_cache: bool, as_json: bool) -> None:
    """Build the stage image (docker/ci.Dockerfile) that `--executor docker` and Jenkins use.

    Hermetic: the wheelhouse of locks/requirements.txt is built on this host first, and the
    image installs from it with --no-index.
    """
    from ml.image.stage import build_ci_image

    result = build_ci_image(get_settings(), tag, no_cache=no_cache, progress=progress)
    if as_json:
        echo_json(result)
    else:
        click.echo(f"built {result['image']} ({result['image_id'][:19]}) in {result['seconds']}s")
