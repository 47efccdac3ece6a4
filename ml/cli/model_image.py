"""`mlci model build|push|inspect`: model images (attached to the `model` group in model.py)."""

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


def _mb(n: int | None) -> str:
    return f"{(n or 0) / 1e6:.1f} MB"


@click.command("build")
@model_version_arguments
@click.option(
    "--runtime",
    type=click.Choice(["auto", "onnx", "sklearn"]),
    default="auto",
    show_default=True,
    help="auto: ONNX when conversion and the parity check pass, else scikit-learn.",
)
@json_option
@handle_errors
def build(name: str | None, version: str, runtime: str, as_json: bool) -> None:
    """Build the serving image of a model version, with lineage labels.

    The model is compiled to ONNX and checked against scikit-learn on real rows; when either
    fails the image serves the scikit-learn model instead (labels and /metadata say which).
    The build is hermetic: dependencies come from a wheelhouse built on this host.
    """
    from ml.image.build import build_model_image

    result = build_model_image(get_settings(), name, version, runtime=runtime, progress=progress)
    if as_json:
        echo_json(result.to_json())
        return
    click.echo(f"built {result.image} ({result.image_id[:19]})")
    click.echo(f"  task     {result.task}")
    click.echo(f"  runtime  {result.runtime}: {result.runtime_reason}")
    click.echo(
        f"  size     {_mb(result.size_bytes)} ({_mb(result.added_bytes)} on top of the base)"
    )
    click.echo(f"  took     {result.seconds:.1f}s")


@click.command("push")
@model_version_arguments
@click.option(
    "--attempts",
    type=click.IntRange(1, 10),
    default=3,
    show_default=True,
    help="Push attempts on transient registry errors (exponential backoff).",
)
@click.option(
    "--backoff",
    type=click.FloatRange(0),
    default=2.0,
    show_default=True,
    help="Seconds before the first retry; doubles each time.",
)
@json_option
@handle_errors
def push(name: str | None, version: str, attempts: int, backoff: float, as_json: bool) -> None:
    """Push an approved model version's image to the registry and record its digest.

    Refuses (exit 3) a version that is not approved. Credentials come from the variables named
    by registry.username_env / registry.password_env, else the docker config. The digest is
    confirmed through the registry's v2 API before image.ref and image.digest are written;
    a failed push (exit 4) leaves those tags unchanged.
    """
    from ml.image.push import push_model_image

    result = push_model_image(
        get_settings(), name, version, attempts=attempts, backoff=backoff, progress=progress
    )
    if as_json:
        echo_json(result.to_json())
    else:
        click.echo(f"pushed {result.image_ref}@{result.digest}")


@click.command("inspect")
@click.argument("image")
@json_option
@handle_errors
def inspect_image(image: str, as_json: bool) -> None:
    """Print the lineage labels of IMAGE (local, or pulled from its registry)."""
    from ml.image.push import inspect_image as inspect_

    settings = None
    try:
        settings = get_settings()
    except Exception:
        settings = None
    view = inspect_(image, settings)
    if as_json:
        echo_json(view)
        return
    click.echo(f"image    {view['image']}")
    click.echo(f"id       {view['id']}")
    for d in view["repo_digests"]:
        click.echo(f"digest   {d}")
    for section in ("oci", "mlci", "metrics"):
        for key, value in view[section].items():
            click.echo(f"{section}.{key:<28} {value}")
