"""Who answered an input, as the build's API shows it (pipeline-input-step's ApproverAction).

A real controller (pipeline-input-step `InputStepExecution.proceed`, reached by both `proceed`
and `proceedEmpty`) adds `ApproverAction(userId)` to the build when a user answers an input;
it is exported in `GET <build>/api/json` under `actions` as
`{"_class": "org.jenkinsci.plugins.workflow.support.steps.input.ApproverAction",
"userId": "alice"}`, one per answered input, without the input's Id. An abort adds none. (The
per-input `InputSubmittedAction` with approver and parameters lives on the step's flow node and
is not exported, so the double does not serve it either.)

Hooked into `JenkinsDouble` by listing `ApproversMixin` before `InputsMixin` and
`BuildsMixin`: it wraps `_answer` (records the user on a proceed that succeeded) and
`_build_json` (appends the actions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.jenkins.double.common import Reply, User

if TYPE_CHECKING:
    from tests.jenkins.double.builds import Build

APPROVER_ACTION = "org.jenkinsci.plugins.workflow.support.steps.input.ApproverAction"


class ApproversMixin:
    def _approver_ids(self, b: Build) -> list[str]:
        return b.__dict__.setdefault("approver_ids", [])

    def _answer(
        self, b: Build, key: str, action: str, raw_json: str | None, user: User, **kw: Any
    ) -> Reply:
        reply = super()._answer(b, key, action, raw_json, user, **kw)  # type: ignore[misc]
        if action != "abort" and reply.status == 200:  # proceed and proceedEmpty alike
            with self.lock:  # type: ignore[attr-defined]
                self._approver_ids(b).append(user.name)
        return reply

    def _build_json(self, b: Build) -> dict[str, Any]:
        doc = super()._build_json(b)  # type: ignore[misc]
        with self.lock:  # type: ignore[attr-defined]
            ids = list(self._approver_ids(b))
        doc["actions"].extend({"_class": APPROVER_ACTION, "userId": i} for i in ids)
        return doc
