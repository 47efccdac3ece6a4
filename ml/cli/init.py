"""`mlci init`: start a project (mlci.yaml, data contract, first dataset version) from a CSV."""

from __future__ import annotations

from pathlib import Path

import click

from ml.cli.common import handle_errors, progress


@click.command("init")
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The CSV to start from (header row, one row per example); copied as the first "
    "dataset version.",
)
@click.option("--target", required=True, help="The column to predict.")
@click.option(
    "--task",
    type=click.Choice(["auto", "binary", "multiclass", "regression"]),
    default="auto",
    show_default=True,
    help="What the target is; auto infers it (text or 2-20 whole-number classes -> "
    "classification, other numbers -> regression; see docs/data.md).",
)
@click.option(
    "--id",
    "id_column",
    default=None,
    help="Column naming each row (unique, never a feature); default: detected from its name "
    "(id, *_id) and uniqueness, or none.",
)
@click.option(
    "--name", default=None, help="Project name (model, image, experiment); default: the folder's."
)
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite mlci.yaml, the contract, the snapshot and the Jenkinsfiles.",
)
@handle_errors
def init(
    data: Path,
    target: str,
    task: str,
    id_column: str | None,
    name: str | None,
    force: bool,
) -> None:
    """Create mlci.yaml, a data contract and data/snapshots/ from a CSV in this folder.

    Profiles the CSV, infers the task, splits the features, derives the gate from a baseline
    and checks the new contract on the CSV before writing anything. Refuses to overwrite
    existing files without --force. Then `mlci pipeline run` works as is.
    """
    from ml.project.init import init_project

    result = init_project(
        Path.cwd(), data, target, task, id_column, name, force, on_progress=progress
    )
    p = result.profile
    click.echo(f"project {result.name}: {p.task} on {p.target!r} ({p.task_reason})")
    click.echo(f"  rows {p.rows}, id column: {p.id_column or 'none'}")
    if p.positive_class is not None:
        click.echo(f"  positive class: {p.positive_class!r} (minority; counts {p.class_counts})")
    click.echo(f"  numeric features ({len(p.numeric)}): {', '.join(p.numeric) or '-'}")
    click.echo(f"  categorical features ({len(p.categorical)}): {', '.join(p.categorical) or '-'}")
    for c in p.ignored:
        click.echo(f"  left out: {c.name} ({c.note})")
    b = result.baseline
    click.echo(f"gate (baseline: {b.folds}-fold CV on {b.rows} rows; bound halfway to the model):")
    for t in b.thresholds:
        click.echo(
            f"  {t.metric:<9} dummy {t.baseline:.4f}  model {t.model:.4f}  -> {t.side} {t.bound:g}"
        )
    for w in b.warnings:
        click.echo(f"  warning: {w}")
    for path in result.written:
        click.echo(f"wrote {path.relative_to(result.root)}")
    secs = ", ".join(f"{k} {v:.2f}s" for k, v in result.seconds.items())
    click.echo(f"init took {sum(result.seconds.values()):.2f}s ({secs})")
    click.echo("next: mlci pipeline run")
