"""jenkins/compose.yaml's team services, checked structurally (images cannot be pulled here)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.conftest import need_service

REPO = Path(__file__).resolve().parents[2]
SECRETS = {
    "JENKINS_URL": "http://ci.example.com:8080/",
    "JENKINS_BOT_PASSWORD": "j",
    "JENKINS_ADMIN_PASSWORD": "a",
    "JENKINS_APPROVER_PASSWORD": "b",
    "MLCI_PG_ADMIN_PASSWORD": "c",
    "MLCI_PG_MLFLOW_PASSWORD": "d",
    "MLCI_PG_STATE_PASSWORD": "e",
    "MLCI_S3_ACCESS_KEY_ID": "f",
    "MLCI_S3_SECRET_ACCESS_KEY": "g",
    "MLCI_MLFLOW_ADMIN_PASSWORD": "h",
    "MLCI_MLFLOW_SECRET_KEY": "i",
}


def _config(env: dict[str, str]) -> subprocess.CompletedProcess:
    """`docker-compose config` (Debian's v1, which predates the top-level `name:` key: it is
    dropped from the text fed on stdin; relative paths resolve against jenkins/)."""
    exe = shutil.which("docker-compose")
    if exe is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(  # a fresh machine: Debian's package, as the issue says
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "docker-compose"],
            capture_output=True,
            timeout=600,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        exe = shutil.which("docker-compose")
    if exe is None:
        need_service("docker-compose (Debian package docker-compose) is not installed")
    doc = yaml.safe_load((REPO / "jenkins" / "compose.yaml").read_text())
    doc.pop("name", None)
    return subprocess.run(
        [exe, "--project-directory", str(REPO / "jenkins"), "-f", "-", "config"],
        input=yaml.safe_dump(doc),
        cwd=REPO / "jenkins",
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_team_services_resolve_with_their_secrets_from_the_environment():
    done = _config(SECRETS)
    assert done.returncode == 0, done.stderr
    doc = yaml.safe_load(done.stdout)
    services = doc["services"]
    assert {"jenkins", "postgres", "minio", "mlflow"} <= set(services)
    pg, s3, ml = services["postgres"], services["minio"], services["mlflow"]
    assert [p["target"] for p in pg["ports"]] == [5432]
    assert [p["target"] for p in ml["ports"]] == [5000]
    pg_vols = [v.split(":") for v in pg["volumes"]]
    assert ["postgres_data", "/var/lib/postgresql/data", "rw"] in pg_vols
    init = next(v for v in pg_vols if v[1].startswith("/docker-entrypoint-initdb.d/"))
    assert Path(init[0]).is_file() and init[2] == "ro"
    assert any(v.split(":")[1] == "/data" for v in s3["volumes"])
    env = ml["environment"]
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["PGPASSWORD"] == SECRETS["MLCI_PG_MLFLOW_PASSWORD"]
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == SECRETS["MLCI_MLFLOW_ADMIN_PASSWORD"]
    assert ml["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert Path(REPO / "jenkins" / ml["build"]["dockerfile"]).is_file()
    assert {"postgres_data", "minio_data", "jenkins_home"} <= set(doc["volumes"])


def test_a_missing_secret_is_named():
    env = dict(SECRETS)
    del env["MLCI_PG_STATE_PASSWORD"]
    done = _config(env)
    assert done.returncode != 0
    assert "MLCI_PG_STATE_PASSWORD" in done.stderr


def test_the_mlflow_entrypoint_keeps_secrets_out_of_argv_and_files():
    text = (REPO / "jenkins" / "team" / "mlflow-entrypoint.sh").read_text()
    assert '--backend-store-uri "postgresql://mlflow@' in text  # no password in the URI
    assert "admin_password" not in text
