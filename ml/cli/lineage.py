"""`mlci lineage`: the trail from a model version, an image or a commit to everything else."""

from __future__ import annotations

import click

from ml.cli.common import (
    echo_json,
    get_settings,
    handle_errors,
    json_option,
    model_version_arguments,
)


@click.group()
def lineage() -> None:
    """Trace commit <-> dataset <-> MLflow run <-> model version <-> image <-> deployments.

    Exit 1 when the links disagree (e.g. an image whose digest is not the one recorded for
    its model version), so a build can gate on it.
    """


def _emit(traces: list, as_json: bool) -> None:
    if as_json:
        echo_json([t.to_dict() for t in traces] if len(traces) != 1 else traces[0].to_dict())
    else:
        for t in traces:
            click.echo(_render(t))
    problems = [p for t in traces for p in t.problems]
    if problems:
        raise click.exceptions.Exit(1)


def _render(t) -> str:
    m, c, d, r, i = t.model, t.code, t.data, t.run, t.image
    appr = m["approval"]
    lines = [
        f"model     {m['name']} version {m['version']}"
        + (f"  aliases: {', '.join(m['aliases'])}" if m["aliases"] else ""),
        f"  gate      {m['gate'] or '-'}",
        f"  approval  {appr['status']}"
        + (f" by {appr['by']} at {appr['at']}" if appr["by"] else "")
        + (f" ({appr['reason']})" if appr["reason"] else ""),
        f"code      commit {c['commit'] or '-'}  branch {c['branch'] or '-'}"
        f"  dirty {c['dirty'] or '-'}",
        f"  lock      {c['lock_hash'] or '-'}",
        f"data      {d.get('version') or '-'}  md5 {d.get('digest') or '-'}"
        + (f"  (.dvc: {d['dvc_md5']})" if d.get("dvc_md5") else ""),
        f"run       {r.get('id', '-')}",
    ]
    for key in ("roc_auc", "f1", "accuracy", "log_loss"):
        for metric, value in r.get("metrics", {}).items():
            if metric.endswith(key) and not metric.startswith("train"):
                lines.append(f"  {metric:<22}{value}")
                break
    lines.append(
        f"image     {i.get('ref') or '-'}" + (f"@{i['digest']}" if i.get("digest") else "")
    )
    for dep in t.deployments:
        lines.append(f"deployed  {dep['env']:<11} {dep['action']:<9} {dep['at']} by {dep['by']}")
    lines += [f"WARNING   {w}" for w in t.warnings]
    lines += [f"PROBLEM   {p}" for p in t.problems]
    return "\n".join(lines)


@lineage.command("version")
@model_version_arguments
@json_option
@handle_errors
def version_cmd(name: str | None, version: str, as_json: bool) -> None:
    """The trail of a model version: commit, dataset, run, approval, image, deployments."""
    from ml.lineage.trace import trace_version

    _emit([trace_version(get_settings(), name, version)], as_json)


@lineage.command("image")
@click.argument("image")
@json_option
@handle_errors
def image_cmd(image: str, as_json: bool) -> None:
    """Start from an image reference: read its labels, find and cross-check its model version."""
    from ml.lineage.trace import trace_image

    _emit([trace_image(get_settings(), image)], as_json)


@lineage.command("commit")
@click.argument("sha")
@click.option("--name", metavar="MODEL", help="Registered model name; default: mlflow.model_name.")
@json_option
@handle_errors
def commit_cmd(sha: str, name: str | None, as_json: bool) -> None:
    """Every model version trained from a git commit (7+ hex digits of its SHA)."""
    from ml.lineage.trace import versions_from_commit

    traces = versions_from_commit(get_settings(), sha, name)
    if not traces:
        raise click.ClickException(f"no version of the model was trained from commit {sha}")
    _emit(traces, as_json)
