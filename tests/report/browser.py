"""A static file server that sends Jenkins' Content-Security-Policy, and headless Chromium runs.

Jenkins serves archived files and HTML Publisher reports with this header by default (the
`hudson.model.DirectoryBrowserSupport.CSP` system property); the server here sends it on every
response, so what Chromium renders is what a Jenkins user sees.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

JENKINS_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'self';"
# The value documented on jenkins.io today (core 2.539+ with the CSP plugin's defaults).
JENKINS_CSP_SAME_ORIGIN = (
    "sandbox allow-same-origin; default-src 'none'; img-src 'self'; style-src 'self';"
)

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
WINDOW = (1300, 1900)


@dataclass
class Served:
    url: str
    requests: list[tuple[str, int]] = field(default_factory=list)  # (path, status)


class _Handler(SimpleHTTPRequestHandler):
    csp: str | None = None
    served: Served | None = None

    def end_headers(self) -> None:
        if self.csp is not None:
            self.send_header("Content-Security-Policy", self.csp)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.served is not None:
            self.served.requests.append((self.path, int(code) if str(code).isdigit() else 0))

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(directory: Path, csp: str | None) -> Iterator[Served]:
    """Serve `directory` on 127.0.0.1 (free port) with `csp` as Content-Security-Policy."""
    served = Served("")
    handler = type("Handler", (_Handler,), {"csp": csp, "served": served})
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
    )
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def chromium_argv(chromium: str, profile: Path, *args: str) -> list[str]:
    return [
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        *args,
    ]


def start(chromium: str, profile: Path, *args: str) -> subprocess.Popen:
    """Start one headless Chromium (its own profile folder, so several can run at once)."""
    return subprocess.Popen(
        chromium_argv(chromium, profile, "--enable-logging=stderr", "--v=0", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@dataclass
class Rendered:
    stdout: str  # the DOM, with --dump-dom
    console: list[str]  # the page's console messages (CSP violations are reported there)


def finish(proc: subprocess.Popen, timeout: float = 60) -> Rendered:
    """Wait for a Chromium started by `start` (its whole process group is ended on timeout)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"chromium timed out after {timeout}s: {err[-2000:]}") from None
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {err[-2000:]}"
    return Rendered(out, [line for line in err.splitlines() if ":CONSOLE" in line])
