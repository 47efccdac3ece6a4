"""`mlci jenkins`: configure and drive a Jenkins controller through its REST API."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ml.cli.common import echo_json, get_settings, handle_errors, json_option, progress
from ml.errors import CheckFailed, InputError

param_option = click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A parameter value (repeatable).",
)
poll_option = click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.01),
    default=2.0,
    show_default=True,
    help="Seconds between polls of the queue and the log.",
)


def _client():
    from ml.jenkins.client import JenkinsClient

    return JenkinsClient.from_settings(get_settings())


def _job(name: str) -> str:
    from ml.jenkins.builds import full_job_name

    return full_job_name(get_settings(), name)


@click.group()
def jenkins() -> None:
    """Configure and drive Jenkins: jobs, builds, approvals, credentials, plugins.

    The controller is jenkins.url in mlci.yaml; the user and API token come from the
    environment variables named by jenkins.user_env and jenkins.token_env. JOB names are
    relative to jenkins.folder (`release/deploy` is `ml/release/deploy`); a leading / starts
    at the root.
    """


@jenkins.command()
@click.option(
    "--dry-run", is_flag=True, help="Show what would change (with a diff); write nothing."
)
@click.option(
    "--jobs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of job definitions (default: jenkins.jobs_dir).",
)
@json_option
@handle_errors
def apply(dry_run: bool, jobs_dir: Path | None, as_json: bool) -> None:
    """Create the folder and jobs from jenkins/jobs/, update those that differ.

    Jobs equal to their definition are left untouched, so a second run makes no writes.
    """
    from ml.jenkins import jobs

    settings = get_settings()
    definitions = jobs.load_definitions(settings, jobs_dir)
    client = _client()
    changes = jobs.plan(client, settings, definitions)
    if not dry_run:
        jobs.apply(client, changes)
    if as_json:
        echo_json(
            {
                "dry_run": dry_run,
                "changes": [{"action": c.action, "name": c.name, "diff": c.diff} for c in changes],
            }
        )
        return
    verb = {
        "create-folder": "create folder",
        "create": "create",
        "update": "update",
        "unchanged": "unchanged",
    }
    for c in changes:
        prefix = "would " if dry_run and c.action != "unchanged" else ""
        click.echo(f"{prefix}{verb[c.action]}: {c.name}")
        if dry_run and c.action == "update" and c.diff:
            click.echo(c.diff)
    writes = sum(c.action != "unchanged" for c in changes)
    done = "would make" if dry_run else "made"
    click.echo(f"{done} {writes} change(s) on {settings.jenkins.url}")


@jenkins.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--api",
    type=click.Choice(["json", "text"]),
    default="json",
    show_default=True,
    help="Linter endpoint: validateJenkinsfile (json) or validate (text).",
)
@handle_errors
def lint(files: tuple[Path, ...], api: str) -> None:
    """Validate Jenkinsfiles with the controller's declarative linter (default: Jenkinsfile).

    A Jenkinsfile that calls an mlci library step is checked as the step's pipeline with the
    call's options."""
    from ml.jenkins import library

    settings = get_settings()
    paths = list(files) or [settings.path("Jenkinsfile")]
    client = _client()
    failed = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise InputError(f"{path}: cannot read the Jenkinsfile ({e.strerror})") from None
        errors = client.lint(library.lintable(text, settings.root, str(path)), api)
        if errors:
            failed.append(str(path))
            click.echo(f"{path}: invalid")
            for err in errors:
                click.echo(f"  {err}")
        else:
            click.echo(f"{path}: valid")
    if failed:
        raise CheckFailed("the declarative linter rejected " + ", ".join(failed))


@jenkins.command()
@click.argument("job")
@param_option
@click.option("--follow", is_flag=True, help="Stream the log and exit with the build's result.")
@click.option(
    "--queue-timeout",
    type=float,
    default=600.0,
    show_default=True,
    help="Seconds to wait for the build to leave the queue.",
)
@poll_option
@handle_errors
def build(
    job: str, params: tuple[str, ...], follow: bool, queue_timeout: float, poll_interval: float
) -> None:
    """Queue a build of JOB, wait for its number; with --follow stream its log.

    With --follow the exit code reflects the result: 0 SUCCESS, 1 anything else. A
    multibranch project is scanned (branch indexing) instead.
    """
    from ml.jenkins import builds

    name = _job(job)
    client = _client()
    queued = builds.start(
        client, name, builds.parse_params(params), poll=poll_interval, queue_timeout=queue_timeout
    )
    if queued.queue_id is None:
        click.echo(f"{name}: branch indexing requested")
        return
    progress(f"{name} #{queued.number}: {queued.url}")
    if not follow:
        click.echo(f"{name} #{queued.number}")
        return

    def write(text: str) -> None:
        click.echo(text, nl=False)
        sys.stdout.flush()

    info = builds.follow(client, name, queued.number, write, progress, poll=poll_interval)
    if info.get("description"):
        progress(f"description: {info['description']}")
    result = builds.check_result(name, info)
    progress(f"{name} #{queued.number} finished {result}")


def _answer(
    action: str, job: str, build_number: int, input_name: str | None, params: tuple[str, ...]
) -> None:
    from ml.jenkins import builds

    name = _job(job)
    key = builds.answer(
        _client(), name, build_number, input_name, action, builds.parse_params(params)
    )
    done = "approved" if action == "proceed" else "aborted"
    click.echo(f"{name} #{build_number}: input {key} {done}")


@jenkins.command()
@click.argument("job")
@click.argument("build_number", metavar="BUILD", type=int)
@click.option("--input", "input_name", help="Input id (default: the only pending input).")
@param_option
@handle_errors
def approve(job: str, build_number: int, input_name: str | None, params: tuple[str, ...]) -> None:
    """Approve (proceed) a pending input of JOB BUILD, with optional parameter values."""
    _answer("proceed", job, build_number, input_name, params)


@jenkins.command()
@click.argument("job")
@click.argument("build_number", metavar="BUILD", type=int)
@click.option("--input", "input_name", help="Input id (default: the only pending input).")
@handle_errors
def abort(job: str, build_number: int, input_name: str | None) -> None:
    """Abort (reject) a pending input of JOB BUILD; the build ends ABORTED."""
    _answer("abort", job, build_number, input_name, ())


@jenkins.command("approval-message")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--environment",
    default="production",
    show_default=True,
    help="Where the version would be deployed (for the question's wording).",
)
@click.option(
    "--rollback",
    "rollback_env",
    metavar="ENV",
    help="FILE is `mlci deploy status ENV --json`: describe rolling ENV back instead.",
)
@handle_errors
def approval_message(file: Path, environment: str, rollback_env: str | None) -> None:
    """Print the deploy job's approval question from FILE (`mlci model show --json`).

    The facts an approver decides on: gate verdict and primary metric, dataset, commit,
    approval so far, and the link to the training build's model-report page.
    """
    from ml.jenkins.approval_message import deploy_message, read_json, rollback_message

    doc = read_json(file)
    try:
        text = (
            rollback_message(doc, rollback_env)
            if rollback_env
            else deploy_message(doc, environment)
        )
    except InputError as e:
        raise InputError(f"{file}: {e}") from None
    click.echo(text)


@jenkins.group()
def credentials() -> None:
    """Jenkins credentials the pipelines use (mlci-registry, mlci-mlflow, mlci-jenkins)."""


@credentials.command("apply")
@click.option(
    "--store",
    default=None,
    help="A folder's full name for every credential (default: each credential's own folder "
    "under jenkins.folder; the global store is refused).",
)
@handle_errors
def credentials_apply(store: str | None) -> None:
    """Create or update credentials from environment variables; secrets are never printed.

    mlci-mlflow (MLFLOW_TRACKING_USERNAME/PASSWORD) in jenkins.folder, mlci-registry
    (registry.username_env/password_env) in its release/ folder, mlci-jenkins
    (MLCI_JENKINS_BOT_USER/TOKEN, the CI bot) in its ct/ and release/ folders, mlci-state
    (PGUSER/PGPASSWORD, only when state.url is set) in jenkins.folder; a pair that is not set
    is skipped, an empty or half-set pair is an error.
    """
    from ml.jenkins.credentials import apply_credentials, desired_credentials

    settings = get_settings()
    specs, skipped = desired_credentials(settings)
    for note in skipped:
        progress(f"skipped {note}")
    for cred_id, target, action in apply_credentials(_client(), settings, specs, store):
        click.echo(f"{action}: {cred_id} (store: {target})")


@jenkins.command()
@click.argument("job")
@click.argument("build_number", metavar="[BUILD]", required=False)
@json_option
@handle_errors
def status(job: str, build_number: str | None, as_json: bool) -> None:
    """Stages of a build with status and duration (stage view; default: last build)."""
    from ml.jenkins import builds

    name = _job(job)
    view = builds.stage_view(_client(), name, build_number)
    if as_json:
        echo_json(view)
        return
    click.echo(
        f"{name} {view.get('name')}  {view.get('status')}  "
        f"{view.get('durationMillis', 0) / 1000:.1f}s"
    )
    for stage in view.get("stages", []):
        line = (
            f"  {stage['name']:<28} {stage['status']:<22} "
            f"{stage.get('durationMillis', 0) / 1000:.1f}s"
        )
        if stage.get("error"):
            line += f"  {stage['error'].get('message', '')}"
        click.echo(line)


@jenkins.group()
def plugins() -> None:
    """The controller's plugins against the pinned list."""


@plugins.command("check")
@click.option(
    "--plugins-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Pinned list (default: jenkins/plugins.txt next to mlci.yaml).",
)
@handle_errors
def plugins_check(plugins_file: Path | None) -> None:
    """Compare installed plugins with jenkins/plugins.txt; exit 1 on any difference."""
    from ml.jenkins.plugins import compare, read_plugins_file

    settings = get_settings()
    path = plugins_file or settings.path("jenkins/plugins.txt")
    pinned = read_plugins_file(path)
    drift = compare(pinned, _client().plugins())
    for d in drift:
        click.echo(
            f"{d.name}: pinned {d.pinned}, "
            + (f"installed {d.installed}" if d.installed else "not installed")
        )
    if drift:
        raise CheckFailed(f"{len(drift)} of {len(pinned)} plugins differ from {path}")
    click.echo(f"all {len(pinned)} pinned plugins installed at their versions")
