"""Driving builds: queue one, wait for its number, stream its log, answer its inputs, read stages.

Job names are relative to jenkins.folder (`release/deploy` -> `ml/release/deploy`, `train/main` ->
`ml/train/main`); a leading `/` names a job from the controller's root.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ml.config import Settings
from ml.errors import CheckFailed, InputError, ServiceError
from ml.jenkins.client import JenkinsClient, job_url_path, missing_job

MULTIBRANCH = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
PARAMS_PROPERTY = "hudson.model.ParametersDefinitionProperty"


def full_job_name(settings: Settings, job: str) -> str:
    if job.startswith("/"):
        return job.strip("/")
    folder = settings.jenkins.folder.strip("/")
    return f"{folder}/{job.strip('/')}" if folder else job.strip("/")


def parse_params(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"-p {pair!r}: expected KEY=VALUE")
        out[key] = value
    return out


def input_id(declared: str) -> str:
    """The Id Jenkins gives an input declared with `id`: first letter upper-cased."""
    return declared[:1].upper() + declared[1:]


@dataclass
class QueuedBuild:
    job: str
    queue_id: int | None
    number: int | None = None
    url: str | None = None


def start(
    client: JenkinsClient,
    job: str,
    params: dict[str, str],
    wait: bool = True,
    poll: float = 1.0,
    queue_timeout: float = 600.0,
) -> QueuedBuild:
    """Queue a build of `job`; with `wait`, poll the queue until the build has its number."""
    info = client.get_json(
        f"{job_url_path(job)}api/json",
        not_found=missing_job(job),
        tree="_class,property[parameterDefinitions[name]]",
    )
    if info.get("_class") == MULTIBRANCH:
        client.trigger(job, {}, parameterized=False)
        return QueuedBuild(job, None)
    has_defs = any(
        p.get("_class") == PARAMS_PROPERTY and p.get("parameterDefinitions")
        for p in info.get("property", [])
    )
    queue_id = client.trigger(job, params, parameterized=bool(params) or has_defs)
    queued = QueuedBuild(job, queue_id)
    if not wait or queue_id is None:
        return queued
    deadline = time.monotonic() + queue_timeout
    while True:
        item = client.queue_item(queue_id)
        if item.get("cancelled"):
            raise ServiceError(f"queue item {queue_id} of {job} was cancelled on the controller")
        executable = item.get("executable")
        if executable:
            queued.number, queued.url = int(executable["number"]), executable.get("url")
            return queued
        if time.monotonic() > deadline:
            raise ServiceError(
                f"{job} still queued after {queue_timeout:g} s "
                f"(Jenkins says: {item.get('why') or 'no reason given'})"
            )
        time.sleep(poll)


def follow(
    client: JenkinsClient,
    job: str,
    number: int,
    write: Callable[[str], None],
    notice: Callable[[str], None],
    poll: float = 1.0,
) -> dict[str, Any]:
    """Stream the build's log until it ends; return the final build info."""
    start_at, announced = 0, set[str]()
    while True:
        text, start_at, more = client.progressive_log(job, number, start_at)
        if text:
            write(text)
        if not more:
            break
        for pending in client.pending_inputs(job, number):
            if pending["id"] not in announced:
                announced.add(pending["id"])
                short = job.split("/", 1)[-1] if "/" in job else job
                notice(
                    f"waiting for input '{pending['id']}': {pending.get('message', '')} "
                    f"-> mlci jenkins approve {short} {number} --input {pending['id']}"
                )
        time.sleep(poll)
    info = client.build_info(job, number)
    while info.get("building"):
        time.sleep(poll)
        info = client.build_info(job, number)
    return info


def check_result(job: str, info: dict[str, Any]) -> str:
    """SUCCESS passes; any other result raises CheckFailed (exit 1) naming it."""
    result = info.get("result") or "UNKNOWN"
    if result != "SUCCESS":
        raise CheckFailed(f"{job} #{info.get('number')} finished {result}: {info.get('url')}")
    return result


def pending_input(
    client: JenkinsClient, job: str, number: int, wanted: str | None
) -> dict[str, Any]:
    """The one pending input of the build (or the one named), with a clear error otherwise."""
    pending = client.pending_inputs(job, number)
    if wanted:
        for p in pending:
            if p["id"] in (wanted, input_id(wanted)):
                return p
    if not pending:
        raise InputError(f"{job} #{number} is not waiting for any input")
    if wanted or len(pending) > 1:
        ids = ", ".join(p["id"] for p in pending)
        what = f"no pending input '{wanted}'" if wanted else "several inputs pending"
        raise InputError(f"{job} #{number}: {what}; pending: {ids} (choose with --input)")
    return pending[0]


def answer(
    client: JenkinsClient,
    job: str,
    number: int,
    wanted: str | None,
    action: str,
    values: dict[str, str],
) -> str:
    """Approve (proceed) or abort an input; returns the input Id answered.

    With --input given the request goes straight to the input's URL, so Jenkins' own answers
    (already given, wrong submitter, unknown Id) reach the user unchanged.
    """
    key = input_id(wanted) if wanted else pending_input(client, job, number, None)["id"]
    if action == "proceed" and values:
        # Jenkins answers an unknown name with a 500 and a stack trace; say it plainly first.
        for p in client.pending_inputs(job, number):
            if p["id"] != key:
                continue
            known = [i.get("name") for i in p.get("inputs", [])]
            unknown = [name for name in values if name not in known]
            if unknown:
                raise InputError(
                    f"{job} #{number}: input {key} has no parameter "
                    f"{', '.join(unknown)}; its parameters: {', '.join(known) or 'none'}"
                )
    client.answer_input(job, number, key, action, values)
    return key


def stage_view(client: JenkinsClient, job: str, build: str | None) -> dict[str, Any]:
    number = build or "lastBuild"
    return client.describe(job, number)
