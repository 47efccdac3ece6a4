"""A plain switch and a canary promotion with the real model image, a client calling throughout.

Trains two versions of the bundled churn pipeline (identical, so the canary's disagreement is
0), builds and pushes their model images to a private registry (scripts/start-registry.sh) and
deploys to a private environment on the local Docker Engine, while a client calls
POST /invocations through the stable port on one keep-alive session, one row at a time. Side by
side in one run:

- switch: `mlci deploy staging 2` over version 1 (all traffic moves once checks passed);
- canary: `mlci deploy staging 1 --canary 20 --for DURATION` over version 2 (20% by weight,
  watched, promoted by the bounds; interval 1 s).

Prints per way the requests made, the failed ones, the longest gap between two answers and the
deploy's duration, plus the canary's decision and figures.

    .venv/bin/python benchmarks/canary.py [--for 20s]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import write_project  # noqa: E402
from tests.deploy.real_images import prepare_models, remove_environment  # noqa: E402
from tests.deploy.test_rollout_real import traffic_rows  # noqa: E402
from tests.fixtures.mlflow_server import free_port  # noqa: E402


class Client(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop = f"{url}/invocations", threading.Event()
        self.ok, self.failed, self.gap = 0, 0, 0.0

    def run(self) -> None:
        rows, s, last, i = traffic_rows(), requests.Session(), time.monotonic(), 0
        while not self.stop.is_set():
            try:
                r = s.post(self.url, json={"dataframe_records": [rows[i % len(rows)]]}, timeout=10)
                r.raise_for_status()
                now = time.monotonic()
                self.ok, self.gap, last = self.ok + 1, max(self.gap, now - last), now
            except requests.RequestException:
                self.failed += 1
            i += 1
            time.sleep(0.002)


def mlci(config: Path, *args: str) -> tuple[float, str]:
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "ml", *args],
        env={**os.environ, "MLCI_CONFIG": str(config)},
        cwd=config.parent,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        sys.exit(f"mlci {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return time.monotonic() - t0, proc.stdout


def measured(url: str, config: Path, *args: str) -> dict:
    client = Client(url)
    client.start()
    time.sleep(1.0)
    seconds, out = mlci(config, *args)
    time.sleep(0.5)
    client.stop.set()
    client.join()
    return {
        "seconds": seconds,
        "ok": client.ok,
        "failed": client.failed,
        "gap": client.gap,
        "record": json.loads(out),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--for", dest="duration", default="20s", help="canary watch (default 20s)")
    args = ap.parse_args()
    import docker

    client = docker.from_env()
    work = Path(tempfile.mkdtemp(prefix="mlci-bench-canary-"))
    port = free_port()
    reg_env = {
        **os.environ,
        "MLCI_STATE_DIR": str(work / "registry"),
        "MLCI_REGISTRY_PORT": str(port),
        "MLCI_REGISTRY_USER": "bench",
        "MLCI_REGISTRY_PASSWORD": uuid.uuid4().hex,
    }
    script = str(ROOT / "scripts" / "start-registry.sh")
    subprocess.run([script, "start"], env=reg_env, check=True, capture_output=True)
    os.environ.update(
        MLCI_REGISTRY_USER="bench", MLCI_REGISTRY_PASSWORD=reg_env["MLCI_REGISTRY_PASSWORD"]
    )
    prefix = f"mlcibench-{uuid.uuid4().hex[:6]}"
    try:
        print("training, building and pushing 2 versions (real model image)...", flush=True)
        models = prepare_models(
            work / "models",
            f"127.0.0.1:{port}",
            "bench",
            reg_env["MLCI_REGISTRY_PASSWORD"],
            training={"1": (3000, 60), "2": (3000, 60)},
        )
        stable = free_port()
        env = f"bench-{prefix[-6:]}"
        config = write_project(
            work / "proj",
            {
                "mlflow.tracking_uri": models.tracking_uri,
                "registry.url": models.registry_url,
                "image.repository": models.repository,
                "environments": {
                    env: {  # a private name: other deploy code on this engine may treat any
                        # container labelled `staging` as its own
                        "alias": "staging",
                        "port": stable,
                        "bind": "127.0.0.1",
                        "container": f"{prefix}-staging",
                        "drain_seconds": 0.5,
                        "cpus": 1.0,
                        "memory": "512m",
                        "canary": {"interval": 1, "min_requests": 50, "min_compared": 20},
                    }
                },
            },
        )
        url = f"http://127.0.0.1:{stable}"
        mlci(config, "deploy", env, "1")
        switch = measured(url, config, "deploy", env, "2", "--json")
        canary = measured(
            url,
            config,
            "deploy",
            env,
            "1",
            "--canary",
            "20",
            "--for",
            args.duration,
            "--json",
        )
    finally:
        remove_environment(client, prefix)
        subprocess.run([script, "stop"], env=reg_env, capture_output=True)
    print(f"{'way':<28}{'requests':>10}{'failed':>8}{'longest gap':>14}{'deploy':>10}")
    for name, row in (("switch v1->v2", switch), (f"canary 20% {args.duration} v2->v1", canary)):
        print(
            f"{name:<28}{row['ok']:>10}{row['failed']:>8}{row['gap'] * 1000:>11.0f} ms"
            f"{row['seconds']:>8.1f} s"
        )
    c = canary["record"]["canary"]
    print(f"canary decision: {c['decision']} ({'; '.join(c['reasons'])})")
    print("canary figures:", json.dumps(c["figures"], sort_keys=True))
    print(f"gap ratio canary/switch: {canary['gap'] / max(switch['gap'], 1e-9):.2f}")


if __name__ == "__main__":
    main()
