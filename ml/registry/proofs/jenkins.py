"""Proof kind `jenkins-input`: an approver answered the deploy job's `input` step.

Evidence: {"build": "<build URL>", "input_id": "Promote", "submitter": "<Jenkins user id>"}.

What a real controller exposes (pipeline-input-step, `InputStepExecution.proceed`): answering an
input adds an `ApproverAction` to the build, exported in `GET <build>/api/json` as
`{"_class": "org.jenkinsci.plugins.workflow.support.steps.input.ApproverAction",
"userId": "<id>"}`; it carries no input Id (the per-input record, `InputSubmittedAction` with
the approver and the parameters, sits on the step's flow node and is not exported). A pending
input is listed by `wfapi/pendingInputActions` and drops out once answered or aborted.

So the check, at approval time and again at every push/deploy/promote, through the Jenkins API
(jenkins.url, with $JENKINS_USER/$JENKINS_TOKEN, needing Job/Read on the job):
1. the build is on the configured controller and of a job in `approval.jenkins.jobs`;
2. the input Id is one of `approval.jenkins.input_ids` and is no longer pending;
3. the build's parameters name this model and version (`approval.jenkins.model_parameter`,
   `version_parameter`): a proof from another version's build is refused;
4. the submitter is among the build's ApproverAction user ids (Jenkins says who answered) and in
   `approval.jenkins.approvers` (compared case-insensitively, as Jenkins' default id strategy).
An input that was aborted adds no ApproverAction, so it never approves.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from ml.config import Settings
from ml.errors import InputError, NotApproved
from ml.registry.approval import Statement

APPROVER_ACTION = "org.jenkinsci.plugins.workflow.support.steps.input.ApproverAction"
PARAMETERS_ACTION = "hudson.model.ParametersAction"


def split_build_url(settings: Settings, url: str) -> tuple[str, int]:
    """(full job name, build number) of a build URL on jenkins.url; NotApproved otherwise."""
    base = settings.jenkins.url.rstrip("/") + "/"
    if not url.startswith(base):
        raise NotApproved(
            f"Jenkins build {url} is not on the configured controller (jenkins.url = "
            f"{settings.jenkins.url}); only that controller's inputs approve"
        )
    parts = [p for p in urlsplit(url[len(base) - 1 :]).path.split("/") if p]
    names, number = [], None
    i = 0
    while i < len(parts):
        if parts[i] == "job" and i + 1 < len(parts):
            names.append(unquote(parts[i + 1]))
            i += 2
        elif parts[i].isdigit() and i == len(parts) - 1 and names:
            number = int(parts[i])
            i += 1
        else:
            break
    if number is None or i != len(parts):
        raise NotApproved(
            f"{url} is not a build URL (expected {base}job/<folder>/job/<job>/<number>/)"
        )
    return "/".join(names), number


def allowed_jobs(settings: Settings) -> list[str]:
    from ml.jenkins.builds import full_job_name

    return [full_job_name(settings, j) for j in settings.approval.jenkins.jobs]


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


class JenkinsInputProof:
    kind = "jenkins-input"

    def __init__(
        self,
        settings: Settings,
        build: str | None = None,
        input_id: str | None = None,
        client: Any = None,
    ) -> None:
        self.settings = settings
        self.build = build  # for issue(): the build and input that recorded the approval
        self.input_id = input_id
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from ml.jenkins.client import JenkinsClient

            self._client = JenkinsClient.from_settings(self.settings)
        return self._client

    def answered_by(self, build_url: str, input_id: str, model: str, version: str) -> list[str]:
        """Who answered inputs of that build (ApproverAction ids, in order) after checks 1-3."""
        cfg = self.settings.approval.jenkins
        job, number = split_build_url(self.settings, build_url)
        where = f"Jenkins build {job} #{number}"
        jobs = allowed_jobs(self.settings)
        if job not in jobs:
            raise NotApproved(
                f"{where} is not a build of an approval job: only inputs of "
                f"{', '.join(jobs) or 'no job'} approve (approval.jenkins.jobs in mlci.yaml)"
            )
        if input_id not in cfg.input_ids:
            raise NotApproved(
                f"input {input_id!r} of {where} is not an approval input (approval.jenkins."
                f"input_ids in mlci.yaml: {', '.join(cfg.input_ids) or 'none'})"
            )
        try:
            info = self.client.build_info(job, number)
        except InputError as e:  # 404: never existed, or discarded by the job's log rotation
            raise NotApproved(
                f"{where} cannot vouch for the approval: {e}. Keep approval builds "
                f"(keepLog, or a longer buildDiscarder) or approve again"
            ) from None
        params: dict[str, str] = {}
        approvers: list[str] = []
        for action in info.get("actions") or []:
            if not isinstance(action, dict):
                continue
            if action.get("_class") == PARAMETERS_ACTION:
                for p in action.get("parameters") or []:
                    params[str(p.get("name"))] = str(p.get("value"))
            elif action.get("_class") == APPROVER_ACTION and action.get("userId"):
                approvers.append(str(action["userId"]))
        named = (params.get(cfg.model_parameter), params.get(cfg.version_parameter))
        if named != (model, version):
            raise NotApproved(
                f"{where} was asked to approve {cfg.model_parameter}={named[0]!r} "
                f"{cfg.version_parameter}={named[1]!r}, not {model!r} version {version}: "
                f"a proof from another version's build does not count"
            )
        pending = {p.get("id") for p in self.client.pending_inputs(job, number)}
        if input_id in pending:
            raise NotApproved(f"input {input_id!r} of {where} has not been answered yet")
        if not approvers:
            raise NotApproved(
                f"nobody approved an input of {where} (Jenkins lists no ApproverAction on the "
                f"build: the input was aborted, or never reached)"
            )
        return approvers

    def _approver(self, who: str, where: str) -> None:
        listed = self.settings.approval.jenkins.approvers
        if not any(_same(who, a) for a in listed):
            raise NotApproved(
                f"{who!r} answered the input of {where} but is not an approver "
                f"(approval.jenkins.approvers in mlci.yaml: {', '.join(listed) or 'none'})"
            )

    def submitter(self, model: str, version: str, by: str | None = None) -> str:
        """Who answered self.build's input: `by` if Jenkins says so, else the last to answer."""
        build, input_id = self._target()
        answered = self.answered_by(build, input_id, model, version)
        if by:
            match = next((a for a in answered if _same(a, by)), None)
            if match is None:
                raise NotApproved(
                    f"--by {by!r}: Jenkins says the inputs of {build} were answered by "
                    f"{', '.join(answered)}"
                )
            who = match
        else:
            who = answered[-1]
        self._approver(who, build)
        return who

    def _target(self) -> tuple[str, str]:
        if not self.build or not self.input_id:
            raise InputError(
                "a Jenkins approval is recorded from its build: "
                "`mlci model approve NAME VERSION --jenkins-build URL --input-id ID`"
            )
        return self.build, self.input_id

    def issue(self, statement: Statement) -> dict[str, Any]:
        build, input_id = self._target()
        evidence = {"build": build, "input_id": input_id, "submitter": statement.by}
        self.verify(statement, evidence)
        return evidence

    def verify(self, statement: Statement, evidence: dict[str, Any]) -> None:
        build = str(evidence.get("build", ""))
        input_id = str(evidence.get("input_id", ""))
        who = str(evidence.get("submitter", ""))
        if not _same(who, statement.by):
            raise NotApproved(
                f"the Jenkins proof of {statement.describe()} names submitter {who!r} but the "
                f"approval says {statement.by!r}: the proof was altered"
            )
        answered = self.answered_by(build, input_id, statement.model, statement.version)
        if not any(_same(a, who) for a in answered):
            raise NotApproved(
                f"Jenkins says the inputs of {build} were answered by {', '.join(answered)}, "
                f"not {who!r}"
            )
        self._approver(who, build)
