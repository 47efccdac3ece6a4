"""`mlci ct`: continuous training checks and the retraining trigger."""

from __future__ import annotations

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
@json_option
@click.pass_context
@handle_errors
def check(ctx: click.Context, dataset: str | None, trigger: bool, as_json: bool) -> None:
    """Decide whether to retrain from new data, performance drop and drift.

    Prints every signal with its value and bound, writes build/ct/report.json and
    build/ct/drift.png. Exit code 10 means "retrain", 0 "no action" (errors keep 2-4).
    """
    from ml.ct.check import run_check, trigger_training

    settings = get_settings()
    report = run_check(settings, dataset)
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
