"""Run the model server: `python -m ml.serve` (the model image's entry point).

Environment:
    MLCI_MODEL_DIR             bundle folder (default /opt/model)
    MLCI_SERVE_HOST / _PORT    bind address (default 0.0.0.0:8080)
    MLCI_SERVE_WORKERS         worker processes (default: number of CPUs available)
    MLCI_SERVE_MAX_BODY_BYTES  request body limit (default 1 MiB)
    MLCI_SERVE_LOG_LEVEL       uvicorn log level (default info; access log is off)

Every worker is pinned to one OpenMP/BLAS thread: N workers x M threads on N cores would
oversubscribe the CPU and collapse latency under load.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile


def main() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"  # before numpy/onnxruntime load, inherited by the workers
    import uvicorn

    os.environ.setdefault("MLCI_METRICS_DIR", tempfile.mkdtemp(prefix="mlci-metrics-"))
    workers = int(os.environ.get("MLCI_SERVE_WORKERS") or len(os.sched_getaffinity(0)))
    config = uvicorn.Config(
        "ml.serve.app:create_app",
        factory=True,
        host=os.environ.get("MLCI_SERVE_HOST", "0.0.0.0"),
        port=int(os.environ.get("MLCI_SERVE_PORT", "8080")),
        workers=workers,
        access_log=False,
        log_level=os.environ.get("MLCI_SERVE_LOG_LEVEL", "info"),
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=10,
    )
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        # uvicorn binds the shared socket itself with proto 0, so asyncio's loop (used where
        # uvloop is not installed, e.g. the dev venv; uvloop sets it itself) never sets
        # TCP_NODELAY on its connections: the body (a second write after the headers) then
        # waits for the client's delayed ACK, ~40 ms per keep-alive request. Set on the
        # listening socket, Linux passes it to every accepted connection.
        sock = config.bind_socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        Multiprocess(config, sockets=[sock]).run()
        return
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        sys.exit(3)


if __name__ == "__main__":
    main()
