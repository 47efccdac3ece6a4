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
    """An `input` step: declared id (optional), message, submitter, string parameters."""

    message: str = "Proceed?"
    id: str | None = None
    ok: str = "Proceed"
    submitter: str | None = None
    parameters: list[dict[str, str]] = field(default_factory=list)  # {name, default, description}

    @property
    def key(self) -> str:
        """The input's Id: declared id with its first letter upper-cased, else MD5 of message."""
        if self.id:
            return self.id[0].upper() + self.id[1:]
        return hashlib.md5(self.message.encode()).hexdigest().upper()


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

    def _answer(self, b: Build, key: str, action: str, raw_json: str | None, user: User) -> Reply:
        p = b.pending.get(key)
        if p is None:
            if key in b.answered:
                raise HttpError(html_error(400, "This input has been already given"))
            raise HttpError(html_error(404, "Not Found"))
        sub = p.spec.submitter
        if sub and user.role != "admin":
            allowed = {s.strip() for s in sub.split(",")}
            if user.name not in allowed and not allowed & set(user.groups):
                raise HttpError(html_error(400, f"You need to be {sub} to submit this."))
        elif not sub:
            self._require(user, "Job/Build")
        values: dict[str, str] = {}
        if raw_json:
            try:
                doc = json.loads(raw_json)
            except ValueError as e:
                raise HttpError(html_error(400, f"Malformed json parameter: {e}")) from e
            params = doc.get("parameter", [])
            for entry in params if isinstance(params, list) else [params]:
                values[entry["name"]] = str(entry.get("value", ""))
        p.outcome, p.by, p.values = action, user.name, values
        b.answered.add(key)
        del b.pending[key]
        p.event.set()
        return Reply(200)
