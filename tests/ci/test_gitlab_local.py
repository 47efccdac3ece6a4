""".gitlab-ci.yml executed for real by gitlab-ci-local (pinned, scripts/gitlab-ci-local.sh).

On a fresh `git clone` of the repository (branch main, a GitLab-like remote), gitlab-ci-local
runs the pipeline's jobs validate -> train -> evaluate -> register with
`--shell-executor-no-image --shell-isolation`: each job in its own rsync'd copy of the clone,
files reaching later jobs only as that job's declared `artifacts:` (and the register job's
`reports:dotenv`). The approver then signs the registered version with their own key (`mlci
model approve`, as a person does before starting a protected deployment), and the manual job
deploy-staging is started explicitly (`--manual deploy-staging`): it builds the model image,
pushes it to the session's private registry, deploys it to staging (a uniquely named container
on a free port) and runs its smoke test; the test asserts the version serves there. Embedded
MLflow (SQLite in a temp folder), the bundled data, 40 boosting iterations: lean on purpose.

What this leaves unexercised:
- `image:`: gitlab-ci-local 4.52.0 runs a job that has an image in Docker even with
  --shell-executor-no-image (the flag only sends image-less jobs to the shell), and the stage
  image cannot be pulled here, so the test drops `image:` from its copy of the file; the jobs
  then run `mlci` from this checkout's .venv on the host, not from the stage image. The
  `stage-image` job (`mlci pipeline ci-image` + `docker push`, minutes) and `lint` (the same
  linters and unit tests this test command already runs) are not started: the stage image's
  build and its use are tested by tests/image/test_stage_image.py.
- `services:` (none are declared) and the runner's isolation: the shell executor shares the
  host's user, network, Docker socket and environment; a real runner's container boundary,
  `pull_policy`, `tags:` matching, protected-environment permissions, masked-variable
  redaction and `resource_group` queuing are GitLab server features gitlab-ci-local does not
  model. The variables' masking is replaced by asserting that no job log holds the secret.
- The schedule and merge-request pipelines are checked with `--list` (which jobs run), not
  executed.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, need_service
from tests.fixtures.mlflow_server import free_port

pytestmark = [pytest.mark.slow, pytest.mark.docker]

MODEL = "churn-classifier"


def _install() -> Path:
    proc = subprocess.run(
        [str(REPO / "scripts" / "gitlab-ci-local.sh"), "--install-only"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        need_service(f"gitlab-ci-local could not be installed: {proc.stderr.strip()[-400:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def glci() -> Path:
    return _install()


def _clone(dest: Path) -> Path:
    """A fresh clone on branch main with a GitLab remote, running this checkout's pipeline file
    without `image:` (see the module docstring)."""
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(dest)], check=True)
    doc = yaml.safe_load((REPO / ".gitlab-ci.yml").read_text())
    doc.get("default", {}).pop("image", None)
    for job in doc.values():
        if isinstance(job, dict):
            job.pop("image", None)
    (dest / ".gitlab-ci.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    git = ["git", "-C", str(dest), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "checkout", "--quiet", "-B", "main"], check=True)
    subprocess.run([*git, "commit", "--quiet", "-am", "ci: no image: (test)"], check=True)
    subprocess.run(
        [*git, "remote", "set-url", "origin", "https://gitlab.example.com/mlci/churn.git"],
        check=True,
    )
    return dest


def _run(glci: Path, clone: Path, env: dict, args: list[str], home: Path) -> tuple[int, str]:
    proc = subprocess.run(
        [str(glci), "--home", str(home), "--shell-executor-no-image", *args],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def pipeline(glci, registry, docker_client, tmp_path_factory):
    """Runs validate -> register, approves, then the manual deploy-staging job."""
    tmp = tmp_path_factory.mktemp("gitlab-ci-local")
    clone = _clone(tmp / "clone")
    state = tmp / "state"
    state.mkdir()
    # The wheelhouse cache of this checkout (keyed by the lock's hash), as tests/image does.
    (REPO / ".mlci" / "cache").mkdir(parents=True, exist_ok=True)
    (state / "cache").symlink_to(REPO / ".mlci" / "cache")
    suffix = uuid.uuid4().hex[:8]
    staging_port, production_port = free_port(), free_port()
    variables = {
        "CI_DEFAULT_BRANCH": "main",  # gitlab-ci-local cannot ask the made-up remote
        "MLCI_MLFLOW__TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
        "MLCI_MLFLOW__ARTIFACT_ROOT": str(tmp / "mlartifacts"),
        "MLCI_PATHS__STATE": str(state),
        "MLCI_TRAIN__PARAMS__MAX_ITER": "40",
        "MLCI_REGISTRY__URL": registry.url,
        "MLCI_IMAGE__REPOSITORY": f"mlci-glc/{suffix}",
        "MLCI_ENVIRONMENTS__STAGING__CONTAINER": f"mlci-glc-staging-{suffix}",
        "MLCI_ENVIRONMENTS__STAGING__PORT": str(staging_port),
        "MLCI_ENVIRONMENTS__PRODUCTION__CONTAINER": f"mlci-glc-production-{suffix}",
        "MLCI_ENVIRONMENTS__PRODUCTION__PORT": str(production_port),
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLCI_")}
    # The "masked CI/CD variables": in the environment, never on a command line.
    env = {
        **clean,
        # mlci from this checkout's .venv; python3 stays the host's (the wheelhouse script
        # needs one with pip, as the stage image's venv has).
        "PATH": f"{clean['PATH']}:{REPO / '.venv' / 'bin'}",
        "MLCI_REGISTRY_USER": registry.user,
        "MLCI_REGISTRY_PASSWORD": registry.password,
        "NO_UPDATE_NOTIFIER": "1",
    }
    flags = ["--shell-isolation", *(f"--variable={k}={v}" for k, v in variables.items())]
    result = {"clone": clone, "variables": variables, "env": env, "suffix": suffix}
    try:
        t0 = time.monotonic()
        code, log = _run(
            glci, clone, env, [*flags, "validate", "train", "evaluate", "register"], tmp
        )
        result.update(through_register=(code, log, time.monotonic() - t0))
        if code == 0:
            # The approver (this process: no CI marker, own key) signs the registered version.
            version = _dotenv(clone, "register")["MODEL_VERSION"]
            approve_env = {**clean, **{k: v for k, v in variables.items() if "MLCI_" in k}}
            approved = subprocess.run(
                [
                    str(REPO / ".venv" / "bin" / "mlci"),
                    *("model", "approve", MODEL, version),
                    *("--by", "alice", "--reason", "gate passed; reviewed the report"),
                ],
                cwd=clone,
                env={**approve_env, "MLCI_CONFIG": str(clone / "mlci.yaml")},
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert approved.returncode == 0, approved.stderr
            key = (
                Path(os.environ["XDG_CONFIG_HOME"]) / "mlci" / "approver-ed25519.pub"
            ).read_text()
            trusted = json.dumps([key.strip()])
            t1 = time.monotonic()
            code, log = _run(
                glci,
                clone,
                env,
                [
                    *flags,
                    f"--variable=MLCI_APPROVAL__TRUSTED_KEYS={trusted}",
                    "--manual",
                    "deploy-staging",
                    "deploy-staging",
                ],
                tmp,
            )
            result.update(deploy=(code, log, time.monotonic() - t1), version=version)
        yield result
    finally:
        # Each environment's serving container(s), front proxy and network carry the suffix.
        for container in docker_client.containers.list(
            ignore_removed=True, all=True, filters={"name": suffix}
        ):
            container.remove(force=True)
        for network in docker_client.networks.list(filters={"name": suffix}):
            network.remove()
        for image in docker_client.images.list(name=f"*mlci-glc/{suffix}"):
            for tag in image.tags:
                subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def _dotenv(clone: Path, job: str) -> dict[str, str]:
    path = clone / ".gitlab-ci-local" / "artifacts" / job / "build" / "register" / "model.env"
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def _artifact(clone: Path, job: str, rel: str) -> Path:
    return clone / ".gitlab-ci-local" / "artifacts" / job / rel


def test_pipeline_runs_through_register(pipeline):
    code, log, seconds = pipeline["through_register"]
    print(f"gitlab-ci-local validate..register: {seconds:.1f}s")
    assert code == 0, log[-3000:]
    for job in ("validate", "train", "evaluate", "register"):
        assert f"PASS  {job}" in log
    clone = pipeline["clone"]
    # The evaluation report and the gate's JUnit are the evaluate job's artifacts.
    assert _artifact(clone, "evaluate", "build/evaluate/report.html").stat().st_size > 0
    assert _artifact(clone, "evaluate", "build/evaluate/report.css").is_file()
    metrics = json.loads(_artifact(clone, "evaluate", "build/evaluate/metrics.json").read_text())
    assert metrics["verdict"] == "passed"
    assert list(_artifact(clone, "evaluate", "build/evaluate").glob("*.xml"))
    registered = json.loads(
        _artifact(clone, "register", "build/register/model_version.json").read_text()
    )
    assert _dotenv(clone, "register") == {
        "MODEL_NAME": registered["name"],
        "MODEL_VERSION": str(registered["version"]),
    }


def test_manual_deploy_job_deploys_to_staging(pipeline):
    assert "deploy" in pipeline, "the pipeline did not reach register"
    code, log, seconds = pipeline["deploy"]
    print(f"gitlab-ci-local deploy-staging: {seconds:.1f}s")
    assert code == 0, log[-3000:]
    assert "PASS  deploy-staging" in log
    variables = pipeline["variables"]
    port = variables["MLCI_ENVIRONMENTS__STAGING__PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=10) as resp:
        assert resp.status == 200
    status = subprocess.run(
        [str(REPO / ".venv" / "bin" / "mlci"), "deploy", "status", "staging", "--json"],
        cwd=pipeline["clone"],
        env={
            **{k: v for k, v in pipeline["env"].items() if not k.startswith("MLCI_REGISTRY_")},
            **{k: v for k, v in variables.items() if k.startswith("MLCI_")},
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    assert pipeline["version"] in status.stdout
    # The registry password (a "masked variable") is in no job log.
    logs = (pipeline["clone"] / ".gitlab-ci-local" / "output").glob("*.log")
    secret = pipeline["env"]["MLCI_REGISTRY_PASSWORD"]
    assert all(secret not in p.read_text() for p in logs)
    assert secret not in log


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "push",
            [
                "lint",
                "stage-image",
                "validate",
                "train",
                "evaluate",
                "register",
                "deploy-staging",
                "deploy-production",
            ],
        ),
        ("merge_request_event", ["lint", "stage-image", "validate", "train", "evaluate"]),
        ("schedule", ["stage-image", "retrain-check"]),
    ],
)
def test_which_jobs_run_per_pipeline_source(glci, tmp_path, source, expected):
    clone = _clone(tmp_path / "clone")
    proc = subprocess.run(
        [
            str(glci),
            "--home",
            str(tmp_path),
            "--list-json",
            "--variable=CI_DEFAULT_BRANCH=main",
            f"--variable=CI_PIPELINE_SOURCE={source}",
        ],
        cwd=clone,
        env={**os.environ, "NO_UPDATE_NOTIFIER": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    jobs = json.loads(proc.stdout)
    listed = [j["name"] for j in jobs if j.get("when") != "never"]
    assert listed == expected
    manual = {j["name"] for j in jobs if j.get("when") == "manual"}
    assert manual == ({"deploy-staging", "deploy-production"} if source == "push" else set())
