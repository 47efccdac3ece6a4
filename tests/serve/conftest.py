"""Two real model bundles (a trained pipeline and a deliberately weak one, both compiled to ONNX
as `mlci model build` does) and a way to run the real server (`python -m ml.serve`, uvicorn
with worker processes) on them, once per session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from ml.config import load_settings
from tests.conftest import REPO
from tests.fixtures.mlflow_server import free_port


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name -> bundle folder: "strong" (max_iter 40) and "weak" (one two-leaf tree)."""
    from mlflow.models import infer_signature
    from threadpoolctl import threadpool_limits

    from ml.data.dataset import read_frame, resolve_dataset
    from ml.serve.compile import build_bundle
    from ml.train.model import build_pipeline, feature_frame

    root = tmp_path_factory.mktemp("predlog-bundles")
    out = {}
    for name, params, version in (
        ("strong", {"MLCI_TRAIN__PARAMS__MAX_ITER": "40"}, "1"),
        (
            "weak",
            {"MLCI_TRAIN__PARAMS__MAX_ITER": "1", "MLCI_TRAIN__PARAMS__MAX_LEAF_NODES": "2"},
            "2",
        ),
    ):
        settings = load_settings(REPO / "mlci.yaml", environ=params)
        frame = read_frame(resolve_dataset(settings), settings).head(3000)
        X = feature_frame(frame, settings)
        with threadpool_limits(1):
            model = build_pipeline(settings).fit(X, frame[settings.data.target])
        inputs = infer_signature(X, model.predict(X)).inputs.to_dict()
        meta = {
            "model": {"name": "churn-classifier", "version": version, "run_id": "r" + version},
            "input_example": X.head(1).to_dict(orient="records"),
        }
        build_bundle(model, inputs, root / name, meta, X)
        out[name] = root / name
    return out


@dataclass
class Server:
    url: str
    log_dir: Path | None
    proc: subprocess.Popen


@contextmanager
def serve(bundle: Path, tmp: Path, workers: int = 2, **log_env: str) -> Iterator[Server]:
    """`python -m ml.serve` on a free port; MLCI_PREDLOG_* from `log_env` (DIR added when
    any is given)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLCI_")}
    env.update(
        MLCI_MODEL_DIR=str(bundle),
        MLCI_SERVE_HOST="127.0.0.1",
        MLCI_SERVE_PORT=str(port),
        MLCI_SERVE_WORKERS=str(workers),
        MLCI_SERVE_LOG_LEVEL="warning",
        PYTHONPATH=str(REPO),
    )
    log_dir = None
    if log_env:
        log_dir = tmp / f"log-{port}"
        log_dir.mkdir(parents=True)
        env["MLCI_PREDLOG_DIR"] = str(log_dir)
        env.update({f"MLCI_PREDLOG_{k.upper()}": v for k, v in log_env.items()})
    proc = subprocess.Popen(
        [sys.executable, "-m", "ml.serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if requests.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"server never became ready:\n{proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        yield Server(url, log_dir, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
