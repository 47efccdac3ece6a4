"""`mlci ct`: continuous training checks and the retraining trigger."""

from __future__ import annotations

from pathlib import Path

import click

from ml.cli.common import echo_json, get_settings, handle_errors, json_option, progress


@click.group()
def ct() -> None:
    """Continuous training: decide whether to retrain, and start the training job."""


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    return "-" if value is None else str(value)


@ct.command("check")
@click.option(
    "--dataset",
    "dataset",
    metavar="VERSION",
    help="Dataset version or CSV path to check (default: the newest snapshot).",
)
@click.option(
    "--trigger",
    is_flag=True,
    help="When retraining is due, queue the Jenkins training job (ct.job) with "
    "the reasons and the dataset version as parameters.",
)
@click.option(
    "--live",
    "live_env",
    metavar="ENV",
    help="Check the inputs logged by ENV's serving containers (the prediction log) instead "
    "of a snapshot: drift only (no labels, no digest).",
)
@click.option(
    "--since",
    metavar="WHEN",
    help="With --live: only requests since an ISO time (2026-12-01T10:00Z) or an age (2h, 1d).",
)
@json_option
@click.pass_context
@handle_errors
def check(
    ctx: click.Context,
    dataset: str | None,
    trigger: bool,
    live_env: str | None,
    since: str | None,
    as_json: bool,
) -> None:
    """Decide whether to retrain from new data, performance drop and drift.

    Prints every signal with its value and bound, writes build/ct/report.json and
    build/ct/drift.png. Exit code 10 means "retrain", 0 "no action" (errors keep 2-4).
    """
    from ml.ct.check import run_check, trigger_training
    from ml.errors import InputError

    settings = get_settings()
    live = None
    if since and not live_env:
        raise InputError("--since applies to --live ENV only")
    if live_env:
        from ml.ct.live import live_inputs

        live = live_inputs(settings, live_env, since)
    report = run_check(settings, dataset, live=live)
    if trigger and report.retrain:
        build = trigger_training(settings, report)
        progress(
            f"ct: queued {build['job']} (queue item {build['queue_id']}) with {build['parameters']}"
        )
    if as_json:
        echo_json(report.to_dict())
    else:
        ds = report.dataset
        champ = report.champion
        if report.live:
            lv = report.live
            click.echo(
                f"live inputs of {lv['env']}: {lv['records']} logged predictions "
                f"{lv['first']} .. {lv['last']} (versions {_fmt(lv['versions'])})"
            )
        click.echo(
            f"dataset {ds['version']} ({ds['digest']}) vs champion "
            + (f"v{champ['version']} trained on {champ['dataset_version']}" if champ else "(none)")
        )
        rows = [("SIGNAL", "TRIGGERED", "VALUE", "BOUND", "DETAIL")]
        for s in report.signals:
            state = ("yes" if s.triggered else "no") if s.evaluated else "n/a"
            rows.append((s.name, state, _fmt(s.value), _fmt(s.bound), s.detail))
        if report.drift:
            rows.append(("", "", "", "", ""))
            rows.append(("COLUMN", "DRIFT", "PSI / DIST / p", "BOUND", "DETAIL"))
            for d in report.drift:
                name = d.feature if d.role == "feature" else f"{d.role}:{d.feature}"
                rows.append(
                    (
                        name,
                        "yes" if d.drifted else "no",
                        f"{d.psi:.3f} / {d.distance_name} {d.distance:.3f} / {d.p_value:.1e}",
                        f"{d.psi_bound:g} / {d.distance_bound:g} / {d.p_value_bound:g}",
                        d.reason,
                    )
                )
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            click.echo(
                "  ".join(
                    [*(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)), r[4]]
                ).rstrip()
            )
        if report.drift_sample:
            n = report.drift_sample
            click.echo(
                f"drift sample: {n['reference']} of {n['reference_rows']} reference rows, "
                f"{n['current']} of {n['current_rows']} current rows "
                f"(ct.drift.sample_size {n['sample_size']})"
            )
        if report.plot:
            click.echo(f"drift plot: {report.plot}")
        reasons = ", ".join(report.reasons)
        click.echo(f"decision: {report.decision}" + (f" ({reasons})" if reasons else ""))
        if report.triggered_build:
            b = report.triggered_build
            click.echo(f"queued: {b['job']} queue item {b['queue_id']}")
    ctx.exit(report.exit_code)


@ct.command("score-live")
@click.argument("env")
@click.option(
    "--labels",
    "labels_csv",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV of late labels: the target column and request_id (+ row) or data.id_column.",
)
@click.option("--version", metavar="N", help="Version to score (default: most labelled).")
@click.option("--since", metavar="WHEN", help="Only requests since an ISO time or an age (2h).")
@json_option
@click.pass_context
@handle_errors
def score_live_cmd(
    ctx: click.Context,
    env: str,
    labels_csv: Path,
    version: str | None,
    since: str | None,
    as_json: bool,
) -> None:
    """Score the version that served ENV on its logged requests, once their labels arrive.

    Joins the labels to the prediction log by request id (the x-request-id the server
    returned) or by the data id column. Exit code 10 when the metric is past its bound or fell
    more than ct.performance.max_drop below its recorded value, 0 otherwise.
    """
    from ml.ct.check import RETRAIN_EXIT_CODE
    from ml.ct.live import score_live

    settings = get_settings()
    score = score_live(settings, env, labels_csv, version=version, since=since)
    if as_json:
        echo_json(score.to_dict())
    else:
        click.echo(
            f"{score.model} version {score.version} in {env}: {score.matched} of "
            f"{score.labels} labels matched a logged prediction by {score.join} "
            f"({score.logged} logged)"
        )
        for name, value in score.metrics.items():
            click.echo(f"  {name:<12} {_fmt(value)}")
        click.echo(
            f"{'retrain' if score.below else 'no_action'}: {score.detail} "
            f"(bound {_fmt(score.bound)}, recorded {_fmt(score.recorded)})"
        )
    ctx.exit(RETRAIN_EXIT_CODE if score.below else 0)


@ct.command("predictions")
@click.argument("env")
@click.option("--since", metavar="WHEN", help="Only requests since an ISO time or an age (2h).")
@click.option("--version", metavar="N", help="Only requests answered by this version.")
@click.option("--limit", type=int, metavar="N", help="Only the newest N records.")
@json_option
@handle_errors
def predictions_cmd(
    env: str, since: str | None, version: str | None, limit: int | None, as_json: bool
) -> None:
    """Show ENV's prediction log (and ship it to state.url when set).

    Without --json: how many records per version and container, and their time range; with
    --json: the records themselves.
    """
    from ml.deploy.predictions import read_predictions

    settings = get_settings()
    records = read_predictions(settings, env, version=version, since=since, limit=limit)
    if as_json:
        echo_json(records)
        return
    if not records:
        click.echo(f"no logged predictions in {env}")
        return
    groups: dict[tuple[str, str], int] = {}
    for r in records:
        k = (str(r.get("version")), str(r.get("container")))
        groups[k] = groups.get(k, 0) + 1
    click.echo(
        f"{len(records)} logged predictions in {env}, {records[0]['ts']} .. {records[-1]['ts']}"
    )
    for (v, c), n in sorted(groups.items()):
        click.echo(f"  version {v:<6} {c:<40} {n}")
