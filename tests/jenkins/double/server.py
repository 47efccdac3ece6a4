"""The double's HTTP server: lifecycle, test control, auth, crumbs, routing."""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.jenkins.double.approvers import ApproversMixin
from tests.jenkins.double.builds import Build, BuildScript, BuildsMixin
from tests.jenkins.double.casc import CascMixin, CascState
from tests.jenkins.double.common import (
    ROLES,
    VERSION,
    HttpError,
    Reply,
    User,
    html_error,
    json_reply,
)
from tests.jenkins.double.credentials import CredentialsMixin
from tests.jenkins.double.declarative import DeclarativeMixin
from tests.jenkins.double.inputs import InputsMixin
from tests.jenkins.double.jobs import Item, JobsMixin
from tests.jenkins.double.linter import LinterMixin
from tests.jenkins.double.queue import QueueItem, QueueMixin


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


class JenkinsDouble(
    ApproversMixin,
    JobsMixin,
    QueueMixin,
    BuildsMixin,
    InputsMixin,
    CredentialsMixin,
    LinterMixin,
    DeclarativeMixin,
    CascMixin,
):
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
        self.declarations: dict[str, tuple[str, dict[str, str]]] = {}  # job -> Jenkinsfile, env
        self.library_checkouts: dict[str, Path] = {}  # library remote -> its checkout
        self.branches: dict[str, list[str]] = {}
        self.plugins: dict[str, str] = {}
        self.casc = CascState()
        self.requests: list[tuple[str, str, int]] = []
        self.injections: list[Injection] = []
        self.delays: list[tuple[str, float]] = []
        self.errors: list[str] = []  # tracebacks of requests the double itself failed to serve
        self._httpd: _Server | None = None
        self.url = ""

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

    @staticmethod
    def _allows(user: User, perm: str) -> bool:
        return perm in ROLES[user.role]

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
