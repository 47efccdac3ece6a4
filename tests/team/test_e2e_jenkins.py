"""End to end in the shape of Jenkins: fresh clones as workspaces, the Jenkinsfiles' own `sh`
steps in the stage image, the team stack as the only shared state.

- Workspaces: `git clone` of this repository per job (train on `main`, train on a feature
  branch, deploy twice, retrain), as a multibranch/pipeline job checks out its own.
- Steps: every `sh` step inside a stage whose agent is the stage image (`docker { image
  "${env.CI_IMAGE}" ... }`) of the library step each of Jenkinsfile, jenkins/deploy.Jenkinsfile
  and jenkins/retrain.Jenkinsfile calls (vars/mlci*Pipeline.groovy, read with tree-sitter by
  tests/team/jenkins_steps.py; the double runs that step's pipeline too), run in order with
  `docker run` in the stage image, the workspace mounted at its own path, `--network host`, and
  the Docker socket where the agent's args mount it. Steps on the node itself (venv, the stage
  image build, lint, unit tests) are replaced by the session's stage image; `when { branch
  'main' }` is honoured.
- Environment: service URLs and credentials only (MLflow, PostgreSQL state, registry, Jenkins),
  credentials bound per step as the file's withCredentials blocks bind them, plus job parameters
  and names the test makes unique so concurrent test runs do not collide (model, experiment,
  project, image repository, environment ports and container names).
- The controller: the Jenkins double answers the approval input (an approver of the file's
  submitter group answers it over the REST API; its name becomes APPROVER, as
  submitterParameter does) and receives the retraining build `mlci ct check --trigger` queues.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ml.config import load_settings
from tests.conftest import REPO
from tests.fixtures.mlflow_server import free_port
from tests.team.jenkins_steps import Step, inputs, steps

pytestmark = [pytest.mark.slow, pytest.mark.docker]

TRAINING = REPO / "Jenkinsfile"
DEPLOY = REPO / "jenkins" / "deploy.Jenkinsfile"
RETRAIN = REPO / "jenkins" / "retrain.Jenkinsfile"
BOT_TOKEN = "e2e-bot-token-0123456789abcdef"
APPROVER_TOKEN = "e2e-approver-token-0123456789"


@dataclass
class StepRun:
    step: Step
    code: int
    out: str
    seconds: float


@dataclass
class Agents:
    """Runs a job's steps in the stage image, in a workspace, like a Docker node would."""

    image: str
    tmp: Path
    services: dict[str, str]
    bindings: dict[str, dict[str, str]]  # credential id -> variables it binds
    names: dict[str, str]
    log: list[str] = field(default_factory=list)

    def clone(self, name: str, branch: str = "main") -> Path:
        ws = self.tmp / "workspaces" / name
        subprocess.run(
            ["git", "clone", "-q", "--no-hardlinks", str(REPO), str(ws)],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["git", "-C", str(ws), "checkout", "-q", "-B", branch], check=True, capture_output=True
        )
        # The node's wheel cache for model images (a cache, not state: any node can rebuild it).
        cache = self.tmp / "node-cache"
        if cache.is_dir():
            shutil.copytree(cache, ws / ".mlci" / "cache", symlinks=False)
        return ws

    def env_for(self, step: Step, job_file: Path, params: dict[str, str]) -> dict[str, str]:
        env = {**self.services, **self.names, **params}
        bound_anywhere = {c for s in steps(job_file) for c in s.credentials}
        for cred, variables in self.bindings.items():
            # A credential the file never binds is given to every step (the files of today
            # do not bind mlci-mlflow yet); one it binds only where it binds it.
            if cred in step.credentials or cred not in bound_anywhere:
                env.update(variables)
        return env

    def run(
        self, ws: Path, job_file: Path, stage: str, params: dict[str, str], branch: str
    ) -> list[StepRun]:
        out = []
        for step in steps(job_file):
            if step.stage != stage or not step.in_image:
                continue
            if not step.runs(branch, params):  # `when { branch ...; params.X == ... }`
                continue
            out.append(self.run_step(ws, job_file, step, params))
        return out

    def run_step(self, ws: Path, job_file: Path, step: Step, params: dict[str, str]) -> StepRun:
        env = self.env_for(step, job_file, params)
        cmd = ["docker", "run", "--rm", "--network", "host", "-v", f"{ws}:{ws}", "-w", str(ws)]
        if "docker.sock" in step.agent:
            cmd += ["-v", "/var/run/docker.sock:/var/run/docker.sock"]
        for name in sorted(env):
            cmd += ["-e", name]  # values from this process's environment, never on argv
        cmd += [self.image, "sh", "-xe", "-c", step.script]
        started = time.monotonic()
        done = subprocess.run(
            cmd,
            env={**{k: os.environ[k] for k in ("PATH",) if k in os.environ}, **env},
            capture_output=True,
            text=True,
            timeout=1800,
        )
        text = done.stdout + done.stderr
        self.log.append(f"--- {ws.name} {' > '.join(step.stages)} ({done.returncode})\n{text}")
        return StepRun(step, done.returncode, text, time.monotonic() - started)

    def run_job(
        self, ws: Path, job_file: Path, params: dict[str, str], branch: str = "main"
    ) -> dict[str, list[StepRun]]:
        """Every in-image stage of the file, in order; stops at the first failing step."""
        results: dict[str, list[StepRun]] = {}
        seen: set[str] = set()
        for step in steps(job_file):
            if not step.in_image or step.stage in seen:
                continue
            seen.add(step.stage)
            runs = self.run(ws, job_file, step.stage, params, branch)
            if not runs:  # every step of the stage skipped by its `when`
                continue
            results[step.stage] = runs
            if any(r.code != 0 and not r.step.return_status for r in runs):
                break
        return results


def _ok(results: dict[str, list[StepRun]], agents: Agents) -> None:
    for stage, runs in results.items():
        for r in runs:
            if r.code != 0 and not r.step.return_status:
                pytest.fail(f"stage {stage!r} step {r.step.script!r} failed:\n{r.out[-4000:]}")


def _no_workspace_state(ws: Path) -> None:
    state = ws / ".mlci"
    assert not (state / "mlflow.db").exists(), f"{ws.name}: embedded MLflow store"
    assert not (state / "mlartifacts").exists(), f"{ws.name}: local artifact store"
    assert not (state / "deploy").exists(), f"{ws.name}: deploy history in the workspace"
    assert not (state / "locks").exists(), f"{ws.name}: locks in the workspace"


def _remove_environments(docker_client, prefix: str) -> None:
    for c in docker_client.containers.list(ignore_removed=True, all=True, filters={"name": prefix}):
        c.remove(force=True)
    for n in docker_client.networks.list(
        names=[f"{prefix}-staging-net", f"{prefix}-production-net"]
    ):
        n.remove()


@pytest.fixture(scope="module")
def agents(
    team_stack, registry, stage_image, jenkins, docker_client, tmp_path_factory
) -> Iterator[Agents]:
    tmp = tmp_path_factory.mktemp("e2e")
    tag = uuid.uuid4().hex[:8]
    names = {
        "MLCI_PROJECT": f"e2e{tag}",
        "MLCI_MLFLOW__EXPERIMENT": f"e2e-{tag}",
        "MLCI_MLFLOW__MODEL_NAME": f"e2e-{tag}",
        "MLCI_IMAGE__REPOSITORY": f"mlci-e2e/{tag}",
        "MLCI_ENVIRONMENTS__STAGING__PORT": str(free_port()),
        "MLCI_ENVIRONMENTS__STAGING__CONTAINER": f"e2e-{tag}-staging",
        "MLCI_ENVIRONMENTS__PRODUCTION__PORT": str(free_port()),
        "MLCI_ENVIRONMENTS__PRODUCTION__CONTAINER": f"e2e-{tag}-production",
        "MLCI_TRAIN__PARAMS__MAX_ITER": "40",
        "OMP_NUM_THREADS": "1",
    }
    services = {
        "MLCI_MLFLOW__TRACKING_URI": team_stack.tracking_uri,
        "MLCI_STATE__URL": team_stack.state_url,
        "MLCI_REGISTRY__URL": registry.url,
        "MLCI_JENKINS__URL": jenkins.url.rstrip("/"),
        "JENKINS_URL": jenkins.url,  # Jenkins sets it for every build
        # the controller's global environment (jenkins/casc.yaml): who may answer the input
        "MLCI_APPROVAL__JENKINS__APPROVERS": "alice",
    }
    bindings = {
        "mlci-mlflow": {
            "MLFLOW_TRACKING_USERNAME": team_stack.exports["MLFLOW_TRACKING_USERNAME"],
            "MLFLOW_TRACKING_PASSWORD": team_stack.exports["MLFLOW_TRACKING_PASSWORD"],
        },
        "mlci-state": {"PGPASSWORD": team_stack.exports["PGPASSWORD"]},
        "mlci-registry": {
            "MLCI_REGISTRY_USER": registry.user,
            "MLCI_REGISTRY_PASSWORD": registry.password,
        },
        "mlci-jenkins": {"JENKINS_USER": "mlci-bot", "JENKINS_TOKEN": BOT_TOKEN},
    }
    ag = Agents(stage_image, tmp, services, bindings, names)
    # the node's wheel cache for the model image (built on the host once, copied per clone)
    from ml.image.build import wheelhouse

    settings = load_settings(REPO / "mlci.yaml", environ={})
    for lock in ("serve", "serve-sklearn"):
        wheelhouse(settings, REPO / "locks" / f"{lock}.txt", lambda _m: None)
        src = REPO / ".mlci" / "cache" / "wheelhouse" / lock
        shutil.copytree(src, tmp / "node-cache" / "wheelhouse" / lock)
    try:
        yield ag
    finally:
        (tmp / "agents.log").write_text("\n".join(ag.log))
        _remove_environments(docker_client, f"e2e-{tag}")


@pytest.fixture(scope="module")
def jenkins():
    from tests.jenkins.double import JenkinsDouble

    d = JenkinsDouble(queue_delay=0.02)
    d.add_user("admin", password="admin-pw", token="e2e-admin-token-0123456789", role="admin")
    d.add_user("mlci-bot", token=BOT_TOKEN, role="developer")
    d.add_user("alice", token=APPROVER_TOKEN, role="developer", groups=("ml-approvers",))
    d.start()
    try:
        yield d
    finally:
        d.stop()


def _approve_in_double(
    jenkins, ws: Path, agents: Agents, params: dict[str, str]
) -> tuple[str, str]:
    """Play the deploy job's `input` on the double; an approver answers; returns APPROVER."""
    from tests.jenkins.double import BuildScript, InputSpec, StageScript

    (spec,) = inputs(DEPLOY)
    controller_env = {**agents.names, "MLCI_APPROVERS": "alice"}

    def expand(text: str | None) -> str | None:  # Groovy's "${env.X}" from the controller
        if text is None:
            return None
        return re.sub(r"\$\{env\.(\w+)\}", lambda m: controller_env.get(m[1], ""), text)

    host = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    env = {
        **host,
        **agents.names,
        "MLCI_JENKINS__URL": jenkins.url.rstrip("/"),
        "MLCI_JENKINS__SCM_URL": str(REPO),
        "JENKINS_USER": "admin",
        "JENKINS_TOKEN": "e2e-admin-token-0123456789",
        "PYTHONPATH": str(REPO),
        "MLCI_CONFIG": str(ws / "mlci.yaml"),
    }

    def mlci(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(REPO / ".venv" / "bin" / "python"), "-m", "ml", *args],
            cwd=ws,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=300,
        )

    def job_of(script_path: str) -> str | None:
        return next(
            (i.full_name for i in jenkins._all_items() if script_path.encode() in i.config),
            None,
        )

    if job_of("jenkins/deploy.Jenkinsfile") is None:
        applied = mlci("jenkins", "apply")
        assert applied.returncode == 0, applied.stderr
        # the branch job retraining queues: a multibranch project creates it when it indexes
        jenkins.set_branches("ml/train", ["main"])
        indexed = mlci("jenkins", "build", "train")
        assert indexed.returncode == 0, indexed.stderr
        deadline = time.monotonic() + 30
        while "main" not in jenkins.get_job("ml/train").children:
            assert time.monotonic() < deadline, "ml/train was not indexed"
            time.sleep(0.2)
        # its first build (the training on main above) applied the Jenkinsfile's parameters
        jenkins.declare("ml/train/main", TRAINING, {"BRANCH_NAME": "main"}, checkout=REPO)
        first = mlci("jenkins", "build", "train/main")
        assert first.returncode == 0, first.stderr
        jenkins.wait_for_build("ml/train/main", 1, timeout=30)
    job = job_of("jenkins/deploy.Jenkinsfile")  # e.g. ml/deploy or ml/release/deploy
    assert job is not None
    relative = job.split("/", 1)[1]  # under jenkins.folder
    jenkins.script(
        job,
        BuildScript(
            [
                StageScript(
                    spec.stage,
                    [f"+ mlci model approve {params['MODEL_NAME']} {params['MODEL_VERSION']}"],
                    input=InputSpec(
                        expand(spec.message) or "approve?",
                        id=spec.id,
                        submitter=expand(spec.submitter),
                        parameters=[{"name": p, "default": ""} for p in spec.parameters],
                    ),
                )
            ]
        ),
    )
    number = jenkins.get_job(job).next_build
    started = mlci(
        "jenkins",
        "build",
        relative,
        "-p",
        f"MODEL_NAME={params['MODEL_NAME']}",
        "-p",
        f"MODEL_VERSION={params['MODEL_VERSION']}",
    )
    assert started.returncode == 0, started.stderr
    jenkins.wait_for_input(job, number, timeout=30)
    answered = mlci(
        "jenkins",
        "approve",
        relative,
        str(number),
        "-p",
        "REASON=e2e: gate passed",
        JENKINS_USER="alice",
        JENKINS_TOKEN=APPROVER_TOKEN,
    )
    assert answered.returncode == 0, answered.stderr
    build = jenkins.wait_for_build(job, number, timeout=30)
    assert build.result == "SUCCESS" and "Approved by alice" in build.log
    return "alice", jenkins.abs_url(build.url_path)  # APPROVER, BUILD_URL


def test_train_deploy_retrain_across_fresh_workspaces(agents, jenkins, team_stack):
    started = time.monotonic()
    model = agents.names["MLCI_MLFLOW__MODEL_NAME"]
    # 1. training on main and on a feature branch at the same time, from separate clones
    main_ws = agents.clone("train-main", "main")
    feature_ws = agents.clone("train-feature", "feature/faster")
    results: dict[str, dict] = {}

    def train(ws: Path, branch: str) -> None:
        results[branch] = agents.run_job(ws, TRAINING, {"BRANCH_NAME": branch}, branch)

    threads = [
        threading.Thread(target=train, args=(main_ws, "main")),
        threading.Thread(target=train, args=(feature_ws, "feature/faster")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _ok(results["main"], agents)
    _ok(results["feature/faster"], agents)
    assert "Register" in results["main"] and "Register" not in results["feature/faster"]
    registered = json.loads((main_ws / "build" / "register" / "model_version.json").read_text())
    assert registered["name"] == model and registered["approval"] == "pending"
    version = registered["version"]
    train_seconds = time.monotonic() - started

    # 2. deploy from a fresh clone: gate, approval (the double answers), build, push, deploy
    deploy_ws = agents.clone("deploy", "main")
    params = {"ACTION": "deploy", "MODEL_NAME": model, "MODEL_VERSION": version}
    gate = agents.run(deploy_ws, DEPLOY, "Check gate", params, "main")
    assert all(r.code == 0 for r in gate), gate[-1].out[-3000:]
    (written,) = re.findall(r">\s*(build/\S+\.json)", gate[0].step.script)
    shown = json.loads((deploy_ws / written).read_text())
    assert shown["tags"]["gate.verdict"] == "passed"  # the Groovy check after the sh step
    approver, build_url = _approve_in_double(jenkins, deploy_ws, agents, params)
    deploy_params = {
        **params,
        "APPROVER": approver,
        "REASON": "e2e: gate passed",
        "BUILD_URL": build_url,  # Jenkins sets it for every step of the build
    }
    release = agents.run_job(deploy_ws, DEPLOY, deploy_params)
    _ok(release, agents)
    for stage in ("Record approval", "Build image", "Push image", "Deploy staging", "Promote"):
        assert stage in release, f"stage {stage!r} did not run: {list(release)}"

    # 3. two deploys of the same version from two more fresh workspaces contend for the lock
    contenders = [agents.clone(f"deploy-{i}", "main") for i in (1, 2)]
    (staging_step,) = [s for s in steps(DEPLOY) if s.stage == "Deploy staging"]
    runs: list[StepRun] = []

    def deploy_again(ws: Path) -> None:
        # each job builds its image in its own workspace's node first (same digest: no rebuild)
        runs.append(agents.run_step(ws, DEPLOY, staging_step, deploy_params))

    threads = [threading.Thread(target=deploy_again, args=(ws,)) for ws in contenders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in runs:
        assert r.code == 0 or ("holds" in r.out and r.code == 4), r.out[-3000:]
    probe = {**agents.names, "MLCI_STATE__URL": team_stack.state_url}
    os.environ["PGPASSWORD"] = team_stack.exports["PGPASSWORD"]
    from ml.deploy.history import read_history

    history = read_history(load_settings(REPO / "mlci.yaml", environ=probe), "staging")
    assert len(history) == 1 + sum(r.code == 0 for r in runs)
    for a, b in itertools.pairwise(history):  # serialised, never interleaved
        assert a.at <= b.started_at, (a, b)
        assert b.previous_version == a.version

    # 4. retrain from a fresh clone: ct check sees the champion deployed above
    retrain_ws = agents.clone("retrain", "main")
    queued = jenkins.get_job("ml/train/main").next_build
    checked = agents.run_job(retrain_ws, RETRAIN, {})
    (check,) = checked["Check"]
    assert check.code in (0, 10), check.out[-3000:]
    report = json.loads((retrain_ws / "build" / "ct" / "report.json").read_text())
    assert report["champion"]["version"] == version, report["champion"]
    if check.code == 10:  # retraining was due: the double got the build of main
        assert jenkins.wait_for_build("ml/train/main", queued, timeout=60) is not None

    for ws in (main_ws, feature_ws, deploy_ws, *contenders, retrain_ws):
        _no_workspace_state(ws)
    print(f"e2e: training {train_seconds:.0f}s, total {time.monotonic() - started:.0f}s")
