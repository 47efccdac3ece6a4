"""A test double of the Jenkins controller's REST API, served over a real socket.

This is NOT Jenkins. It plays the parts of the controller that mlci and python-jenkins 1.8.3
talk to, as described in /work/shared/reference/jenkins-api.md, so the CLI can be tested end to
end over HTTP (python-jenkins -> requests -> socket -> this server):

- Basic auth with a password or an API token; a bad one gets 401 with `WWW-Authenticate`,
  anonymous gets 403; three roles (admin, developer, viewer) whose missing permissions give 403.
- CSRF crumbs bound to the session cookie of the crumb request; POSTs authenticated with an API
  token and `/pipeline-model-converter/*` are exempt. GET on a POST-only endpoint: 405.
- `X-Jenkins`, `X-Jenkins-Session`, `X-Content-Type-Options` on every answer.
- `/api/json` (root, jobs, builds, queue items, credentials) honouring `tree=` and `depth=`.
- createItem (XML body or form `mode=`) with the 400 `X-Error` answers, folders and nested jobs,
  multibranch projects (indexing creates branch jobs from a scripted branch list), config.xml
  round trips.
- buildWithParameters/build: 201 + absolute queue `Location`, 303 for an identical queued item,
  400 not parameterized, 409 not buildable (disabled). Queue items move from WaitingItem to
  LeftItem with `executable`.
- Builds run a scripted sequence of stages in a thread (log lines, durations, stage results, an
  optional `input` pause), with progressive text (`X-Text-Size`, `X-More-Data`), consoleText,
  `wfapi/describe`, `wfapi/pendingInputActions`, input proceed/proceedEmpty/abort/inputSubmit
  with the Id rule, submitter checks and "already given"; `stop`.
- Credentials in the system store and folder stores: create (409 duplicate, 400 without content
  type), config.xml with `<secret-redacted/>`, update keeping redacted secrets, delete.
- Both declarative linter endpoints.
- `pluginManager/api/json`.

What it does NOT model (differences from a real controller):
- It runs no Groovy. Builds follow the test's script, not the Jenkinsfile; `parameters{}`,
  `when`, `timeout` and `post` in a Jenkinsfile have no effect here.
- The linter is a light structural check (balanced braces, `pipeline` block, required and known
  top-level sections, each stage has steps/stages/parallel/matrix). It does not know steps,
  their arguments, or Groovy syntax errors beyond brace balance.
- Stored config.xml is returned as posted (plus an XML declaration); Jenkins re-serialises it,
  adding defaults and `plugin="…"` attributes.
- No views, nodes, agents, executors limits, quiet periods, SCM polling, artifacts content,
  test reports, matrix authorisation per item, user API to mint tokens, or LeftItem expiry.
- Permissions are three fixed roles rather than a matrix; admins may answer any input.
- Fault injection (`inject`, `slow`) stands in for proxies and overloaded controllers.
- POST `build` on a parameterized job queues it with the default values.
- Header values outside Latin-1 (the ‘quotes’ in `X-Error`) are sent as UTF-8 bytes.

Test-control API (Python, not HTTP): `add_user`, `script`, `set_branches`, `set_plugins`,
`inject`, `slow`, `wait_for_build`, `wait_for_input`, `writes`, `credential_secret`, `job_config`.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import json
import re
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

VERSION = "2.479.3"
FOLDER = "com.cloudbees.hudson.plugins.folder.Folder"
MULTIBRANCH = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
WORKFLOW_JOB = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
FREESTYLE = "hudson.model.FreeStyleProject"
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


# ---------------------------------------------------------------- test-control data


@dataclass
class User:
    name: str
    password: str | None = None
    token: str | None = None
    role: str = "admin"
    groups: tuple[str, ...] = ()


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


# ---------------------------------------------------------------- controller model


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


@dataclass
class Credential:
    cls: str
    fields: dict[str, str]

    @property
    def id(self) -> str:
        return self.fields["id"]

    def xml(self) -> str:
        root = ET.Element(self.cls)
        for k, v in self.fields.items():
            el = ET.SubElement(root, k)
            if k in SECRET_FIELDS:
                ET.SubElement(el, "secret-redacted")
            else:
                el.text = v
        return ET.tostring(root, encoding="unicode")


def parse_credential(body: bytes) -> Credential:
    root = ET.fromstring(body)
    fields: dict[str, str] = {}
    for child in root:
        if child.find("secret-redacted") is not None:
            fields[child.tag] = "\0redacted"
        else:
            fields[child.tag] = child.text or ""
    if not fields.get("id"):
        fields["id"] = secrets.token_hex(8)
    return Credential(root.tag, fields)


class Item:
    """A top-level item or folder child: folder, multibranch project or job."""

    def __init__(self, name: str, parent: Item | None, config: bytes) -> None:
        self.name = name
        self.parent = parent
        self.children: dict[str, Item] = {}
        self.builds: dict[int, Build] = {}
        self.next_build = 1
        self.credentials: dict[str, Credential] = {}
        self.indexing_log = ""
        self.config = b""
        self.cls = ""
        self.set_config(config)

    def set_config(self, config: bytes) -> None:
        root = ET.fromstring(config)
        cls = root.get("class") or root.tag
        self.cls = ROOT_TAGS.get(cls, cls)
        self.config = config

    @property
    def is_root(self) -> bool:
        return self.parent is None

    @property
    def is_folder(self) -> bool:
        return self.is_root or self.cls in (FOLDER, MULTIBRANCH)

    @property
    def full_name(self) -> str:
        if self.parent is None or self.parent.is_root:
            return self.name
        return f"{self.parent.full_name}/{self.name}"

    @property
    def url_path(self) -> str:
        if self.is_root:
            return "/"
        return f"{self.parent.url_path}job/{quote(self.name, safe='')}/"

    def xml_root(self) -> ET.Element:
        return ET.fromstring(self.config)

    @property
    def disabled(self) -> bool:
        el = self.xml_root().find("disabled")
        return el is not None and (el.text or "").strip() == "true"

    def parameters(self) -> list[dict[str, str]]:
        out = []
        for prop in self.xml_root().iter("hudson.model.ParametersDefinitionProperty"):
            defs = prop.find("parameterDefinitions")
            for d in list(defs) if defs is not None else []:
                default = d.findtext("defaultValue")
                if default is None and d.find("choices") is not None:
                    choices = [s.text or "" for s in d.iter("string")]
                    default = choices[0] if choices else ""
                out.append(
                    {
                        "name": d.findtext("name") or "",
                        "type": d.tag.split(".")[-1],
                        "default": default or "",
                        "description": d.findtext("description") or "",
                    }
                )
        return out

    def color(self) -> str:
        if self.disabled:
            return "disabled"
        if not self.builds:
            return "notbuilt"
        last = self.builds[max(self.builds)]
        if last.building:
            prev = [b for n, b in self.builds.items() if not b.building]
            base = RESULT_COLOR.get(prev[-1].result or "", "notbuilt") if prev else "notbuilt"
            return base + "_anime"
        return RESULT_COLOR.get(last.result or "", "notbuilt")


@dataclass
class PendingInput:
    spec: InputSpec
    event: threading.Event = field(default_factory=threading.Event)
    outcome: str | None = None  # proceed | abort
    by: str | None = None
    values: dict[str, str] = field(default_factory=dict)


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
        self.cond = threading.Condition(double.lock)

    @property
    def url_path(self) -> str:
        return f"{self.job.url_path}{self.number}/"

    def emit(self, line: str) -> None:
        with self.double.lock:
            self.log += line + "\n"

    def run(self) -> None:
        self.emit(f"Started by user {self.user}")
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
                self.emit(line)
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


@dataclass
class QueueItem:
    id: int
    job: Item
    params: dict[str, str]
    since: int = field(default_factory=now_ms)
    left: bool = False
    cancelled: bool = False
    build: Build | None = None


@dataclass
class Injection:
    method: str
    path: str
    reply: Reply
    times: int


# ---------------------------------------------------------------- the server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.server.double.serve(self)

    do_POST = do_GET
    do_DELETE = do_GET
    do_HEAD = do_GET


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    double: JenkinsDouble

    def handle_error(self, request: Any, client_address: Any) -> None:
        import traceback

        self.double.errors.append(traceback.format_exc())


class JenkinsDouble:
    """The controller double. `start()` returns its URL; `stop()` shuts it down."""

    def __init__(self, queue_delay: float = 0.05) -> None:
        self.lock = threading.RLock()
        self.queue_delay = queue_delay
        self.users: dict[str, User] = {}
        self.sessions: dict[str, str] = {}  # session id -> crumb
        self.session_id = secrets.token_hex(4)
        self.root = Item("", None, b"<hudson/>")
        self.queue: dict[int, QueueItem] = {}
        self.next_queue_id = 1
        self.scripts: dict[str, BuildScript] = {}
        self.branches: dict[str, list[str]] = {}
        self.plugins: dict[str, str] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.injections: list[Injection] = []
        self.delays: list[tuple[str, float]] = []
        self.errors: list[str] = []  # tracebacks of requests the double itself failed to serve
        self._httpd: _Server | None = None
        self.url = ""

    # ---- lifecycle
    def start(self) -> str:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.double = self
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        return self.url

    def stop(self) -> None:
        with self.lock:
            for job in self._all_items():
                for b in job.builds.values():
                    b.stop_requested = True
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()

    # ---- test control
    def add_user(
        self,
        name: str,
        password: str | None = None,
        token: str | None = None,
        role: str = "admin",
        groups: tuple[str, ...] = (),
    ) -> User:
        user = User(name, password, token, role, groups)
        self.users[name] = user
        return user

    def script(self, job: str, script: BuildScript) -> None:
        """Builds of `job` (full name) started from now on follow `script`."""
        self.scripts[job] = script

    def set_branches(self, multibranch: str, branches: list[str]) -> None:
        """Branch indexing of `multibranch` will find these branches."""
        self.branches[multibranch] = list(branches)

    def set_plugins(self, plugins: dict[str, str]) -> None:
        self.plugins = dict(plugins)

    def inject(
        self,
        method: str,
        path: str,
        status: int,
        body: str = "",
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests for METHOD path with this status (proxy faults)."""
        self.injections.append(Injection(method, path, Reply(status, body, headers=headers), times))

    def slow(self, path_prefix: str, seconds: float) -> None:
        """Delay every answer under `path_prefix` (an overloaded controller)."""
        self.delays.append((path_prefix, seconds))

    def writes(self) -> list[tuple[str, str, int]]:
        """Every POST or DELETE served so far: (method, path, status)."""
        return [r for r in self.requests if r[0] in ("POST", "DELETE")]

    def job_config(self, full_name: str) -> str:
        return self._find(full_name).config.decode()

    def get_job(self, full_name: str) -> Item:
        return self._find(full_name)

    def credential_secret(self, store: str, cred_id: str, field_name: str = "password") -> str:
        """A stored secret (store: 'system' or a folder's full name)."""
        item = self.root if store == "system" else self._find(store)
        return item.credentials[cred_id].fields[field_name]

    def wait_for_build(self, job: str, number: int, timeout: float = 10) -> Build:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                b = self._find(job).builds.get(number)
                if b and not b.building:
                    return b
            time.sleep(0.01)
        raise TimeoutError(f"{job} #{number} did not finish")

    def wait_for_input(self, job: str, number: int, timeout: float = 10) -> Build:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                b = self._find(job).builds.get(number)
                if b and b.pending:
                    return b
            time.sleep(0.01)
        raise TimeoutError(f"{job} #{number} did not reach an input")

    # ---- internals
    def _find(self, full_name: str) -> Item:
        node = self.root
        for part in full_name.strip("/").split("/"):
            node = node.children[part]
        return node

    def _all_items(self) -> list[Item]:
        out, todo = [], [self.root]
        while todo:
            n = todo.pop()
            out.append(n)
            todo.extend(n.children.values())
        return out

    def abs_url(self, path: str) -> str:
        return self.url.rstrip("/") + path

    def serve(self, h: _Handler) -> None:
        split = urlsplit(h.path)
        path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        set_cookie = None
        for prefix, seconds in self.delays:
            if path.startswith(prefix):
                time.sleep(seconds)
        try:
            reply = self._injected(h.command, path)
            if reply is None:
                user, via_token = self._authenticate(h)
                reply, set_cookie = self._dispatch(h, path, query, body, user, via_token)
        except HttpError as e:
            reply = e.reply
        except Exception as e:
            reply = Reply(500, f"Oops! {e.__class__.__name__}: {e}", "text/html")
        with self.lock:
            self.requests.append((h.command, path, reply.status))
        h.send_response(reply.status)
        headers = {
            "X-Jenkins": VERSION,
            "X-Jenkins-Session": self.session_id,
            "X-Content-Type-Options": "nosniff",
            "Content-Type": reply.ctype,
            "Content-Length": str(len(reply.body)),
            **reply.headers,
        }
        if set_cookie:
            headers["Set-Cookie"] = set_cookie
        for k, v in headers.items():
            # Like Jetty, send non-Latin-1 header text (X-Error's ‘quotes’) as UTF-8 bytes.
            h._headers_buffer.append(f"{k}: {v}\r\n".encode())
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(reply.body)

    def _injected(self, method: str, path: str) -> Reply | None:
        with self.lock:
            for inj in self.injections:
                if inj.method == method and inj.path == path and inj.times > 0:
                    inj.times -= 1
                    return inj.reply
        return None

    def _authenticate(self, h: _Handler) -> tuple[User | None, bool]:
        auth = h.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None, False
        try:
            name, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            name, secret = "", ""
        user = self.users.get(name)
        if user and user.token and secrets.compare_digest(secret, user.token):
            return user, True
        if user and user.password and secrets.compare_digest(secret, user.password):
            return user, False
        raise HttpError(
            Reply(
                401,
                f"Invalid password/token for user: {name}",
                "text/html",
                {"WWW-Authenticate": 'Basic realm="Jenkins"'},
            )
        )

    @staticmethod
    def _session_of(h: _Handler) -> str | None:
        m = re.search(r"JSESSIONID\.[0-9a-f]+=([0-9a-zA-Z]+)", h.headers.get("Cookie", ""))
        return m.group(1) if m else None

    def _require(self, user: User | None, perm: str) -> None:
        if user is None:
            raise HttpError(html_error(403, "Authentication required"))
        if perm not in ROLES[user.role]:
            raise HttpError(html_error(403, f"{user.name} is missing the {perm} permission"))

    def _dispatch(
        self,
        h: _Handler,
        path: str,
        query: dict[str, str],
        body: bytes,
        user: User | None,
        via_token: bool,
    ) -> tuple[Reply, str | None]:
        method = h.command
        self._require(user, "Overall/Read")
        assert user is not None
        if path == "/crumbIssuer/api/json":
            if method != "GET":
                raise HttpError(html_error(405, "Method Not Allowed"))
            sid = self._session_of(h)
            cookie = None
            if sid is None or sid not in self.sessions:
                sid = secrets.token_hex(12)
                cookie = f"JSESSIONID.{self.session_id}={sid}; Path=/; HttpOnly"
            crumb = self.sessions.setdefault(sid, secrets.token_hex(32))
            return json_reply(
                {
                    "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                    "crumb": crumb,
                    "crumbRequestField": "Jenkins-Crumb",
                }
            ), cookie
        if method == "POST" and not via_token and not path.startswith("/pipeline-model-converter/"):
            sid = self._session_of(h)
            crumb = h.headers.get("Jenkins-Crumb")
            if not sid or not crumb or self.sessions.get(sid) != crumb:
                raise HttpError(html_error(403, "No valid crumb was included in the request"))
        ctype = h.headers.get("Content-Type")
        with self.lock:
            return self._route(method, path, query, body, ctype, user), None

    # ---- routing
    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: bytes,
        ctype: str | None,
        user: User,
    ) -> Reply:
        if path in ("/", ""):
            return Reply(200, "<html><body>Dashboard [Jenkins]</body></html>", "text/html")
        if path.startswith("/pipeline-model-converter/"):
            return self._linter(method, path[len("/pipeline-model-converter/") :], body, ctype)
        if path.startswith("/queue/"):
            return self._queue(method, path[len("/queue/") :], query, user)
        if path == "/me/api/json":
            return json_reply(
                {
                    "_class": "hudson.model.User",
                    "id": user.name,
                    "fullName": user.name,
                    "absoluteUrl": self.abs_url(f"/user/{user.name}"),
                }
            )
        if path == "/pluginManager/api/json":
            plugins = [
                {
                    "shortName": k,
                    "version": v,
                    "active": True,
                    "enabled": True,
                    "longName": k,
                    "hasUpdate": False,
                }
                for k, v in sorted(self.plugins.items())
            ]
            return json_reply(
                self._filter({"_class": "hudson.LocalPluginManager", "plugins": plugins}, query)
            )
        # walk /job/a/job/b/... to the addressed item
        item = self.root
        rest = path.lstrip("/")
        while rest.startswith("job/"):
            seg, _, rest = rest[4:].partition("/")
            name = unquote(seg)
            if not item.is_folder or name not in item.children:
                raise HttpError(html_error(404, "Not Found"))
            item = item.children[name]
        return self._item(method, item, rest, query, body, ctype, user)

    def _item(
        self,
        method: str,
        item: Item,
        rest: str,
        query: dict[str, str],
        body: bytes,
        ctype: str | None,
        user: User,
    ) -> Reply:
        post_only = {"createItem", "build", "buildWithParameters", "doDelete"}
        if rest in post_only and method != "POST":
            raise HttpError(html_error(405, "Method Not Allowed"))
        if rest in ("", "configure"):
            return Reply(200, f"<html><body>{item.full_name}</body></html>", "text/html")
        if rest == "api/json":
            return json_reply(
                self._filter(self._item_json(item, self._depth(query), "tree" in query), query)
            )
        if rest == "createItem" and item.is_folder and item.cls != MULTIBRANCH:
            self._require(user, "Job/Create")
            return self._create_item(item, query, body, ctype)
        if rest == "config.xml" and not item.is_root:
            if method == "GET":
                return Reply(200, self._with_decl(item.config), "application/xml")
            if method == "POST":
                self._require(user, "Job/Configure")
                try:
                    item.set_config(body)
                except ET.ParseError as e:
                    raise HttpError(html_error(500, f"Failed to parse config.xml: {e}")) from e
                return Reply(200)
        if rest in ("build", "buildWithParameters") and not item.is_root:
            self._require(user, "Job/Build")
            return self._build(item, rest, query, user)
        if rest == "indexing/consoleText" and item.cls == MULTIBRANCH:
            return Reply(200, item.indexing_log)
        if rest == "doDelete" and not item.is_root:
            self._require(user, "Job/Configure")
            del item.parent.children[item.name]
            return Reply(302, headers={"Location": self.abs_url(item.parent.url_path)})
        if rest.startswith("credentials/store/"):
            return self._credentials(
                method, item, rest[len("credentials/store/") :], query, body, ctype, user
            )
        m = re.match(r"(\d+|lastBuild)/(.*)$", rest)
        if m and not item.is_folder:
            number = (
                max(item.builds)
                if m.group(1) == "lastBuild" and item.builds
                else (int(m.group(1)) if m.group(1).isdigit() else -1)
            )
            build = item.builds.get(number)
            if build is None:
                raise HttpError(html_error(404, "Not Found"))
            return self._build_endpoint(method, build, m.group(2), query, body, user)
        raise HttpError(html_error(404, "Not Found"))

    @staticmethod
    def _depth(query: dict[str, str]) -> int:
        try:
            return int(query.get("depth", "0"))
        except ValueError:
            return 0

    @staticmethod
    def _with_decl(config: bytes) -> bytes:
        if config.lstrip().startswith(b"<?xml"):
            return config
        return b"<?xml version='1.1' encoding='UTF-8'?>\n" + config

    # ---- JSON views
    def _job_ref(self, item: Item) -> dict[str, Any]:
        ref = {"_class": item.cls, "name": item.name, "url": self.abs_url(item.url_path)}
        if not item.is_folder:
            ref["color"] = item.color()
        return ref

    def _build_ref(self, b: Build) -> dict[str, Any]:
        return {
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
            "number": b.number,
            "url": self.abs_url(b.url_path),
        }

    def _item_json(self, item: Item, depth: int, tree: bool = False) -> dict[str, Any]:
        if item.is_root:
            return {
                "_class": "hudson.model.Hudson",
                "mode": "NORMAL",
                "nodeName": "",
                "nodeDescription": "the Jenkins controller's built-in node",
                "numExecutors": 2,
                "description": None,
                "jobs": [self._child_json(c, depth, tree) for c in item.children.values()],
                "primaryView": {
                    "_class": "hudson.model.AllView",
                    "name": "all",
                    "url": self.abs_url("/"),
                },
                "views": [
                    {"_class": "hudson.model.AllView", "name": "all", "url": self.abs_url("/")}
                ],
                "quietingDown": False,
                "useCrumbs": True,
                "useSecurity": True,
                "url": self.abs_url("/"),
            }
        out: dict[str, Any] = {
            **self._job_ref(item),
            "fullName": item.full_name,
            "displayName": item.name,
            "fullDisplayName": item.full_name,
            "description": item.xml_root().findtext("description"),
        }
        if item.is_folder:
            out["jobs"] = [self._child_json(c, depth, tree) for c in item.children.values()]
            return out
        builds = sorted(item.builds.values(), key=lambda b: -b.number)
        params = item.parameters()
        out.update(
            {
                "buildable": not item.disabled,
                "inQueue": any(not q.left and q.job is item for q in self.queue.values()),
                "nextBuildNumber": item.next_build,
                "builds": [self._build_ref(b) for b in builds],
                "firstBuild": self._build_ref(builds[-1]) if builds else None,
                "lastBuild": self._build_ref(builds[0]) if builds else None,
                "lastCompletedBuild": next(
                    (self._build_ref(b) for b in builds if not b.building), None
                ),
                "property": [
                    {
                        "_class": "hudson.model.ParametersDefinitionProperty",
                        "parameterDefinitions": [
                            {
                                "name": p["name"],
                                "type": p["type"],
                                "description": p["description"],
                                "defaultParameterValue": {"name": p["name"], "value": p["default"]},
                            }
                            for p in params
                        ],
                    }
                ]
                if params
                else [],
            }
        )
        return out

    def _child_json(self, item: Item, depth: int, tree: bool) -> dict[str, Any]:
        if depth > 0:
            return self._item_json(item, depth - 1, tree)
        ref = self._job_ref(item)
        if tree and item.is_folder:  # `tree=` reaches as deep as it names
            ref["jobs"] = [self._child_json(c, 0, tree) for c in item.children.values()]
        return ref

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

    def _filter(self, obj: Any, query: dict[str, str]) -> Any:
        tree = query.get("tree")
        return apply_tree(obj, parse_tree(tree)) if tree else obj

    # ---- createItem
    def _create_item(
        self, parent: Item, query: dict[str, str], body: bytes, ctype: str | None
    ) -> Reply:
        form: dict[str, str] = {}
        if ctype and ctype.startswith("application/x-www-form-urlencoded"):
            form = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        name = query.get("name") or form.get("name")
        mode = query.get("mode") or form.get("mode")
        if not name:
            raise HttpError(html_error(400, "Query parameter 'name' is required", True))
        bad = next((c for c in name if c in UNSAFE), None)
        if bad:
            raise HttpError(html_error(400, f"‘{bad}’ is an unsafe character", True))
        if name in parent.children:
            raise HttpError(html_error(400, f"A job already exists with the name ‘{name}’", True))
        if mode:
            if mode == "copy":
                src = parent.children.get(form.get("from") or query.get("from", ""))
                if src is None:
                    raise HttpError(html_error(400, "No such job: " + str(query.get("from")), True))
                config = src.config
            elif mode == FOLDER:
                config = f"<{FOLDER}/>".encode()
            elif mode in (WORKFLOW_JOB, "org.jenkinsci.plugins.workflow.job.WorkflowJob"):
                config = b"<flow-definition/>"
            elif mode == FREESTYLE:
                config = b"<project/>"
            else:
                raise HttpError(html_error(400, f"No item type ‘{mode}’ is known", True))
            parent.children[name] = Item(name, parent, config)
            loc = self.abs_url(parent.children[name].url_path + "configure")
            return Reply(302, headers={"Location": loc})
        if ctype is None:
            raise HttpError(html_error(400, "No Content-Type header set", True))
        try:
            parent.children[name] = Item(name, parent, body)
        except ET.ParseError as e:
            raise HttpError(html_error(500, f"Failed to parse config.xml: {e}")) from e
        return Reply(200)

    # ---- builds and queue
    def _build(self, item: Item, kind: str, query: dict[str, str], user: User) -> Reply:
        if item.cls == MULTIBRANCH:
            self._index(item)
            return Reply(302, headers={"Location": self.abs_url(item.url_path)})
        if item.is_folder:
            raise HttpError(html_error(404, "Not Found"))
        defs = item.parameters()
        if kind == "buildWithParameters" and not defs:
            raise HttpError(html_error(400, f"{item.full_name} is not parameterized"))
        if item.disabled:
            raise HttpError(html_error(409, f"{item.full_name} is not buildable"))
        params = {d["name"]: query.get(d["name"], d["default"]) for d in defs}
        for q in self.queue.values():
            if q.job is item and not q.left and q.params == params:
                return Reply(303, headers={"Location": self.abs_url(f"/queue/item/{q.id}/")})
        qid = self.next_queue_id
        self.next_queue_id += 1
        q = QueueItem(qid, item, params)
        self.queue[qid] = q
        threading.Thread(target=self._dequeue, args=(q, user.name), daemon=True).start()
        return Reply(201, headers={"Location": self.abs_url(f"/queue/item/{qid}/")})

    def _dequeue(self, q: QueueItem, user: str) -> None:
        time.sleep(self.queue_delay)
        with self.lock:
            if q.cancelled:
                return
            job = q.job
            number = job.next_build
            job.next_build += 1
            script = self.scripts.get(job.full_name, DEFAULT_SCRIPT)
            build = Build(self, job, number, q.id, q.params, user, script)
            job.builds[number] = build
            q.build, q.left = build, True
        threading.Thread(target=build.run, daemon=True).start()

    def _index(self, mb: Item) -> None:
        branches = self.branches.get(mb.full_name, [])
        log = ["Starting branch indexing..."]
        for br in branches:
            name = quote(br, safe="")
            if name not in mb.children:
                mb.children[name] = Item(name, mb, b"<flow-definition/>")
                log.append(f"Scheduled build for branch: {br}")
        log.append("Finished: SUCCESS")
        mb.indexing_log = "\n".join(log) + "\n"

    def _queue(self, method: str, rest: str, query: dict[str, str], user: User) -> Reply:
        if rest == "api/json":
            items = [self._queue_json(q) for q in self.queue.values() if not q.left]
            return json_reply(self._filter({"_class": "hudson.model.Queue", "items": items}, query))
        if rest == "cancelItem":
            if method != "POST":
                raise HttpError(html_error(405, "Method Not Allowed"))
            self._require(user, "Job/Cancel")
            q = self.queue.get(int(query.get("id", "0") or 0))
            if q is None or q.left:
                raise HttpError(html_error(404, "Not Found"))
            q.cancelled = q.left = True
            return Reply(204)
        m = re.match(r"item/(\d+)/api/json$", rest)
        if m:
            q = self.queue.get(int(m.group(1)))
            if q is None:
                raise HttpError(html_error(404, "Not Found"))
            return json_reply(self._filter(self._queue_json(q), query))
        raise HttpError(html_error(404, "Not Found"))

    def _queue_json(self, q: QueueItem) -> dict[str, Any]:
        base = {
            "id": q.id,
            "task": {
                "_class": q.job.cls,
                "name": q.job.name,
                "url": self.abs_url(q.job.url_path),
                "color": q.job.color(),
            },
            "url": f"queue/item/{q.id}/",
            "blocked": False,
            "buildable": False,
            "stuck": False,
            "inQueueSince": q.since,
            "params": "".join(f"\n{k}={v}" for k, v in q.params.items()),
            "actions": [{"_class": "hudson.model.ParametersAction"}] if q.params else [],
        }
        if not q.left:
            return {
                "_class": "hudson.model.Queue$WaitingItem",
                **base,
                "why": "In the quiet period. Expires in 0 ms",
                "timestamp": q.since + int(self.queue_delay * 1000),
            }
        return {
            "_class": "hudson.model.Queue$LeftItem",
            **base,
            "why": None,
            "cancelled": q.cancelled,
            "executable": self._build_ref(q.build) if q.build else None,
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
            return self._answer(b, unquote(m.group(1)), action, form.get("json"), user)
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

    # ---- credentials
    def _credentials(
        self,
        method: str,
        item: Item,
        rest: str,
        query: dict[str, str],
        body: bytes,
        ctype: str | None,
        user: User,
    ) -> Reply:
        store, _, rest = rest.partition("/")
        expected = "system" if item.is_root else "folder"
        if store != expected or (not item.is_root and not item.is_folder):
            raise HttpError(html_error(404, "Not Found"))
        if not rest.startswith("domain/_/"):
            raise HttpError(html_error(404, "Not Found"))
        rest = rest[len("domain/_/") :]
        creds = item.credentials
        if rest == "api/json":
            data = {
                "_class": "com.cloudbees.plugins.credentials.CredentialsStoreAction$DomainWrapper",
                "credentials": [
                    {
                        "id": c.id,
                        "displayName": c.fields.get("description", c.id),
                        "typeName": CRED_TYPES.get(c.cls, c.cls),
                    }
                    for c in creds.values()
                ],
            }
            return json_reply(self._filter(data, query))
        if rest == "createCredentials":
            if method != "POST":
                raise HttpError(html_error(405, "Method Not Allowed"))
            self._require(user, "Credentials/Create")
            if ctype is None:
                raise HttpError(html_error(400, "No Content-Type header set", True))
            cred = parse_credential(body)
            if cred.id in creds:
                raise HttpError(html_error(409, f"A credential with id ‘{cred.id}’ already exists"))
            creds[cred.id] = cred
            return Reply(200)
        m = re.match(r"credential/([^/]+)/(config\.xml|api/json|doDelete)$", rest)
        if not m or unquote(m.group(1)) not in creds:
            raise HttpError(html_error(404, "Not Found"))
        cred = creds[unquote(m.group(1))]
        if m.group(2) == "api/json":
            return json_reply(
                {
                    "id": cred.id,
                    "displayName": cred.fields.get("description"),
                    "typeName": CRED_TYPES.get(cred.cls, cred.cls),
                }
            )
        if m.group(2) == "doDelete" or method == "DELETE":
            self._require(user, "Credentials/Delete")
            del creds[cred.id]
            return Reply(200)
        if method == "GET":
            return Reply(200, cred.xml(), "application/xml")
        self._require(user, "Credentials/Update")
        new = parse_credential(body)
        for k, v in new.fields.items():
            if v == "\0redacted":
                new.fields[k] = cred.fields.get(k, "")
        del creds[cred.id]
        creds[new.id] = new
        return Reply(200)

    # ---- linter
    def _linter(self, method: str, endpoint: str, body: bytes, ctype: str | None) -> Reply:
        if endpoint not in ("validate", "validateJenkinsfile"):
            raise HttpError(html_error(404, "Not Found"))
        if method != "POST":
            raise HttpError(html_error(405, "Method Not Allowed"))
        text = form_field(body, ctype, "jenkinsfile")
        if endpoint == "validate":
            if text is None:
                return Reply(200, "No Jenkinsfile specified")
            errors = declarative_errors(text)
            if not errors:
                return Reply(200, "Jenkinsfile successfully validated.\n")
            lines = [
                f"WorkflowScript: {ln}: {msg} @ line {ln}, column {col}." for ln, col, msg in errors
            ]
            return Reply(
                200, "Errors encountered validating Jenkinsfile:\n" + "\n".join(lines) + "\n"
            )
        if text is None:
            return json_reply(
                {
                    "status": "ok",
                    "data": {
                        "result": "failure",
                        "errors": [{"error": "No content found for 'jenkinsfile' parameter"}],
                    },
                }
            )
        errors = declarative_errors(text)
        if not errors:
            return json_reply({"status": "ok", "data": {"result": "success"}})
        return json_reply(
            {
                "status": "ok",
                "data": {
                    "result": "failure",
                    "errors": [
                        {"error": [f"{msg} @ line {ln}, column {col}." for ln, col, msg in errors]}
                    ],
                },
            }
        )


# ---------------------------------------------------------------- helpers


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


_TOKEN = re.compile(
    r"'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"|"
    r"//[^\n]*|/\*.*?\*/|[A-Za-z_][A-Za-z0-9_]*|[{}()]|\n|.",
    re.S,
)
TOP_SECTIONS = {
    "agent",
    "stages",
    "post",
    "options",
    "parameters",
    "triggers",
    "environment",
    "tools",
    "libraries",
}


@dataclass
class Block:
    name: str
    line: int
    col: int
    children: list[Block] = field(default_factory=list)


def declarative_errors(text: str) -> list[tuple[int, int, str]]:
    """A light structural check of a declarative Jenkinsfile: (line, column, message)."""
    root = Block("<script>", 1, 1)
    stack = [root]
    line, line_start = 1, 0
    last_word: tuple[str, int, int] | None = None
    depth_paren = 0
    errors: list[tuple[int, int, str]] = []
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        col = m.start() - line_start + 1
        if tok == "\n" or "\n" in tok:
            line += tok.count("\n")
            line_start = m.start() + tok.rfind("\n") + 1
            if tok == "\n":
                continue
        if tok == "(":
            depth_paren += 1
        elif tok == ")":
            depth_paren = max(0, depth_paren - 1)
        elif tok == "{":
            name = last_word[0] if last_word else "{"
            bl, bc = (last_word[1], last_word[2]) if last_word else (line, col)
            block = Block(name, bl, bc)
            stack[-1].children.append(block)
            stack.append(block)
            last_word = None
        elif tok == "}":
            if len(stack) == 1:
                errors.append((line, col, "Unexpected input: '}'"))
            else:
                stack.pop()
            last_word = None
        elif re.match(r"[A-Za-z_]", tok) and depth_paren == 0:
            last_word = (tok, line, col)
    if len(stack) > 1:
        errors.append(
            (
                line,
                1,
                f'Unexpected end of file: block "{stack[-1].name}" '
                f"opened at line {stack[-1].line} is not closed",
            )
        )
        return errors
    pipelines = [b for b in root.children if b.name == "pipeline"]
    if not pipelines:
        return [(1, 1, "Jenkinsfile content did not contain the 'pipeline' step")]
    pipe = pipelines[0]
    names = [c.name for c in pipe.children]
    for c in pipe.children:
        if c.name not in TOP_SECTIONS:
            errors.append(
                (
                    c.line,
                    c.col,
                    f'Not a valid section definition: "{c.name}". '
                    "Some extra configuration is required",
                )
            )
    top_words = set(names) | set(_top_level_words(text, pipe))
    for required in ("agent", "stages"):
        if required not in top_words:
            errors.append((pipe.line, pipe.col, f'Missing required section "{required}"'))
    for stages in (c for c in pipe.children if c.name == "stages"):
        errors.extend(_check_stages(stages))
    return sorted(errors)


def _top_level_words(text: str, pipe: Block) -> list[str]:
    # `agent none` / `agent any` have no block; find them by a line-level scan.
    return ["agent"] if re.search(r"^\s*agent\s+(none|any)\b", text, re.M) else []


def _check_stages(stages: Block) -> list[tuple[int, int, str]]:
    errors = []
    for st in stages.children:
        if st.name != "stage":
            errors.append((st.line, st.col, f'Expected a stage, got "{st.name}"'))
            continue
        kinds = {c.name for c in st.children}
        if not kinds & {"steps", "stages", "parallel", "matrix"}:
            errors.append(
                (st.line, st.col, 'Expected one of "steps", "stages", or "parallel" for stage')
            )
        for sub in st.children:
            if sub.name in ("stages", "parallel"):
                errors.extend(_check_stages(sub))
    return errors
