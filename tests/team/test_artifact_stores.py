"""Artifact stores other than S3 behind MLflow's artifact proxy: Azure Blob on Azurite.

Azurite comes from npm (3.34.0 runs on Node 20) and is installed on first use into
~/.cache/mlci/azurite; the MLflow server runs from the team tools venv, which carries
azure-storage-blob (scripts/team-stack.sh installs it). The agent side needs no Azure SDK: the
server proxies every upload and download. GCS (fake-gcs-server) is documented in docs/team.md,
not tested here.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import need_service
from tests.fixtures.mlflow_server import free_port
from tests.fixtures.team_stack import SCRIPT, TOOLS

pytestmark = [pytest.mark.slow]

AZURITE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlci" / "azurite"
# Azurite's documented development account (public, not a secret).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _wait(url: str, proc: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=3):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    if shutil.which("npm") is None or shutil.which("node") is None:
        need_service("Node.js and npm are needed for Azurite")
    exe = AZURITE / "node_modules" / ".bin" / "azurite-blob"
    if not exe.exists():
        AZURITE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", "azurite@3.34.0"],
            cwd=AZURITE,
            check=True,
            capture_output=True,
            timeout=600,
        )
    work = tmp_path_factory.mktemp("azurite")
    port = free_port()
    log = work / "azurite.log"
    proc = subprocess.Popen(
        [
            str(exe),
            *("--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(work)),
            # the SDK speaks a newer API version than Azurite 3.34 knows (Node 20 caps it)
            "--skipApiVersionCheck",
            "--loose",
        ],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait(f"http://127.0.0.1:{port}/{ACCOUNT}?comp=list", proc, log, 120)
        yield (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


@pytest.fixture(scope="module")
def tools() -> Path:
    """The team tools venv (MLflow server + azure-storage-blob), installed by the script."""
    done = subprocess.run(
        ["bash", str(SCRIPT), "tools"],
        env={**os.environ, "MLCI_TEAM_TOOLS": str(TOOLS), "MLCI_TEAM_HOME": str(TOOLS.parent)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    return TOOLS / "bin"


def test_mlflow_serves_artifacts_from_azure_blob(tools, azurite, tmp_path, monkeypatch):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MLCI_", "MLFLOW_"))},
        "AZURE_STORAGE_CONNECTION_STRING": azurite,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    create = (
        "import os; from azure.storage.blob import BlobServiceClient as B;"
        "B.from_connection_string(os.environ['AZURE_STORAGE_CONNECTION_STRING'])"
        ".create_container('mlflow')"
    )
    subprocess.run([str(tools / "python"), "-c", create], env=env, check=True, timeout=120)
    port = free_port()
    log = tmp_path / "mlflow.log"
    server = subprocess.Popen(
        [
            str(tools / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--serve-artifacts",
            "--artifacts-destination",
            f"wasbs://mlflow@{ACCOUNT}.blob.core.windows.net/artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait(f"{url}/health", server, log)
        for var in [v for v in os.environ if v.startswith("MLFLOW_TRACKING_")]:
            monkeypatch.delenv(var)
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=url)
        exp = client.create_experiment("azure-roundtrip")
        run = client.create_run(exp)
        payload = tmp_path / "metrics.json"
        payload.write_text('{"roc_auc": 0.9}')
        client.log_artifact(run.info.run_id, str(payload), "evaluate")
        back = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id,
            artifact_path="evaluate/metrics.json",
            dst_path=str(tmp_path / "back"),
            tracking_uri=url,
        )
        assert Path(back).read_text() == payload.read_text()
        listing = (
            "import os; from azure.storage.blob import BlobServiceClient as B;"
            "c = B.from_connection_string(os.environ['AZURE_STORAGE_CONNECTION_STRING']);"
            "print('\\n'.join(b.name for b in c.get_container_client('mlflow').list_blobs()))"
        )
        blobs = subprocess.run(
            [str(tools / "python"), "-c", listing],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout.split()
        assert f"artifacts/{exp}/{run.info.run_id}/artifacts/evaluate/metrics.json" in blobs
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
