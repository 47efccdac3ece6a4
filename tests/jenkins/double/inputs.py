"""The `input` step of the double: its Id, pending actions, proceed and abort."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.jenkins.double.common import HttpError, Reply, User, html_error

if TYPE_CHECKING:
    from tests.jenkins.double.builds import Build


@dataclass
class InputSpec:
    """An `input` step: declared id (optional), message, submitter, string parameters.

    `submitter_parameter` is Declarative's `submitterParameter`: the environment variable that
    receives the submitter's id after the input (see `InputsMixin._answer`).
    """

    message: str = "Proceed?"
    id: str | None = None
    ok: str = "Proceed"
    submitter: str | None = None
    parameters: list[dict[str, str]] = field(default_factory=list)  # {name, default, description}
    submitter_parameter: str | None = None

    @property
    def key(self) -> str:
        """The input's Id (`InputStep.capitalize`): the declared id, else the lowercase hex MD5
        of the message, with its first character upper-cased either way."""
        raw = self.id or hashlib.md5(self.message.encode()).hexdigest()
        return raw[0].upper() + raw[1:]


@dataclass
class PendingInput:
    spec: InputSpec
    event: threading.Event = field(default_factory=threading.Event)
    outcome: str | None = None  # proceed | abort
    by: str | None = None
    values: dict[str, str] = field(default_factory=dict)


class InputsMixin:
    """pendingInputActions JSON and the answer to an input."""

    def _pending_json(self, b: Build, p: PendingInput) -> dict[str, Any]:
        key = p.spec.key
        return {
            "id": key,
            "proceedText": p.spec.ok,
            "message": p.spec.message,
            "inputs": [
                {
                    "type": "StringParameterDefinition",
                    "name": d["name"],
                    "description": d.get("description", ""),
                    "definition": {"defaultVal": d.get("default", ""), "name": d["name"]},
                }
                for d in p.spec.parameters
            ],
            "proceedUrl": f"{b.url_path}wfapi/inputSubmit?inputId={key}",
            "abortUrl": f"{b.url_path}input/{key}/abort",
            "redirectApprovalUrl": f"{b.url_path}input/",
        }

    def _answer(
        self,
        b: Build,
        key: str,
        action: str,
        raw_json: str | None,
        user: User,
        empty: bool = False,
    ) -> Reply:
        """Settle an input like pipeline-input-step 517 and Declarative's `stageInput`.

        abort (`preAbortCheck`): allowed with Job/Cancel on the job or the right to submit.
        proceed (`preSubmissionCheck` then `parseValue`): only a submitter; each name in the
        `json` form's `parameter` list must be a declared parameter, else 500 "No such
        parameter definition"; the submitter's id fills `submitter_parameter`.
        proceedEmpty (`proceed(null)`): no values at all; Declarative then sets the
        `submitter_parameter` variable to the string "null" (`"${submitted}"` of a null).
        """
        p = b.pending.get(key)
        if p is None:
            if key in b.answered:
                raise HttpError(html_error(400, "This input has been already given"))
            raise HttpError(html_error(404, "Not Found"))
        sub = p.spec.submitter
        can_submit = (
            not sub
            or user.role == "admin"
            or bool({s.strip() for s in sub.split(",")} & {user.name, *user.groups})
        )
        if action == "abort":
            if not can_submit and not self._allows(user, "Job/Cancel"):
                raise HttpError(
                    html_error(
                        400,
                        f"You need to be '{sub}' (or have Job CANCEL permissions) to cancel this.",
                    )
                )
        elif sub and not can_submit:
            raise HttpError(html_error(400, f"You need to be {sub} to submit this."))
        elif not sub:
            self._require(user, "Job/Build")
        values: dict[str, str] = {}
        if action == "proceed" and empty:
            if p.spec.submitter_parameter:
                values[p.spec.submitter_parameter] = "null"
        elif action == "proceed":
            declared = {d["name"] for d in p.spec.parameters}
            if raw_json:
                try:
                    doc = json.loads(raw_json)
                except ValueError as e:
                    raise HttpError(html_error(400, f"Malformed json parameter: {e}")) from e
                params = doc.get("parameter", [])
                for entry in params if isinstance(params, list) else [params]:
                    if entry.get("name") not in declared:
                        raise HttpError(
                            html_error(
                                500,
                                "java.lang.IllegalArgumentException: No such parameter "
                                f"definition: {entry.get('name')}",
                            )
                        )
                    values[entry["name"]] = str(entry.get("value", ""))
            if p.spec.submitter_parameter:
                values[p.spec.submitter_parameter] = user.name
        p.outcome, p.by, p.values = action, user.name, values
        b.answered.add(key)
        del b.pending[key]
        p.event.set()
        return Reply(200)
