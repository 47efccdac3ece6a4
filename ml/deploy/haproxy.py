"""The environment front: HAProxy in a container, driven through its runtime API.

The front container runs `haproxy -W` (master-worker) on a configuration kept in its state
volume (/var/lib/haproxy/haproxy.cfg), so a restarted front (or engine) serves the backends it
served before. Its one backend, `serving`, holds one HAProxy server per serving container,
addressed by IP:PORT on the environment network: HAProxy never resolves a name, so Docker's
embedded DNS can fail without the front noticing.

Changing what the front serves (`set_backends`) uses HAProxy's own runtime API (`add server`,
`set server ... weight/addr/state`, `del server`) over the admin socket, reached with
`docker exec` (also for a remote DOCKER_HOST: no extra port to secure). No reload, so no client
connection is dropped. The order makes it zero-downtime: new servers are added and must pass
their health check (GET /ready) first; then weights change; servers that go away are drained
(weight 0 until their requests in flight finish), put in maintenance and deleted. The
configuration file is rewritten (checked with `haproxy -c`) to the same state, and the call
returns only once HAProxy reports exactly the requested servers, addresses and weights.

Failures a client must not see: `option redispatch` + `retry-on conn-failure empty-response`
send a request that could not reach a server (killed replica, connection reset before any
response byte) to another server; health checks (`fall 2`) take a dead server out of rotation.

This module talks to a docker SDK container object only; it never imports click or the CLI.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import dataclasses
import hashlib
import io
import ipaddress
import re
import time
from dataclasses import dataclass
from typing import Any

from ml.errors import InputError, ServiceError

BACKEND = "serving"
FRONT_PORT = 8080
STATE_DIR = "/var/lib/haproxy"
CONFIG = f"{STATE_DIR}/haproxy.cfg"
API_SOCKET = f"{STATE_DIR}/admin.sock"  # the runtime API, for processes in the container only
API = "127.0.0.1:9999"  # also on loopback for images without socat, in bridge mode only
LABEL_CHECK_MS = "org.mlci.front.check_ms"
LABEL_DRAIN_S = "org.mlci.front.drain_s"
LABEL_LISTEN = "org.mlci.front.listen"
LABEL_NET = "org.mlci.front.network"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

# Runs inside the front container: socat when the image has it (mlci/haproxy), else bash's
# /dev/tcp (the official haproxy image has bash but no socat; bridge mode only).
_CLI = (
    'if command -v socat >/dev/null 2>&1; then printf "%s\\n" "$1" | '
    f"socat -t 10 stdio unix-connect:{API_SOCKET}; "
    'else exec bash -c \'exec 3<>/dev/tcp/${0%:*}/${0#*:}; printf "%s\\n" "$1" >&3; '
    f'cat <&3\' {API} "$1"; fi'
)

# The container's command: seed the configuration on the first start, then run the master.
BOOT = (
    f'[ -s {CONFIG} ] || printf %s "$MLCI_FRONT_CONFIG" > {CONFIG} && '
    f"exec haproxy -W -db -f {CONFIG}"
)


@dataclass(frozen=True)
class Backend:
    """One serving container behind the front."""

    name: str  # the serving container's name (unique per replica/version)
    address: str  # "IP:PORT" on the environment network (never a DNS name)
    weight: int = 100  # 0..256 HAProxy weight; 0 = drained (no new requests)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InputError(
                f"backend name {self.name!r}: letters, digits, '.', '_' and '-' only "
                "(a container name)"
            )
        host, _, port = self.address.rpartition(":")
        try:
            ipaddress.ip_address(host.strip("[]"))
            ok = port.isdigit() and 0 < int(port) < 65536
        except ValueError:
            ok = False
        if not ok:
            raise InputError(
                f"backend {self.name}: address {self.address!r} is not IP:PORT "
                "(the front never resolves names)"
            )
        if not 0 <= self.weight <= 256:
            raise InputError(f"backend {self.name}: weight {self.weight} is not in 0..256")


@dataclass(frozen=True)
class FrontOptions:
    """What the configuration of one front depends on (kept in the front container's labels)."""

    check_interval_ms: int = 500
    drain_timeout: float = 30.0
    listen: str = f":{FRONT_PORT}"  # HAProxy's bind: ADDR:PORT on the host in host mode
    host_network: bool = False

    def labels(self) -> dict[str, str]:
        return {
            LABEL_CHECK_MS: str(self.check_interval_ms),
            LABEL_DRAIN_S: str(self.drain_timeout),
            LABEL_LISTEN: self.listen,
            LABEL_NET: "host" if self.host_network else "bridge",
        }

    @classmethod
    def of(cls, front: Any) -> FrontOptions:
        labels = front.labels or {}
        return cls(
            int(labels.get(LABEL_CHECK_MS, 500)),
            float(labels.get(LABEL_DRAIN_S, 30.0)),
            labels.get(LABEL_LISTEN, f":{FRONT_PORT}"),
            labels.get(LABEL_NET) == "host",
        )


def _server_args(b: Backend, opts: FrontOptions) -> str:
    return (
        f"{b.address} weight {b.weight} check inter {opts.check_interval_ms} "
        f"fastinter {max(100, opts.check_interval_ms // 2)} fall 2 rise 1 "
        "observe layer4 error-limit 1 on-error mark-down"
    )


def _template(opts: FrontOptions) -> str:
    return f"""\
global
    stats socket {API_SOCKET} mode 600 level admin
{"" if opts.host_network else f"    stats socket ipv4@{API} level admin"}
    stats timeout 30s
    maxconn 4096
    # 128 KiB buffers: a request head up to ~127 KB reaches the serving app, which decides
    # (HAProxy's default 16 KiB would answer 400 to a 100 KB header the app accepts).
    tune.bufsize 131072
    hard-stop-after 60s

defaults
    mode http
    option http-keep-alive
    option redispatch 1
    retries 3
    retry-on conn-failure empty-response
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-request 30s
    timeout http-keep-alive 30s
    timeout queue 10s
    timeout check 1s

frontend stable
    bind {opts.listen}
    default_backend {BACKEND}

backend {BACKEND}
    balance roundrobin
    http-reuse safe
    option httpchk
    http-check send meth GET uri /ready
"""


def template_digest(opts: FrontOptions) -> str:
    return hashlib.sha256(_template(opts).encode()).hexdigest()[:12]


def render_config(backends: list[Backend], opts: FrontOptions) -> str:
    """The whole haproxy.cfg for these backends (first line: the template's digest)."""
    lines = [f"# mlci front, template {template_digest(opts)}", _template(opts).rstrip()]
    lines += [f"    server {b.name} {_server_args(b, opts)}" for b in backends]
    return "\n".join(lines) + "\n"


def _exec(front: Any, argv: list[str], what: str) -> str:
    try:
        code, out = front.exec_run(argv)
    except Exception as e:  # the docker SDK raises APIError/NotFound for a stopped container
        raise ServiceError(f"front {front.name}: {what} failed: {e}") from None
    text = out.decode(errors="replace") if out else ""
    if code != 0:
        raise ServiceError(f"front {front.name}: {what} failed (exit {code}): {text.strip()}")
    return text


def api(front: Any, command: str) -> str:
    """Send one runtime API command line (several may be joined with ';'); return the answer."""
    return _exec(front, ["sh", "-c", _CLI, "sh", command], f"runtime API {command.split()[0]!r}")


def _expect(front: Any, command: str, *ok: str) -> None:
    """Run a command whose success is an empty answer or one containing an `ok` word."""
    answer = api(front, command).strip()
    if answer and not any(o in answer for o in ok):
        raise ServiceError(f"front {front.name}: HAProxy refused {command!r}: {answer}")


def wait_api(front: Any, timeout: float = 15.0) -> None:
    """Wait until the front's HAProxy answers on its runtime API."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if "Uptime" in api(front, "show info"):
                return
        except ServiceError as e:
            if time.monotonic() > deadline:
                front.reload()
                raise ServiceError(
                    f"front {front.name} ({front.status}) does not answer on its runtime API: "
                    f"{e}\n{_logs(front)}"
                ) from None
        time.sleep(0.1)


def _logs(front: Any) -> str:
    try:
        return front.logs(tail=10).decode(errors="replace").strip()
    except Exception:
        return ""


@dataclass(frozen=True)
class _State:
    backend: Backend
    op_state: int  # 0 stopped (down), 1 starting, 2 running (up), 3 stopping
    admin_state: int  # bit field; 0 = ready, non-zero = maintenance/drain
    check_passed: bool  # the last health check passed (a new server counts as UP before)


def _servers(front: Any) -> dict[str, _State]:
    text = api(front, f"show servers state {BACKEND}")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    header = next((ln for ln in lines if ln.startswith("# be_id")), None)
    if header is None:
        raise ServiceError(f"front {front.name}: unexpected 'show servers state': {text[:300]}")
    cols = header[2:].split()
    out = {}
    for line in lines:
        fields = line.split()
        if line.startswith("#") or len(fields) < len(cols):  # the first line is a format number
            continue
        row = dict(zip(cols, fields, strict=False))
        name = row["srv_name"]
        out[name] = _State(
            Backend(name, f"{row['srv_addr']}:{row['srv_port']}", int(row["srv_uweight"])),
            int(row["srv_op_state"]),
            int(row["srv_admin_state"]),
            row.get("srv_check_result") == "3",  # CHK_RES_PASSED
        )
    return out


def front_backends(front: Any) -> list[Backend]:
    """What the front serves now (in HAProxy's order)."""
    return [s.backend for s in _servers(front).values()]


def server_states(front: Any) -> dict[str, str]:
    """Per backend: UP, DOWN (failing its health check), STARTING, STOPPING, or MAINT."""
    names = {0: "DOWN", 1: "STARTING", 2: "UP", 3: "STOPPING"}
    return {
        n: "MAINT" if s.admin_state else names.get(s.op_state, str(s.op_state))
        for n, s in _servers(front).items()
    }


def _stat_rows(front: Any) -> list[dict[str, str]]:
    text = api(front, f"show stat {BACKEND} 4 -1")
    text = text.lstrip("# ")
    return [r for r in csv.DictReader(io.StringIO(text)) if r.get("svname")]


def front_stats(front: Any) -> dict[str, dict[str, int]]:
    """Per backend: requests, 2xx, 4xx, 5xx as answered by it, and failed (connection or
    response errors HAProxy saw on it; a retried request counts here and succeeds elsewhere).
    Counters start at 0 when a backend is added."""

    def n(row: dict[str, str], key: str) -> int:
        value = row.get(key) or "0"
        return int(value) if value.isdigit() else 0

    out = {}
    for row in _stat_rows(front):
        out[row["svname"]] = {
            "requests": n(row, "req_tot") or n(row, "stot"),
            "2xx": n(row, "hrsp_2xx"),
            "4xx": n(row, "hrsp_4xx"),
            "5xx": n(row, "hrsp_5xx"),
            # a connection retried (wretr) or redispatched (wredis) elsewhere failed here
            "failed": n(row, "econ") + n(row, "eresp") + n(row, "wretr") + n(row, "wredis"),
            "current": n(row, "scur"),
        }
    return out


def write_config(front: Any, backends: list[Backend], opts: FrontOptions) -> None:
    """Replace the persisted configuration, after `haproxy -c` accepted it."""
    data = base64.b64encode(render_config(backends, opts).encode()).decode()
    script = (
        f'printf %s "$1" | base64 -d > {CONFIG}.new && haproxy -c -q -f {CONFIG}.new && '
        f"mv -f {CONFIG}.new {CONFIG}"
    )
    _exec(front, ["sh", "-c", script, "sh", data], "writing haproxy.cfg")


def reload(front: Any) -> None:
    """Graceful reload of the master (new worker on the new file; the old one finishes its
    connections). Used only when the configuration template changed, not to switch versions."""
    _exec(front, ["sh", "-c", f"haproxy -c -q -f {CONFIG} && kill -USR2 1"], "reload")
    time.sleep(0.5)
    wait_api(front)


def configured_template(front: Any) -> str:
    return _exec(front, ["head", "-n", "1", CONFIG], "reading haproxy.cfg").strip()


def _wait(front: Any, what: str, timeout: float, ready: Any) -> dict[str, _State]:
    deadline = time.monotonic() + timeout
    while True:
        state = _servers(front)
        if ready(state):
            return state
        if time.monotonic() > deadline:
            raise ServiceError(f"front {front.name}: {what} (HAProxy reports {_describe(state)})")
        time.sleep(0.1)


def _describe(state: dict[str, _State]) -> str:
    up = {0: "DOWN", 1: "STARTING", 2: "UP", 3: "STOPPING"}
    return (
        ", ".join(
            f"{s.backend.name}={s.backend.address} weight {s.backend.weight} "
            f"{up.get(s.op_state, s.op_state)}{' MAINT' if s.admin_state else ''}"
            for s in state.values()
        )
        or "no servers"
    )


def _remove(front: Any, name: str, opts: FrontOptions) -> None:
    """Drain a server (no new requests), let its requests in flight finish, delete it."""
    _expect(front, f"set server {BACKEND}/{name} weight 0")
    deadline = time.monotonic() + opts.drain_timeout
    while time.monotonic() < deadline:
        current = front_stats(front).get(name, {}).get("current", 0)
        if current == 0:
            break
        time.sleep(0.1)
    _expect(front, f"set server {BACKEND}/{name} state maint")
    for _ in range(50):
        answer = api(front, f"del server {BACKEND}/{name}").strip()
        if "deleted" in answer or "No such server" in answer:
            return
        time.sleep(0.1)
    api(front, f"shutdown sessions server {BACKEND}/{name}")
    _expect(front, f"del server {BACKEND}/{name}", "deleted", "No such server")


def set_backends(front: Any, backends: list[Backend], *, timeout: float = 30.0) -> None:
    """Make the front serve exactly `backends`, without dropping a request.

    New servers join only after passing their health check; then weights and addresses change;
    removed servers are drained and deleted. Returns once HAProxy reports exactly these
    servers, addresses and weights (weight > 0 ones UP); ServiceError otherwise, in which case
    servers added by this call are removed again and the previous servers keep serving.
    """
    names = [b.name for b in backends]
    if len(set(names)) != len(names):
        raise InputError(f"set_backends: duplicate backend names in {names}")
    opts = FrontOptions.of(front)
    before = _servers(front)
    wanted = {b.name: b for b in backends}
    added = [b for b in backends if b.name not in before]
    try:
        for b in added:  # joins with weight 0: no traffic until it passed its health check
            idle = Backend(b.name, b.address, 0)
            _expect(
                front, f"add server {BACKEND}/{b.name} {_server_args(idle, opts)}", "registered"
            )
            _expect(front, f"enable health {BACKEND}/{b.name}")
            _expect(front, f"enable server {BACKEND}/{b.name}")
        if added:
            _wait(
                front,
                "new servers did not pass their health check (GET /ready) in time",
                timeout,
                lambda s: all(
                    b.name in s and s[b.name].op_state == 2 and s[b.name].check_passed
                    for b in added
                ),
            )
    except BaseException:
        for b in added:
            with contextlib.suppress(ServiceError):
                _remove(front, b.name, dataclasses.replace(opts, drain_timeout=0))
        raise
    for b in backends:
        old = before.get(b.name)
        if old is not None and old.backend.address != b.address:
            host, _, port = b.address.rpartition(":")
            _expect(
                front,
                f"set server {BACKEND}/{b.name} addr {host} port {port}",
                "changed",
                "no need",
            )
        if old is not None and old.admin_state:
            _expect(front, f"set server {BACKEND}/{b.name} state ready")
    # All weights in one runtime API line, raised ones first: a switch from one server to
    # another is a single step, and no moment has every server at weight 0.
    current = {n: s.backend.weight for n, s in before.items()}
    changes = [b for b in backends if current.get(b.name, 0) != b.weight]
    changes.sort(key=lambda b: b.weight <= current.get(b.name, 0))
    commands = [f"set server {BACKEND}/{b.name} weight {b.weight}" for b in changes]
    commands += [f"set server {BACKEND}/{n} weight 0" for n in before if n not in wanted]
    if commands:
        _expect(front, "; ".join(commands))
    for name in before:
        if name not in wanted:
            _remove(front, name, opts)
    write_config(front, backends, opts)

    def exact(state: dict[str, _State]) -> bool:
        return set(state) == set(wanted) and all(
            state[n].backend == wanted[n]
            and state[n].admin_state == 0
            and (wanted[n].weight == 0 or state[n].op_state == 2)
            for n in wanted
        )

    _wait(front, f"does not serve exactly {backends}", timeout, exact)
