"""`mlci train`: fit the configured pipeline and track the run in MLflow."""

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
    "--dataset",
    "dataset",
    metavar="VERSION|PATH",
    help="Snapshot version (e.g. 2025Q2) or CSV path; default: data.version.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Train even when a registered version or finished run recorded the same cache key "
    "(also: FORCE_RETRAIN=true).",
)
@json_option
@handle_errors
def train(dataset: str | None, no_cache: bool, as_json: bool) -> None:
    """Fit the sklearn Pipeline on the training split and log it to MLflow.

    First computes the training-cache key (code, config, params, seed, data digest, lock,
    platform); when a registered version or finished run recorded it, that run is reused
    ("cache hit: version N, key ...") and nothing is trained. Writes build/train/run.json
    (run id, model URI, dataset version and digest, split) for `mlci evaluate` and
    `mlci model register`.
    """
    from ml.train import train_model

    result = train_model(
        get_settings(), dataset, say=progress, session=get_session(), use_cache=not no_cache
    )
    rec = result.record
    hit = result.cache_hit
    if as_json:
        echo_json(
            {
                "run_id": rec.run_id,
                "model_uri": rec.model_uri,
                "dataset": {"version": rec.dataset_version, "digest": rec.dataset_digest},
                "run_file": str(result.run_file),
                "seconds": round(result.seconds, 3),
                "cache": {
                    "key": result.cache_key,
                    "hit": hit is not None,
                    "version": hit.version if hit else None,
                },
            }
        )
        return
    if hit is not None:
        click.echo(f"{hit.describe()}; reused run {rec.run_id}; wrote {result.run_file}")
        return
    click.echo(
        f"trained run {rec.run_id} on {rec.dataset_version} "
        f"({rec.split.n_train} rows, {rec.split.n_test} held out) in "
        f"{result.seconds:.1f}s; model {rec.model_uri}; wrote {result.run_file}"
    )
