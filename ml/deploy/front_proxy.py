"""The stable front of one environment: a tiny HTTP/1.1 reverse proxy, standard library only.

It runs in its own container (image built by ml.deploy.front from the base image, with this
file as its only content) and owns the environment's published port. Every request is sent to
the upstream named in UPSTREAM_FILE, read afresh per request, so a deploy switches traffic by
replacing that file atomically (`python front_proxy.py switch HOST:PORT`, run with docker exec).

Why per request and not per connection: a keep-alive client would otherwise stay pinned to the
old container. Each request opens its own upstream connection (`Connection: close`), so the
response ends at upstream EOF whatever its framing; the client connection stays open when the
response is self-delimiting (Content-Length or chunked). A refused upstream connection is
retried once after re-reading the file, which covers the instant of a switch.

This module must not import anything outside the standard library.
"""

from __future__ import annotations

import asyncio
import os
import sys

UPSTREAM_FILE = os.environ.get("MLCI_UPSTREAM_FILE", "/run/mlci/upstream")
LISTEN_PORT = int(os.environ.get("MLCI_FRONT_PORT", "8080"))
MAX_HEAD = 64 * 1024
HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"upgrade"}


def read_upstream() -> tuple[str, int] | None:
    try:
        with open(UPSTREAM_FILE, encoding="ascii") as fh:
            text = fh.read().strip()
    except OSError:
        return None
    host, _, port = text.rpartition(":")
    return (host, int(port)) if host and port.isdigit() else None


def switch(target: str) -> None:
    """Point the front at HOST:PORT atomically (write a temp file, then rename over)."""
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"switch: expected HOST:PORT, got {target!r}")
    os.makedirs(os.path.dirname(UPSTREAM_FILE), exist_ok=True)
    tmp = f"{UPSTREAM_FILE}.{os.getpid()}"
    with open(tmp, "w", encoding="ascii") as fh:
        fh.write(f"{host}:{port}\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, UPSTREAM_FILE)


def _error(status: str, text: str) -> bytes:
    body = text.encode()
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body


def _headers(head: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    lines = head.split(b"\r\n")
    out = []
    for line in lines[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            out.append((k.strip(), v.strip()))
    return lines[0], out


async def _open_upstream() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    last: Exception = ConnectionError("no upstream configured")
    for attempt in range(3):
        target = read_upstream()
        if target:
            try:
                return await asyncio.wait_for(asyncio.open_connection(*target), 5)
            except (TimeoutError, OSError) as e:
                last = e
        await asyncio.sleep(0.05 * (attempt + 1))
    raise last


async def _relay_one(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes
) -> bool:
    """Forward one request; return whether the client connection may be reused."""
    request_line, headers = _headers(head)
    names = {k.lower(): v for k, v in headers}
    if b"chunked" in names.get(b"transfer-encoding", b"").lower():
        writer.write(_error("411 Length Required", "chunked request bodies are not supported"))
        return False
    length = int(names.get(b"content-length", b"0") or 0)
    body = await reader.readexactly(length) if length else b""
    client_keep = names.get(b"connection", b"").lower() != b"close" and request_line.endswith(
        b"HTTP/1.1"
    )
    try:
        up_r, up_w = await _open_upstream()
    except (TimeoutError, OSError) as e:
        writer.write(_error("502 Bad Gateway", f"upstream unavailable: {e}"))
        return False
    try:
        kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]
        out = request_line + b"\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in kept)
        up_w.write(out + b"Connection: close\r\n\r\n" + body)
        await up_w.drain()
        resp_head = await up_r.readuntil(b"\r\n\r\n")
        status_line, resp_headers = _headers(resp_head[:-4])
        rnames = {k.lower(): v for k, v in resp_headers}
        framed = (
            b"content-length" in rnames
            or b"chunked" in rnames.get(b"transfer-encoding", b"").lower()
        )
        keep = client_keep and framed
        kept = [(k, v) for k, v in resp_headers if k.lower() not in HOP_BY_HOP]
        kept.append((b"Connection", b"keep-alive" if keep else b"close"))
        writer.write(status_line + b"\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in kept))
        writer.write(b"\r\n")
        while chunk := await up_r.read(65536):
            writer.write(chunk)
            await writer.drain()
        return keep
    finally:
        up_w.close()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            try:
                keep = await _relay_one(reader, writer, head[:-4])
            except (asyncio.IncompleteReadError, ConnectionError, ValueError) as e:
                writer.write(_error("502 Bad Gateway", f"upstream failed: {e}"))
                keep = False
            await writer.drain()
            if not keep:
                return
    except ConnectionError:
        return
    finally:
        writer.close()


async def serve() -> None:
    server = await asyncio.start_server(handle, "0.0.0.0", LISTEN_PORT, limit=MAX_HEAD)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "switch":
        switch(argv[1])
        return 0
    if argv and argv[0] == "upstream":
        target = read_upstream()
        print(f"{target[0]}:{target[1]}" if target else "")
        return 0 if target else 1
    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
