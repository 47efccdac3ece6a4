"""Serving throughput and tail latency: the mlci model image vs `mlflow models serve`, and the
environment's stable port (HAProxy front) vs calling the serving container directly.

Same model (mlci's default pipeline trained on the bundled 2025Q1 snapshot and registered in a
throwaway MLflow store), same machine, same load generator (wrk, loopback only), same
concurrency, the same single-row `dataframe_records` request to `/invocations`. Both servers
bind to loopback on the host network (the container runs with --network host, so no docker
proxy sits in its path). Prints both, the ratios, and writes benchmarks/results/serve.json.

Stable port rows (same run, same wrk settings): the image runs as a serving container on an
environment network, fronted by the environment's HAProxy front (ml/deploy/docker_env.py,
front.network as configured, default host); measured straight to the container's IP, then
through the stable port with one replica, then with two replicas behind the front.

    .venv/bin/python benchmarks/serve_vs_mlflow.py [--duration 20] [--connections 16]

Needs: Docker Engine + base image (scripts/install-docker.sh, scripts/bootstrap-base-image.sh),
the front image (scripts/bootstrap-front-image.sh) and wrk (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ml.config import load_settings  # noqa: E402
from tests.conftest import write_project  # noqa: E402
from tests.fixtures.mlflow_server import free_port  # noqa: E402
from tests.image.helpers import ROW, register_version  # noqa: E402

BODY = json.dumps({"dataframe_records": [ROW]})


def wait_ready(url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (
                requests.post(
                    url, data=BODY, headers={"Content-Type": "application/json"}, timeout=5
                ).status_code
                == 200
            ):
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer 200 within {timeout:.0f}s")


def wrk(url: str, duration: int, connections: int, threads: int, script: Path) -> dict:
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "raw": out,
    }


def stable_port_rows(settings, image: str, args, script: Path) -> dict:
    """Direct to the container vs through the environment's front, 1 and 2 replicas."""
    import uuid

    import docker
    from ml.config import EnvironmentSettings
    from ml.deploy import docker_env as de

    client = docker.from_env()
    prefix = f"mlci-bench-{uuid.uuid4().hex[:6]}"
    env = EnvironmentSettings(port=free_port(), container=prefix, bind="127.0.0.1")
    rows, started = {}, []
    try:
        front = de.ensure_front(client, settings, "bench", env)
        started.append(front)
        run = {"detach": True, "network": de.network_name(env)}
        if args.workers:
            run["environment"] = {"MLCI_SERVE_WORKERS": str(args.workers)}
        first = client.containers.run(image, name=f"{prefix}-r1", **run)
        started.append(first)
        b1 = de.backend_for(first, env)
        de.set_backends(front, [b1])
        direct = f"http://{b1.address}/invocations"
        stable = f"http://127.0.0.1:{env.port}/invocations"
        wait_ready(direct)
        wait_ready(stable)
        # Alternate the two paths (d s, s d, ...) and keep medians: load from other processes
        # on a shared machine drifts over a run, alternation spreads it over both.
        runs: dict[str, list[dict]] = {"direct": [], "stable_1": []}
        for r in range(args.rounds):
            order = (("direct", direct), ("stable_1", stable))
            for name, url in order if r % 2 == 0 else order[::-1]:
                wrk(url, 2, args.connections, args.threads, script)
                runs[name].append(wrk(url, args.duration, args.connections, args.threads, script))
        for name, results in runs.items():
            rows[name] = {
                key: statistics.median(x[key] for x in results)
                for key in ("rps", "p50_ms", "p99_ms")
            } | {"non_2xx": sum(x["non_2xx"] for x in results), "rounds": len(results)}
            rows[name]["each_rps"] = [round(x["rps"]) for x in results]
        second = client.containers.run(image, name=f"{prefix}-r2", **run)
        started.append(second)
        de.set_backends(front, [b1, de.backend_for(second, env)])
        wrk(stable, 3, args.connections, args.threads, script)
        rows["stable_2"] = wrk(stable, args.duration, args.connections, args.threads, script)
        rows["front_stats"] = de.front_stats(front)
    finally:
        for c in started:
            c.remove(force=True)
        for n in client.networks.list(names=[de.network_name(env)]):
            n.remove()
        for v in client.volumes.list(filters={"name": prefix}):
            v.remove(force=True)
    return rows


def print_stable(stable: dict, settings, args) -> tuple[float, float]:
    d, s1, s2 = stable["direct"], stable["stable_1"], stable["stable_2"]
    print(
        f"\nstable port (front.network {settings.front.network}), {args.connections} connections,"
        f" {args.duration}s runs, direct/stable alternated {args.rounds}x (medians):"
    )
    print(f"{'path':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>9}  req/s each run")
    for name, r in (
        ("direct to the container", d),
        ("stable port, 1 replica", s1),
        ("stable port, 2 replicas", s2),
    ):
        print(
            f"{name:<28}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['non_2xx']:>9}"
            f"  {r.get('each_rps', '')}"
        )
    front_rps, front_p99 = s1["rps"] / d["rps"], s1["p99_ms"] / d["p99_ms"]
    print(f"stable/direct throughput (1 replica): {front_rps:.1%} (target >= 90%)")
    print(f"stable/direct p99 (1 replica):        {front_p99:.2f}x (target <= 1.2x)")
    print(f"2 replicas / 1 replica throughput:    {s2['rps'] / s1['rps']:.2f}x")
    return front_rps, front_p99


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=20, help="seconds per server")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--workers", type=int, default=0, help="mlci workers (0: one per CPU)")
    ap.add_argument(
        "--rounds", type=int, default=3, help="alternating direct/stable-port runs (medians)"
    )
    ap.add_argument(
        "--stable-only",
        metavar="IMAGE",
        help="only the stable-port rows, with an already built model image",
    )
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")

    if args.stable_only:
        tmp = Path(tempfile.mkdtemp(prefix="mlci-bench-serve-"))
        script = tmp / "post.lua"
        script.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(BODY)}\n"
        )
        settings = load_settings(write_project(tmp), environ={})
        print_stable(stable_port_rows(settings, args.stable_only, args, script), settings, args)
        return

    from ml.image.build import build_model_image

    tmp = Path(tempfile.mkdtemp(prefix="mlci-bench-serve-"))
    config = write_project(tmp, overrides={"image.repository": "mlci-bench/churn"})
    (tmp / ".mlci").mkdir(exist_ok=True)
    (tmp / ".mlci" / "cache").symlink_to(REPO / ".mlci" / "cache", target_is_directory=True)
    settings = load_settings(config, environ={})
    print("training + registering the model (default settings, full 2025Q1 snapshot)...")
    version = register_version(settings, approve=True, rows=None)
    print("building the mlci model image...")
    built = build_model_image(settings, None, version)
    print(f"  {built.image}: runtime {built.runtime} ({built.runtime_reason})")

    script = tmp / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(BODY)}\n"
    )
    results = {}

    port = free_port()
    container = subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--rm",
            "--network",
            "host",
            "-e",
            f"MLCI_SERVE_PORT={port}",
            "-e",
            "MLCI_SERVE_HOST=127.0.0.1",
            *(["-e", f"MLCI_SERVE_WORKERS={args.workers}"] if args.workers else []),
            built.image,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        url = f"http://127.0.0.1:{port}/invocations"
        wait_ready(url)
        wrk(url, 3, args.connections, args.threads, script)  # warm-up
        results["mlci"] = wrk(url, args.duration, args.connections, args.threads, script)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True)

    print("stable port: HAProxy front + serving containers on an environment network...")
    stable = stable_port_rows(settings, built.image, args, script)

    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    log = (tmp / "mlflow-serve.log").open("w")
    proc = subprocess.Popen(
        [
            str(mlflow_bin),
            "models",
            "serve",
            "-m",
            f"models:/{settings.mlflow.model_name}/{version}",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/invocations"
        wait_ready(url)
        wrk(url, 3, args.connections, args.threads, script)
        results["mlflow"] = wrk(url, args.duration, args.connections, args.threads, script)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)

    m, f = results["mlci"], results["mlflow"]
    print(
        f"\n{args.connections} connections, {args.duration}s each, single-row /invocations "
        f"({os.cpu_count()} CPUs, wrk {args.threads} threads)"
    )
    print(f"{'server':<28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>9}")
    for name, r in (("mlci image (" + built.runtime + ")", m), ("mlflow models serve", f)):
        print(
            f"{name:<28}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['non_2xx']:>9}"
        )
    ratio_rps, ratio_p99 = m["rps"] / f["rps"], m["p99_ms"] / f["p99_ms"]
    print(f"throughput ratio mlci/mlflow: {ratio_rps:.1f}x (target >= 10x)")
    print(f"p99 ratio mlci/mlflow:        {ratio_p99:.3f} (target <= 0.1)")
    front_rps, front_p99 = print_stable(stable, settings, args)
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "serve.json").write_text(
        json.dumps(
            {
                "runtime": built.runtime,
                "connections": args.connections,
                "duration": args.duration,
                "mlci": {k: v for k, v in m.items() if k != "raw"},
                "mlflow": {k: v for k, v in f.items() if k != "raw"},
                "throughput_ratio": ratio_rps,
                "p99_ratio": ratio_p99,
                "front_network": settings.front.network,
                "stable_port": {
                    k: {kk: vv for kk, vv in v.items() if kk != "raw"}
                    for k, v in stable.items()
                    if k != "front_stats"
                },
                "stable_throughput_ratio": front_rps,
                "stable_p99_ratio": front_p99,
            },
            indent=2,
        )
    )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
