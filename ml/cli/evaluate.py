"""`mlci evaluate`: the evaluation gate on the held-out split."""

from __future__ import annotations

import click

from ml.cli.common import echo_json, get_settings, handle_errors, json_option, progress


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
    """Score the held-out rows, apply thresholds and the champion check; exit 1 if it fails.

    Writes build/evaluate/: metrics.json, junit.xml, summary.md, confusion_matrix.png,
    roc_curve.png, pr_curve.png and smoke_samples.json, and logs them to the run.
    """
    from ml.evaluate import evaluate_run

    result = evaluate_run(get_settings(), run_id, say=progress)
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
