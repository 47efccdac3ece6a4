"""What the prediction log costs the server: the model image with the log off, on at sample rate
1.0 and on at 0.1, side by side in one run.

The same image (mlci's default pipeline trained on the bundled 2025Q1 snapshot), three
containers started as `mlci deploy` starts them (the log's settings from
ml/deploy/predictions.py `container_config`, a fresh Docker volume each), on the host network
(no docker proxy in the path), the same single-row `/invocations` request driven by wrk. The
configurations take turns (in a rotating order) for `--rounds` rounds so a load change on the
machine hits all of them; the median round is reported, with the ratios to "off" and the log's
own counters (records written, dropped) from /metrics. Besides req/s and latency (which other
load on the machine moves), the CPU time the container used per request (its cgroup counter
before and after each run) is printed: it measures the log's cost even on a busy machine.
Writes benchmarks/results/prediction_log.json.

    .venv/bin/python benchmarks/prediction_log.py [--duration 10] [--rounds 3] [--connections 16]
    .venv/bin/python benchmarks/prediction_log.py --in-process [--requests 20000] [--rounds 5]

`--in-process` measures the same three configurations without Docker, HTTP or wrk: the serving
app (ml/serve/app.py) called directly as an ASGI app on one event loop, CPU time of the whole
process (request path + the log's writer thread, drained before the clock stops) per request,
interleaved rounds, median. It isolates the log's own cost from the machine's other load.

Needs: Docker Engine + base image (scripts/install-docker.sh, scripts/bootstrap-base-image.sh)
and wrk (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.serve_vs_mlflow import BODY, wait_ready, wrk  # noqa: E402
from ml.config import EnvironmentSettings, PredictionLogSettings, load_settings  # noqa: E402
from ml.deploy.predictions import container_config  # noqa: E402
from tests.conftest import write_project  # noqa: E402
from tests.fixtures.mlflow_server import free_port  # noqa: E402
from tests.image.helpers import register_version  # noqa: E402

CONFIGS = (("off", None), ("log 1.0", 1.0), ("log 0.1", 0.1))


def _cpu_ns(container) -> int:
    """CPU time the container's processes used so far (cgroup), in nanoseconds."""
    return int(container.stats(stream=False)["cpu_stats"]["cpu_usage"]["total_usage"])


def _counter(text: str, name: str) -> int:
    m = re.search(rf"^{name} (\d+)$", text, re.M)
    return int(m.group(1)) if m else 0


def in_process(requests_n: int, rounds: int) -> None:
    import asyncio
    import time

    from ml.serve.app import ServingApp
    from ml.serve.predictor import load_bundle
    from ml.serve.predlog import LogConfig
    from tests.fixtures.serving import build_bundles

    tmp = Path(tempfile.mkdtemp(prefix="mlci-bench-predlog-"))
    print("training + compiling a bundle (3,000 rows of 2025Q1)...")
    bundle = build_bundles(tmp / "bundles")["strong"]
    body = BODY.encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/invocations",
        "headers": [(b"content-type", b"application/json")],
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        return None

    async def drive(app: ServingApp) -> tuple[float, float]:
        start, path0 = time.process_time(), time.thread_time()
        for _ in range(requests_n):
            await app(scope, receive, send)
        path = time.thread_time() - path0
        if app.log is not None:
            app.log.close(timeout=60)  # the writer's work counts too
        total = time.process_time() - start
        return total / requests_n * 1e6, path / requests_n * 1e6

    runs: dict[str, list[float]] = {name: [] for name, _ in CONFIGS}
    paths: dict[str, list[float]] = {name: [] for name, _ in CONFIGS}
    logged: dict[str, int] = {}
    for r in range(rounds):
        order = [CONFIGS[(i + r) % len(CONFIGS)] for i in range(len(CONFIGS))]
        for name, rate in order:
            cfg = None
            if rate is not None:
                folder = tmp / f"log-{r}-{rate}"
                folder.mkdir()
                cfg = LogConfig(folder=folder, sample_rate=rate, container="bench")
            app = ServingApp(load_bundle(bundle), log_config=cfg)
            app.warm_up()
            if app.log is not None:
                app.log.start()
            total, path = asyncio.run(drive(app))
            runs[name].append(total)
            paths[name].append(path)
            if app.log is not None:
                logged[name] = app.log.counters.total()["written"]
            print(
                f"  round {r + 1} {name:<8} {total:>7.1f} us CPU/request "
                f"({path:.1f} on the request path)"
            )
    off = statistics.median(runs["off"])
    print(
        f"\nin-process ASGI calls, {requests_n} single-row /invocations x {rounds} rounds "
        f"(median), CPU time of the process per request; load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'configuration':<14}{'CPU us/req':>11}{'CPU/off':>9}{'request path':>14}"
        f"{'other threads':>15}{'logged (last round)':>21}"
    )
    table = {}
    for name, _ in CONFIGS:
        cpu = statistics.median(runs[name])
        path = statistics.median(paths[name])
        writer = statistics.median(t - p for t, p in zip(runs[name], paths[name], strict=True))
        table[name] = {
            "cpu_us_per_request": cpu,
            "cpu_ratio": cpu / off,
            "request_path_us": path,
            "other_threads_us": writer,
            "rounds": runs[name],
        }
        print(
            f"{name:<14}{cpu:>11.1f}{cpu / off:>9.3f}{path:>14.1f}{writer:>15.1f}"
            f"{logged.get(name, 0):>21}"
        )
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "prediction_log_in_process.json").write_text(
        json.dumps({"requests": requests_n, "rounds": rounds, "configurations": table}, indent=2)
    )
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds per configuration per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--workers", type=int, default=0, help="server workers (0: one per CPU)")
    ap.add_argument(
        "--in-process", action="store_true", help="call the ASGI app directly (no Docker/wrk)"
    )
    ap.add_argument("--requests", type=int, default=20000, help="requests per in-process round")
    args = ap.parse_args()
    if args.in_process:
        in_process(args.requests, args.rounds)
        return
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")

    import docker
    from ml.image.build import build_model_image

    client = docker.from_env()
    tmp = Path(tempfile.mkdtemp(prefix="mlci-bench-predlog-"))
    config = write_project(tmp, overrides={"image.repository": "mlci-bench/churn"})
    (tmp / ".mlci").mkdir(exist_ok=True)
    if (REPO / ".mlci" / "cache").is_dir():  # share the checkout's wheelhouse cache
        (tmp / ".mlci" / "cache").symlink_to(REPO / ".mlci" / "cache", target_is_directory=True)
    settings = load_settings(config, environ={})
    print("training + registering the model (default settings, full 2025Q1 snapshot)...")
    version = register_version(settings, approve=True, rows=None)
    print("building the mlci model image...")
    built = build_model_image(settings, None, version)
    print(f"  {built.image}: runtime {built.runtime}")

    script = tmp / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(BODY)}\n"
    )
    prefix = f"mlci-bench-predlog-{uuid.uuid4().hex[:6]}"
    containers = {}
    try:
        for name, rate in CONFIGS:
            port = free_port()
            env = {"MLCI_SERVE_PORT": str(port), "MLCI_SERVE_HOST": "127.0.0.1"}
            if args.workers:
                env["MLCI_SERVE_WORKERS"] = str(args.workers)
            kwargs: dict = {}
            if rate is not None:
                slug = name.replace(" ", "-").replace(".", "")
                target = EnvironmentSettings(
                    port=port,
                    container=f"{prefix}-{slug}",
                    prediction_log=PredictionLogSettings(sample_rate=rate),
                )
                extra = container_config(
                    settings, "bench", target, container_name=target.container, version=version
                )
                env.update(extra["environment"])
                kwargs["volumes"] = extra["volumes"]
            c = client.containers.run(
                built.image,
                name=f"{prefix}-{len(containers)}",
                detach=True,
                network_mode="host",
                environment=env,
                **kwargs,
            )
            url = f"http://127.0.0.1:{port}"
            containers[name] = (c, url)
            wait_ready(f"{url}/invocations")
            wrk(f"{url}/invocations", 3, args.connections, args.threads, script)  # warm-up

        runs: dict[str, list[dict]] = {name: [] for name, _ in CONFIGS}
        for r in range(args.rounds):
            order = [CONFIGS[(i + r) % len(CONFIGS)] for i in range(len(CONFIGS))]
            for name, _ in order:  # each configuration goes first in some round
                c, url = containers[name]
                cpu0 = _cpu_ns(c)
                res = wrk(
                    f"{url}/invocations", args.duration, args.connections, args.threads, script
                )
                served = int(re.search(r"(\d+) requests in", res["raw"]).group(1))
                res["cpu_us_per_request"] = (_cpu_ns(c) - cpu0) / 1000 / max(served, 1)
                runs[name].append(res)
                print(
                    f"  round {r + 1} {name:<8} {res['rps']:>8.0f} req/s  "
                    f"p99 {res['p99_ms']:.2f} ms  {res['cpu_us_per_request']:.0f} us CPU/request"
                )
        counters = {}
        for name, rate in CONFIGS:
            if rate is None:
                continue
            text = requests.get(f"{containers[name][1]}/metrics", timeout=5).text
            counters[name] = {
                "records": _counter(text, "mlci_prediction_log_records_total"),
                "dropped": _counter(text, "mlci_prediction_log_dropped_total"),
                "requests": _counter(
                    text, 'mlci_http_requests_total{endpoint="invocations",status="200"}'
                ),
            }
    finally:
        for c, _ in containers.values():
            c.remove(force=True)
        for v in client.volumes.list():
            if v.name.startswith(prefix):
                v.remove(force=True)

    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name])

    off_rps, off_p99 = median("off", "rps"), median("off", "p99_ms")
    off_cpu = median("off", "cpu_us_per_request")
    load = os.getloadavg()
    print(
        f"\n{args.connections} connections, {args.duration}s x {args.rounds} rounds each "
        f"(median shown), single-row /invocations ({os.cpu_count()} CPUs, wrk "
        f"{args.threads} threads), runtime {built.runtime}; load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    )
    print(
        f"{'configuration':<14}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'rps/off':>9}"
        f"{'p99/off':>9}{'CPU us/req':>11}{'CPU/off':>9}{'logged':>10}{'dropped':>9}"
    )
    table = {}
    for name, _ in CONFIGS:
        rps, p50, p99 = median(name, "rps"), median(name, "p50_ms"), median(name, "p99_ms")
        cpu = median(name, "cpu_us_per_request")
        c = counters.get(name, {})
        table[name] = {
            "rps": rps,
            "p50_ms": p50,
            "p99_ms": p99,
            "rps_ratio": rps / off_rps,
            "p99_ratio": p99 / off_p99,
            "cpu_us_per_request": cpu,
            "cpu_ratio": cpu / off_cpu,
            **c,
            "rounds": [{k: v for k, v in run.items() if k != "raw"} for run in runs[name]],
        }
        print(
            f"{name:<14}{rps:>9.0f}{p50:>9.2f}{p99:>9.2f}{rps / off_rps:>9.3f}"
            f"{p99 / off_p99:>9.3f}{cpu:>11.0f}{cpu / off_cpu:>9.3f}"
            f"{c.get('records', 0):>10}{c.get('dropped', 0):>9}"
        )
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "prediction_log.json").write_text(
        json.dumps(
            {
                "runtime": built.runtime,
                "connections": args.connections,
                "duration": args.duration,
                "rounds": args.rounds,
                "load_average": load,
                "configurations": table,
            },
            indent=2,
        )
    )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
