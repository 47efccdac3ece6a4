"""Shared pieces of the Jenkins double: constants, replies, errors, users, `tree=` filtering."""

from __future__ import annotations

import email.parser
import email.policy
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

VERSION = "2.479.3"
FOLDER = "com.cloudbees.hudson.plugins.folder.Folder"
MULTIBRANCH = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
WORKFLOW_JOB = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
FREESTYLE = "hudson.model.FreeStyleProject"
NO_CONCURRENT = "org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty"
ROOT_TAGS = {
    FOLDER: FOLDER,
    MULTIBRANCH: MULTIBRANCH,
    "flow-definition": WORKFLOW_JOB,
    "project": FREESTYLE,
}
UNSAFE = "?*/\\%!@#$^&|<>[]:;"
SECRET_FIELDS = {"password", "secret", "privateKey", "passphrase"}
USERPASS = "com.cloudbees.plugins.credentials.impl.UsernamePasswordCredentialsImpl"
STRING_CRED = "org.jenkinsci.plugins.plaincredentials.impl.StringCredentialsImpl"
CRED_TYPES = {USERPASS: "Username with password", STRING_CRED: "Secret text"}

ROLES = {
    "viewer": {"Overall/Read", "Job/Read"},
    "developer": {"Overall/Read", "Job/Read", "Job/Build", "Job/Cancel"},
    "admin": {
        "Overall/Read",
        "Job/Read",
        "Job/Build",
        "Job/Cancel",
        "Job/Create",
        "Job/Configure",
        "Credentials/Create",
        "Credentials/Update",
        "Credentials/Delete",
        "Overall/Administer",
    },
}
RESULT_TO_STATUS = {
    "SUCCESS": "SUCCESS",
    "FAILURE": "FAILED",
    "UNSTABLE": "UNSTABLE",
    "ABORTED": "ABORTED",
    "NOT_BUILT": "NOT_EXECUTED",
}
RESULT_COLOR = {
    "SUCCESS": "blue",
    "FAILURE": "red",
    "UNSTABLE": "yellow",
    "ABORTED": "aborted",
    "NOT_BUILT": "notbuilt",
}


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class User:
    name: str
    password: str | None = None
    token: str | None = None
    role: str = "admin"
    groups: tuple[str, ...] = ()


class Reply:
    def __init__(
        self,
        status: int,
        body: bytes | str = b"",
        ctype: str = "text/plain;charset=UTF-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.ctype = ctype
        self.headers = dict(headers or {})


def json_reply(obj: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(obj), "application/json;charset=utf-8")


def html_error(status: int, message: str, x_error: bool = False) -> Reply:
    body = (
        f"<html><head><title>Error {status}</title></head><body><h1>Error</h1>"
        f"<p>{message}</p></body></html>"
    )
    return Reply(status, body, "text/html;charset=utf-8", {"X-Error": message} if x_error else {})


class HttpError(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


def form_field(body: bytes, ctype: str | None, name: str) -> str | None:
    """A field of an urlencoded or multipart/form-data body."""
    if ctype and ctype.startswith("multipart/form-data"):
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + body
        )
        for part in msg.iter_parts():
            if part.get_param("name", header="content-disposition") == name:
                return part.get_payload(decode=True).decode()
        return None
    values = parse_qs(body.decode(), keep_blank_values=True).get(name)
    return values[-1] if values else None


def parse_tree(spec: str) -> dict[str, Any]:
    """`a,b[c,d[e]]` -> {'a': None, 'b': {'c': None, 'd': {'e': None}}}."""
    pos = 0

    def parse() -> dict[str, Any]:
        nonlocal pos
        out: dict[str, Any] = {}
        name = ""
        while pos < len(spec):
            c = spec[pos]
            pos += 1
            if c == "[":
                out[name.strip()] = parse()
                name = ""
            elif c == "]":
                break
            elif c == ",":
                if name.strip():
                    out[name.strip()] = None
                name = ""
            elif c == "{":
                while pos < len(spec) and spec[pos] != "}":
                    pos += 1
                pos += 1
            else:
                name += c
        if name.strip():
            out[name.strip()] = None
        return out

    return parse()


def apply_tree(obj: Any, spec: dict[str, Any] | None) -> Any:
    if isinstance(obj, list):
        return [apply_tree(o, spec) for o in obj]
    if not isinstance(obj, dict):
        return obj
    if spec is None:  # a leaf naming an object: only its class survives
        return {"_class": obj["_class"]} if "_class" in obj else {}
    out = {"_class": obj["_class"]} if "_class" in obj else {}
    for key, sub in spec.items():
        if key in obj:
            val = obj[key]
            out[key] = apply_tree(val, sub) if isinstance(val, dict | list) else val
    return out
