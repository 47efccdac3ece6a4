"""Builds of the double: scripted stages run in a thread, logs, wfapi, stop."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from string import Template
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from tests.jenkins.double.common import (
    RESULT_TO_STATUS,
    HttpError,
    Reply,
    User,
    html_error,
    json_reply,
    now_ms,
)
from tests.jenkins.double.inputs import InputSpec, PendingInput

if TYPE_CHECKING:
    from tests.jenkins.double.jobs import Item
    from tests.jenkins.double.server import JenkinsDouble


@dataclass
class StageScript:
    name: str
    log: list[str] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "SUCCESS"  # SUCCESS | FAILED | UNSTABLE
    input: InputSpec | None = None
    error: str | None = None


@dataclass
class BuildScript:
    stages: list[StageScript]
    result: str | None = None  # default: derived from the stages
    description: str | None = None
    artifacts: list[str] = field(default_factory=list)


DEFAULT_SCRIPT = BuildScript([StageScript("Build", ["+ mlci --version", "mlci, version 0.1.0"])])


@dataclass
class StageRun:
    id: str
    name: str
    status: str = "IN_PROGRESS"
    start: int = field(default_factory=now_ms)
    duration: int = 0
    pause: int = 0
    error: dict[str, str] | None = None


class Build:
    def __init__(
        self,
        double: JenkinsDouble,
        job: Item,
        number: int,
        queue_id: int,
        params: dict[str, str],
        user: str,
        script: BuildScript,
    ) -> None:
        self.double = double
        self.job = job
        self.number = number
        self.queue_id = queue_id
        self.params = params
        self.user = user
        self.script = script
        self.log = ""
        self.result: str | None = None
        self.building = True
        self.start = now_ms()
        self.end: int | None = None
        self.stages: list[StageRun] = []
        self.pending: dict[str, PendingInput] = {}
        self.answered: set[str] = set()
        self.description: str | None = None
        self.stop_requested = False
        self.paused = False
        # The build's environment as the steps see it: parameters, then what inputs set
        # (their parameters and submitterParameter). `$NAME` in a stage's log lines expands.
        self.env: dict[str, str] = dict(params)
        self.cond = threading.Condition(double.lock)

    @property
    def url_path(self) -> str:
        return f"{self.job.url_path}{self.number}/"

    def emit(self, line: str) -> None:
        with self.double.lock:
            self.log += line + "\n"

    def run(self) -> None:
        self.emit(f"Started by user {self.user}")
        self.double._on_pipeline_start(self)
        for k, v in self.params.items():
            self.emit(f"[Pipeline] parameter {k}={v}")
        self.emit("[Pipeline] Start of Pipeline")
        failed = aborted = False
        worst = "SUCCESS"
        for i, st in enumerate(self.script.stages):
            run = StageRun(id=str(6 + 7 * i), name=st.name)
            with self.double.lock:
                self.stages.append(run)
            if failed or aborted:
                self.emit(f'Stage "{st.name}" skipped due to earlier failure(s)')
                run.status, run.duration = "NOT_EXECUTED", 0
                continue
            self.emit(f"[Pipeline] {{ ({st.name})")
            if st.input is not None and not self._wait_input(st.input, run):
                aborted = True
                run.status = "ABORTED"
                run.duration = now_ms() - run.start
                self.emit("[Pipeline] }")
                continue
            step = st.seconds / max(1, len(st.log))
            for line in st.log:
                if self.stop_requested:
                    break
                time.sleep(step)
                self.emit(Template(line).safe_substitute(self.env))
            if st.seconds and not st.log:
                time.sleep(st.seconds)
            if self.stop_requested:
                aborted = True
                run.status = "ABORTED"
            else:
                run.status = st.status
                if st.status == "FAILED":
                    failed = True
                    message = st.error or f"script returned exit code 1 in stage {st.name}"
                    run.error = {"message": message, "type": "hudson.AbortException"}
                    self.emit(f"ERROR: {message}")
                    worst = "FAILURE"
                elif st.status == "UNSTABLE" and worst == "SUCCESS":
                    worst = "UNSTABLE"
            run.duration = now_ms() - run.start
            self.emit("[Pipeline] }")
        self.emit("[Pipeline] End of Pipeline")
        result = "ABORTED" if aborted else (self.script.result or worst)
        with self.double.lock:
            self.description = self.script.description
            self.log += f"Finished: {result}\n"
            self.result = result
            self.end = now_ms()
            self.building = False
            self.cond.notify_all()

    def _wait_input(self, spec: InputSpec, run: StageRun) -> bool:
        pending = PendingInput(spec)
        with self.double.lock:
            self.pending[spec.key] = pending
            self.paused = True
            run.status = "PAUSED_PENDING_INPUT"
            self.log += f"[Pipeline] input\n{spec.message}\n{spec.ok} or Abort\n"
            self.cond.notify_all()
        started = now_ms()
        while not pending.event.wait(0.02):
            if self.stop_requested:
                pending.outcome, pending.by = "abort", self.user
                break
        with self.double.lock:
            self.pending.pop(spec.key, None)
            self.answered.add(spec.key)
            self.paused = False
            run.pause = now_ms() - started
            run.status = "IN_PROGRESS"
        if pending.outcome == "proceed":
            self.env.update(pending.values)
            self.emit(f"Approved by {pending.by}")
            return True
        self.emit(f"Rejected by {pending.by}")
        return False

    def wf_status(self) -> str:
        if self.building:
            return "PAUSED_PENDING_INPUT" if self.paused else "IN_PROGRESS"
        return RESULT_TO_STATUS.get(self.result or "", "NOT_EXECUTED")

    def duration(self) -> int:
        return (self.end or now_ms()) - self.start if not self.building else 0


class BuildsMixin:
    """Build JSON and the endpoints under /job/X/N/."""

    def _build_ref(self, b: Build) -> dict[str, Any]:
        return {
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
            "number": b.number,
            "url": self.abs_url(b.url_path),
        }

    def _build_json(self, b: Build) -> dict[str, Any]:
        actions: list[dict[str, Any]] = [
            {
                "_class": "hudson.model.CauseAction",
                "causes": [
                    {
                        "_class": "hudson.model.Cause$UserIdCause",
                        "shortDescription": f"Started by user {b.user}",
                        "userId": b.user,
                    }
                ],
            }
        ]
        if b.params:
            actions.insert(
                0,
                {
                    "_class": "hudson.model.ParametersAction",
                    "parameters": [
                        {"_class": "hudson.model.StringParameterValue", "name": k, "value": v}
                        for k, v in b.params.items()
                    ],
                },
            )
        return {
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
            "number": b.number,
            "id": str(b.number),
            "url": self.abs_url(b.url_path),
            "building": b.building,
            "inProgress": b.building,
            "duration": b.duration(),
            "estimatedDuration": -1,
            "timestamp": b.start,
            "queueId": b.queue_id,
            "result": b.result,
            "displayName": f"#{b.number}",
            "fullDisplayName": f"{b.job.full_name} #{b.number}",
            "description": b.description,
            "keepLog": False,
            "artifacts": []
            if b.building
            else [
                {
                    "displayPath": a.rsplit("/", 1)[-1],
                    "fileName": a.rsplit("/", 1)[-1],
                    "relativePath": a,
                }
                for a in b.script.artifacts
            ],
            "actions": actions,
        }

    def _build_endpoint(
        self, method: str, b: Build, rest: str, query: dict[str, str], body: bytes, user: User
    ) -> Reply:
        if rest == "api/json":
            return json_reply(self._filter(self._build_json(b), query))
        if rest == "consoleText":
            return Reply(200, b.log)
        if rest == "logText/progressiveText":
            data = b.log.encode()
            start = int(query.get("start", "0") or 0)
            headers = {"X-Text-Size": str(len(data))}
            if b.building:
                headers["X-More-Data"] = "true"
            return Reply(200, data[start:], headers=headers)
        if rest in ("wfapi/describe", "wfapi/describe/"):
            return json_reply(self._describe(b))
        if rest == "wfapi/pendingInputActions":
            return json_reply([self._pending_json(b, p) for p in b.pending.values()])
        if rest == "stop":
            if method != "POST":
                raise HttpError(html_error(405, "Method Not Allowed"))
            self._require(user, "Job/Cancel")
            b.stop_requested = True
            return Reply(200)
        if rest == "wfapi/inputSubmit":
            if method != "POST":
                raise HttpError(html_error(405, "Method Not Allowed"))
            key = query.get("inputId", "")
            form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
            action = "abort" if "abort" in form else "proceed"
            return self._answer(b, key, action, form.get("json"), user)
        m = re.match(r"input/([^/]+)/(proceed|proceedEmpty|abort)$", rest)
        if m:
            if method != "POST":
                raise HttpError(html_error(405, "Method Not Allowed"))
            form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
            action = "abort" if m.group(2) == "abort" else "proceed"
            return self._answer(
                b,
                unquote(m.group(1)),
                action,
                form.get("json"),
                user,
                empty=m.group(2) == "proceedEmpty",
            )
        raise HttpError(html_error(404, "Not Found"))

    def _describe(self, b: Build) -> dict[str, Any]:
        end = b.end or now_ms()
        return {
            "_links": {"self": {"href": f"{b.url_path}wfapi/describe"}},
            "id": str(b.number),
            "name": f"#{b.number}",
            "status": b.wf_status(),
            "startTimeMillis": b.start,
            "endTimeMillis": b.end or 0,
            "durationMillis": end - b.start,
            "queueDurationMillis": int(self.queue_delay * 1000),
            "pauseDurationMillis": sum(s.pause for s in b.stages),
            "stages": [
                {
                    "_links": {
                        "self": {"href": f"{b.url_path}execution/node/{s.id}/wfapi/describe"}
                    },
                    "id": s.id,
                    "name": s.name,
                    "execNode": "",
                    "status": s.status,
                    **({"error": s.error} if s.error else {}),
                    "startTimeMillis": s.start,
                    "durationMillis": s.duration
                    if s.status != "IN_PROGRESS" and s.status != "PAUSED_PENDING_INPUT"
                    else now_ms() - s.start,
                    "pauseDurationMillis": s.pause,
                }
                for s in b.stages
            ],
        }
