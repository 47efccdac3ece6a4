"""`mlci reproduce [NAME] VERSION`: rebuild a registered version and compare it."""

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


@click.command()
@model_version_arguments(metavar="VERSION|ALIAS")
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Largest |difference| allowed in predicted probabilities/values and metrics "
    "(0: exact, for deterministic estimators).",
)
@click.option(
    "--in",
    "where",
    type=click.Choice(["auto", "image", "venv"]),
    default="auto",
    show_default=True,
    help="Where to retrain: the stage image built from the recorded commit, this interpreter "
    "or a venv from the recorded lock; auto: where the version was trained (env.stage_image).",
)
@click.option("--keep", is_flag=True, help="Keep the temporary worktree and store (debugging).")
@json_option
@handle_errors
def reproduce(
    name: str | None, version: str, tolerance: float, where: str, keep: bool, as_json: bool
) -> None:
    """Rebuild model VERSION from what it recorded and compare it with the registered model.

    Checks out the recorded git commit in a temporary worktree, fetches the dataset by digest
    from the DVC remote, uses the recorded lock and settings, retrains, then compares
    predictions on the held-out rows, metrics and a canonical hash of the fitted model. Exit 0
    when identical, 1 naming what differs (code, data, lock, params, platform...), 2 when
    something recorded is missing (commit, dataset, record).
    """
    from ml.reproduce import reproduce_version, verdict

    report = reproduce_version(
        get_settings(), name, version, tolerance=tolerance, keep=keep, say=progress, where=where
    )
    if as_json:
        echo_json(report.to_dict())
    else:
        state = "identical" if report.identical else "DIFFERS: " + ", ".join(report.differs)
        click.echo(
            f"{report.model} version {report.version} (commit {report.commit[:12]}, dataset "
            f"{report.dataset['version']} md5 {report.dataset['digest']}): {state}"
        )
        for c in report.checks:
            mark = {"same": "same   ", "differs": "DIFFERS", "note": "note   "}[c.status]
            extra = f"  {c.detail}" if c.detail else ""
            if c.status != "same" and c.detail == "" and c.recorded != c.reproduced:
                extra = f"  recorded {c.recorded}, reproduced {c.reproduced}"
            click.echo(f"  {mark} {c.name}{extra}")
        fit = report.original_fit_seconds
        click.echo(
            f"environment: {report.environment.get('strategy')}; took {report.seconds:.1f}s"
            + (f" (original fit {fit:.1f}s)" if fit is not None else "")
        )
    verdict(report)
