"""`mlci evaluate`: the evaluation gate on the held-out split."""

from __future__ import annotations

import click

from ml.cli.common import (
    echo_json,
    get_session,
    get_settings,
    handle_errors,
    json_option,
    progress,
)


@click.command()
@click.option(
    "--run",
    "run_id",
    metavar="RUN_ID",
    help="MLflow run to evaluate; default: the run in build/train/run.json.",
)
@json_option
@handle_errors
def evaluate(run_id: str | None, as_json: bool) -> None:
    """Score the held-out rows; apply thresholds, the champion check and the model behaviour
    checks; exit 1 if any fails.

    Writes build/evaluate/: metrics.json, junit.xml (gates), behaviour.xml (behaviour checks),
    summary.md, plots for the task (confusion_matrix.png; binary roc_curve.png, pr_curve.png;
    regression predicted_vs_actual.png, residuals.png) and smoke_samples.json, and logs them
    to the run.
    """
    from ml.evaluate import evaluate_run

    result = evaluate_run(get_settings(), run_id, say=progress, session=get_session())
    if as_json:
        echo_json(
            {
                "run_id": result.run_id,
                "verdict": result.verdict.word,
                "metrics": result.metrics,
                "failures": [c.message for c in result.verdict.failures],
                "out_dir": str(result.out_dir),
            }
        )
    else:
        for name, value in result.metrics.items():
            click.echo(f"{name:<10} {value:.4f}")
        click.echo(f"gate {result.verdict.word}; reports in {result.out_dir}")
    result.raise_if_failed()
