"""The controller and agent files (jenkins/plugins.txt, casc.yaml, *.Dockerfile, compose.yaml)
against what a real controller of the pinned core does with them.

No controller or agent image can be built here (no Docker Hub), so: the plugin pins against
the core in the Dockerfile, casc.yaml applied to the double's JCasC model
(tests/jenkins/double/casc.py), compose.yaml through Debian's `docker-compose config` plus
structural checks, and hadolint/shellcheck on the Dockerfiles and the agent's entry point.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import requests
import yaml

from ml.jenkins.plugins import PluginPin, core_version_key, read_plugin_pins, too_new_for
from tests.conftest import REPO
from tests.jenkins.conftest import ADMIN_TOKEN
from tests.jenkins.double import BuildScript, InputSpec, JenkinsDouble, StageScript
from tests.jenkins.double.casc import CascError

JENKINS = REPO / "jenkins"
PLUGINS = JENKINS / "plugins.txt"
CASC = JENKINS / "casc.yaml"
CONTROLLER = JENKINS / "controller.Dockerfile"
AGENT = JENKINS / "agent.Dockerfile"
COMPOSE = JENKINS / "compose.yaml"
JENKINSFILES = [REPO / "Jenkinsfile", *sorted(JENKINS.glob("*.Jenkinsfile"))]

# What the controller's environment holds when started by scripts/jenkins-up.sh.
CONTROLLER_ENV = {
    "JENKINS_URL": "http://ci.example.com:8080/",
    "JENKINS_ADMIN_PASSWORD": "a-pw",
    "JENKINS_APPROVER_PASSWORD": "b-pw",
    "JENKINS_BOT_PASSWORD": "c-pw",
    # The team services in the same file (tests/team/test_compose.py checks them).
    "MLCI_PG_ADMIN_PASSWORD": "d-pw",
    "MLCI_PG_MLFLOW_PASSWORD": "e-pw",
    "MLCI_PG_STATE_PASSWORD": "f-pw",
    "MLCI_S3_ACCESS_KEY_ID": "g-id",
    "MLCI_S3_SECRET_ACCESS_KEY": "h-pw",
    "MLCI_MLFLOW_ADMIN_PASSWORD": "i-pw",
    "MLCI_MLFLOW_SECRET_KEY": "j-pw",
}

# The JCasC the controller had before this change (jenkins/casc.yaml as shipped): the parts a
# current controller rejects or that leave the pipelines without an agent.
OLD_CASC = """
jenkins:
  numExecutors: 2
  authorizationStrategy:
    globalMatrix:
      entries:
        - user: {name: admin, permissions: ["Overall/Administer"]}
        - group:
            name: authenticated
            permissions: ["Overall/Read", "Job/Read", "Job/Build", "Job/Cancel"]
  crumbIssuer:
    standard:
      excludeClientIPFromCrumb: false
"""

# Permissions only an admin may hold: Job/Cancel may abort (so reject) any input, Job/Configure
# implies Run/Replay of an edited pipeline, Credentials/* reads or changes stored secrets.
ADMIN_ONLY = re.compile(
    r"^(Overall/Administer|Overall/Manage|Job/Cancel|Job/Configure|Job/Delete|Job/Create|"
    r"Job/Move|Job/Workspace|Run/Replay|Run/Delete|Run/Update|Credentials/.*|Agent/.*|"
    r"View/(Configure|Create|Delete)|SCM/Tag)$"
)


def pins() -> list[PluginPin]:
    return read_plugin_pins(PLUGINS)


def controller_core() -> tuple[str, str]:
    """(core version, jdk) of the image controller.Dockerfile builds from."""
    m = re.search(
        r"^ARG JENKINS_IMAGE=jenkins/jenkins:(\d+\.\d+\.\d+)-lts-jdk(\d+)$",
        CONTROLLER.read_text(),
        re.M,
    )
    assert m, "controller.Dockerfile: no `ARG JENKINS_IMAGE=jenkins/jenkins:<x.y.z>-lts-jdkN`"
    return m.group(1), m.group(2)


def casc_double(text: str, **env: str) -> JenkinsDouble:
    d = JenkinsDouble()  # not started: JCasC is applied through the test-control API
    d.apply_casc(text, {**CONTROLLER_ENV, **env})
    return d


def policy_violations(matrix: dict[tuple[str, str], list[str]], admins: set[str]) -> list[str]:
    out = []
    for (kind, name), perms in matrix.items():
        if kind == "user" and name in admins:
            continue
        out += [f"{kind} {name}: {p}" for p in perms if ADMIN_ONLY.match(p)]
    return out


# ---------------------------------------------------------------- plugins and core


def test_plugin_lines_are_well_formed_and_record_their_core():
    line = re.compile(
        r"^(?P<name>[a-z0-9][a-z0-9-]*):(?P<version>[A-Za-z0-9._-]+)  # core>=\d+\.\d+\.\d+ "
        r"checked=jenkinsci/[A-Za-z0-9._-]+@(?P<tag>[A-Za-z0-9._-]+) \([0-9a-f]{12}\)$"
    )
    names = []
    for raw in PLUGINS.read_text().splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        m = line.match(raw)
        assert m, f"plugins.txt: malformed pin line {raw!r}"
        # The tag checked is the release of exactly this version.
        assert m.group("tag") in (m.group("version"), f"{m.group('name')}-{m.group('version')}")
        names.append(m.group("name"))
    assert len(names) == len(set(names)), "plugins.txt: a plugin is pinned twice"
    needed = {
        "workflow-aggregator",
        "pipeline-model-definition",
        "pipeline-input-step",
        "pipeline-milestone-step",
        "pipeline-utility-steps",  # readJSON
        "lockable-resources",
        "docker-workflow",
        "git",
        "cloudbees-folder",
        "credentials",
        "credentials-binding",
        "configuration-as-code",
        "matrix-auth",
        "timestamper",
        "junit",
        "htmlpublisher",  # publishHTML
        "warnings-ng",  # recordIssues
    }
    assert needed <= set(names), f"plugins.txt lacks {sorted(needed - set(names))}"
    by_name = {p.name: p.version for p in pins()}
    # The review's non-existent pin is gone.
    assert by_name["lockable-resources"] != "1349.v8b_a_0e1b_b_2a_f8"


def test_controller_core_is_a_java21_lts_that_fits_every_pin():
    core, jdk = controller_core()
    assert core_version_key(core) >= (2, 555, 1), "2.555.1+ is the Java 21/25 LTS line"
    assert jdk == "21"
    assert too_new_for(core, pins()) == []
    # The check bites: on the old controller core these pins would not install.
    old = [p.name for p in too_new_for("2.479.3", pins())]
    assert "pipeline-utility-steps" in old and "warnings-ng" in old


def test_controller_dockerfile_installs_exactly_the_pins():
    text = CONTROLLER.read_text()
    run = [ln for ln in text.splitlines() if "jenkins-plugin-cli" in ln and ln.startswith("RUN")]
    assert len(run) == 1, "one jenkins-plugin-cli step"
    assert "--latest=false" in run[0].split()
    assert "--plugin-file /usr/share/jenkins/ref/plugins.txt" in run[0]
    assert "COPY plugins.txt /usr/share/jenkins/ref/plugins.txt" in text
    assert "CASC_JENKINS_CONFIG=/usr/share/jenkins/ref/casc.yaml" in text


# ---------------------------------------------------------------- JCasC


def test_casc_has_no_attribute_current_core_rejects():
    assert "excludeClientIPFromCrumb" not in CASC.read_text()
    casc_double(CASC.read_text())  # applies without CascError
    with pytest.raises(CascError, match="DefaultCrumbIssuer : excludeClientIPFromCrumb"):
        casc_double(OLD_CASC)


def test_every_agent_label_of_the_pipelines_has_a_node_and_the_builtin_none():
    """The library's pipelines take the label from the agentLabel option (default in
    vars/mlciOptions.groovy); the repository's Jenkinsfiles use the default or name one."""
    from ml.jenkins.library import read_call

    default = re.search(r"agentLabel: '([^']+)'", (REPO / "vars/mlciOptions.groovy").read_text())
    assert default is not None
    labels = set()
    for f in JENKINSFILES:
        call = read_call(f.read_text(), str(f))
        assert call is not None, f"{f.name} is not a library call"
        step = (REPO / "vars" / f"{call.step}.groovy").read_text()
        found = set(re.findall(r"agent\s*\{\s*label\s+(\S+)\s*\}", step))
        assert found == {'"${cfg.agentLabel}"'}, found
        labels.add(str(call.options.get("agentLabel", default.group(1))))
    assert labels == {"docker"}, labels
    d = casc_double(CASC.read_text())
    assert d.casc.builtin_executors == 0
    served = {label for n in d.casc.nodes if n.executors > 0 for label in n.labels}
    assert labels <= served
    old = casc_double(OLD_CASC.replace("excludeClientIPFromCrumb: false", "{}"))
    assert old.casc.builtin_executors == 2 and not old.casc.nodes  # what the review found


def test_location_url_and_builds_jenkins_url_come_from_the_environment():
    d = casc_double(CASC.read_text())
    assert d.casc.location_url == CONTROLLER_ENV["JENKINS_URL"]
    assert d.casc.global_env["MLCI_JENKINS__URL"] == CONTROLLER_ENV["JENKINS_URL"]
    casc = yaml.safe_load(CASC.read_text())
    assert casc["unclassified"]["location"]["url"] == "${JENKINS_URL}"  # no loopback default


def test_global_environment_of_every_build():
    d = casc_double(
        CASC.read_text(),
        MLCI_MLFLOW__TRACKING_URI="http://mlflow.example:5001",
        MLCI_REGISTRY__URL="registry.example:5000",
        MLCI_APPROVERS="approver",
    )
    env = d.casc.global_env
    assert env["MLCI_MLFLOW__TRACKING_URI"] == "http://mlflow.example:5001"
    assert env["MLCI_REGISTRY__URL"] == "registry.example:5000"
    assert env["MLCI_APPROVERS"] == "approver"
    assert "credentials" not in yaml.safe_load(CASC.read_text())


def test_approvers_are_users_the_shipped_realm_has():
    """The deploy input's submitter is MLCI_APPROVERS: comma-separated user ids, matched by
    InputStepExecution.canSettle against the user's id (the local realm has no groups)."""
    compose = yaml.safe_load(COMPOSE.read_text())
    default = re.fullmatch(
        r"\$\{MLCI_APPROVERS:-([^}]+)\}",
        compose["services"]["jenkins"]["environment"]["MLCI_APPROVERS"],
    )
    assert default, "compose: MLCI_APPROVERS needs a default"
    for env in ({}, {"JENKINS_APPROVER_ID": "carol", "MLCI_APPROVERS": "carol"}):
        env.setdefault("MLCI_APPROVERS", default.group(1))
        d = casc_double(CASC.read_text(), **env)
        approvers = [a.strip() for a in d.casc.global_env["MLCI_APPROVERS"].split(",")]
        assert approvers and all(approvers)
        assert set(approvers) <= set(d.casc.casc_users), (approvers, d.casc.casc_users)
        admin = env.get("JENKINS_ADMIN_ID", "admin")
        assert admin not in approvers and "mlci-bot" not in approvers
        # No group is named anywhere: the local realm would never match it.
        assert not [k for k in d.casc.matrix if k[0] == "group" and k[1] != "authenticated"]


def test_permissions_follow_least_privilege():
    d = casc_double(CASC.read_text())
    admins = {name for (kind, name), p in d.casc.matrix.items() if "Overall/Administer" in p}
    assert admins == {"admin"}
    assert policy_violations(d.casc.matrix, admins) == []
    assert sorted(d.casc.matrix[("group", "authenticated")]) == [
        "Job/Build",
        "Job/Read",
        "Overall/Read",
    ]
    assert not [k for k in d.casc.matrix if k[1] == "anonymous"]
    old = casc_double(OLD_CASC.replace("excludeClientIPFromCrumb: false", "{}"))
    assert policy_violations(old.casc.matrix, {"admin"}) == ["group authenticated: Job/Cancel"]


# ---------------------------------------------------------------- compose and images


def compose_config(env: dict[str, str]) -> dict:
    tool = shutil.which("docker-compose")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-compose is not installed (apt-get install docker-compose)")
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    out = subprocess.run(
        [tool, "-p", "mlci-jenkins", "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], **env},
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


@pytest.mark.slow  # Debian's docker-compose v1 takes about 4 s to start
def test_compose_runs_the_controller_and_a_docker_agent():
    env = {**CONTROLLER_ENV, "MLCI_AGENT_SECRET": "ab" * 32, "DOCKER_GID": "998"}
    services = compose_config(env)["services"]
    assert {"jenkins", "agent-docker"} <= set(services)
    controller, agent = services["jenkins"], services["agent-docker"]
    assert controller["build"]["dockerfile"] == "controller.Dockerfile"
    assert agent["build"]["dockerfile"] == "agent.Dockerfile"
    # Only the agent gets the Docker Engine; the controller runs no builds.
    assert not [v for v in controller.get("volumes", []) if "docker.sock" in str(v)]
    assert "/var/run/docker.sock:/var/run/docker.sock:rw" in agent["volumes"]
    assert agent["group_add"] == ["998"]
    assert agent["network_mode"] == "host"
    # The agent connects to the URL builds see as JENKINS_URL, as the node casc defines.
    d = casc_double(CASC.read_text())
    (node,) = d.casc.nodes
    assert agent["environment"]["JENKINS_URL"] == controller["environment"]["JENKINS_URL"]
    assert agent["environment"]["JENKINS_URL"] == d.casc.location_url
    assert agent["environment"]["JENKINS_AGENT_NAME"] == node.name
    assert agent["environment"]["JENKINS_SECRET"] == "ab" * 32
    casc_node = yaml.safe_load(CASC.read_text())["jenkins"]["nodes"][0]["permanent"]
    assert f"agent_workspace:{casc_node['remoteFS']}:rw" in agent["volumes"]
    # The builds' global environment has defaults; no secret is given to the controller.
    cenv = controller["environment"]
    assert cenv["MLCI_MLFLOW__TRACKING_URI"].startswith("http://")
    assert cenv["MLCI_REGISTRY__URL"]
    assert not [k for k in cenv if re.search(r"REGISTRY_PASSWORD|TRACKING_PASSWORD|TOKEN", k)]


@pytest.mark.slow  # Debian's docker-compose v1 takes about 4 s to start
def test_compose_refuses_to_start_without_its_required_values():
    env = dict(CONTROLLER_ENV)
    del env["JENKINS_URL"]
    tool = shutil.which("docker-compose")
    if tool is None:
        compose_config(env)  # fails or skips with the reason
    out = subprocess.run(
        [str(tool), "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], **env},
        timeout=60,
        check=False,
    )
    assert out.returncode != 0
    assert "set JENKINS_URL" in out.stderr


def test_agent_image_has_what_the_stages_need():
    text = AGENT.read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim-\w+$", text, re.M)  # CPython 3.11 + pip
    apt = re.search(r"apt-get install[^&]*", text, re.S)
    assert apt
    for pkg in ("openjdk-21-jre-headless", "git", "docker-cli", "nodejs", "npm", "curl"):
        assert re.search(rf"\b{re.escape(pkg)}\b", apt.group(0)), pkg
    venv_uv = re.search(r"'uv==([\d.]+)'", (REPO / "scripts" / "venv.sh").read_text())
    assert venv_uv and f"'uv=={venv_uv.group(1)}'" in text
    assert 'ENTRYPOINT ["/usr/local/bin/mlci-jenkins-agent"]' in text
    assert "-webSocket" in (JENKINS / "agent-entrypoint.sh").read_text()


def _dev_tool(name: str) -> Path:
    tool = REPO / ".venv" / "bin" / name
    if not tool.exists():
        found = shutil.which(name)
        if found is None:
            pytest.fail(f"{name} not found: run scripts/venv.sh dev")
        return Path(found)
    return tool


def test_dockerfiles_pass_hadolint_and_the_entry_point_shellcheck():
    hadolint = subprocess.run(
        [
            str(_dev_tool("hadolint")),
            "--config",
            str(REPO / "docker" / "hadolint.yaml"),
            str(CONTROLLER),
            str(AGENT),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert hadolint.returncode == 0, hadolint.stdout + hadolint.stderr
    shellcheck = subprocess.run(
        [
            str(_dev_tool("shellcheck")),
            str(JENKINS / "agent-entrypoint.sh"),
            str(REPO / "scripts" / "jenkins-up.sh"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shellcheck.returncode == 0, shellcheck.stdout


# ---------------------------------------------------------------- the scripts, with fakes
#
# A small HTTP server plays the controller's few endpoints the scripts call; `docker` and
# `java` are fake executables on PATH that record their arguments (no image, no JVM here).

SECRET = "5f" * 32
JNLP = (
    "<jnlp><application-desc><argument>" + SECRET + "</argument><argument>docker</argument>"
    "<argument>-webSocket</argument></application-desc></jnlp>"
)


class _Controller(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def log_message(self, *args: object) -> None:
        return

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        body = {
            "/login": b"login",
            "/jnlpJars/agent.jar": b"PK-not-really-a-jar",
            "/computer/docker/jenkins-agent.jnlp": JNLP.encode(),
            "/computer/docker/api/json?tree=offline": b'{"offline":false}',
        }.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")


@pytest.fixture
def controller() -> Iterator[str]:
    _Controller.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Controller)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def fake(bin_dir: Path, name: str, record: Path) -> None:
    """An executable that appends its arguments (and MLCI_AGENT_SECRET) to `record`."""
    script = bin_dir / name
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'printf "%s|secret=%s\\n" "$*" "${{MLCI_AGENT_SECRET:-}}" >> "{record}"\n'
    )
    script.chmod(0o755)


def test_agent_entrypoint_fetches_agent_jar_and_connects_over_websocket(tmp_path, controller):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "java.args"
    fake(bin_dir, "java", record)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "JENKINS_URL": controller,
        "JENKINS_AGENT_NAME": "docker",
        "JENKINS_SECRET": SECRET,
        "JENKINS_AGENT_WORKDIR": str(tmp_path / "work"),
    }
    entry = str(JENKINS / "agent-entrypoint.sh")
    run = subprocess.run(["bash", entry], env=env, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    args = record.read_text().split("|")[0].split()
    assert args[:2] == ["-jar", args[1]] and args[1].endswith("/agent.jar")
    assert Path(args[1]).read_bytes() == b"PK-not-really-a-jar"
    assert args[2:] == [
        *("-url", controller, "-name", "docker", "-secret", SECRET),
        *("-webSocket", "-workDir", str(tmp_path / "work")),
    ]
    assert ("/jnlpJars/agent.jar", None) in _Controller.seen

    no_secret = subprocess.run(
        ["bash", entry],
        env={**env, "JENKINS_SECRET": ""},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert no_secret.returncode == 2
    assert "JENKINS_SECRET is empty" in no_secret.stderr
    assert f"{controller}computer/docker/jenkins-agent.jnlp" in no_secret.stderr


def test_jenkins_up_starts_the_controller_then_the_agent_with_its_secret(tmp_path, controller):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "docker.args"
    fake(bin_dir, "docker", record)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "JENKINS_URL": controller,
        "JENKINS_ADMIN_PASSWORD": "admin-pw",
        "JENKINS_APPROVER_PASSWORD": "b",
        "JENKINS_BOT_PASSWORD": "c",
    }
    up = subprocess.run(
        ["bash", str(REPO / "scripts" / "jenkins-up.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert up.returncode == 0, up.stderr
    calls = record.read_text().splitlines()
    compose = "compose -p mlci-jenkins -f jenkins/compose.yaml"
    assert calls == [
        "compose version|secret=",
        f"{compose} up -d --build jenkins|secret=",
        f"{compose} up -d --build agent-docker|secret={SECRET}",
    ]
    auth = "Basic " + base64.b64encode(b"admin:admin-pw").decode()
    assert ("/computer/docker/jenkins-agent.jnlp", auth) in _Controller.seen
    assert SECRET not in up.stdout + up.stderr
    assert "Jenkins is up at" in up.stderr and "agent 'docker'" in up.stderr

    missing = subprocess.run(
        ["bash", str(REPO / "scripts" / "jenkins-up.sh")],
        env={k: v for k, v in env.items() if k != "JENKINS_BOT_PASSWORD"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
    assert "set JENKINS_BOT_PASSWORD" in missing.stderr


# ---------------------------------------------------------------- approvals under the realm


def _gated(double: JenkinsDouble, admin: requests.Session, job: str, submitter: str) -> str:
    r = admin.post(
        f"{double.url}createItem?name={job}",
        data="<flow-definition/>",
        headers={"Content-Type": "application/xml"},
        timeout=5,
    )
    assert r.status_code == 200, r.text
    gate = InputSpec("Deploy?", id="promote", submitter=submitter, submitter_parameter="APPROVER")
    double.script(job, BuildScript([StageScript("Approval", ["+ deploy"], input=gate)]))
    assert admin.post(f"{double.url}job/{job}/build", timeout=5).status_code == 201
    double.wait_for_input(job, 1)
    return "Promote"


def test_the_approver_of_the_shipped_realm_can_approve_and_nobody_else(double: JenkinsDouble):
    """casc.yaml applied to the double: local users carry no groups, the submitter list is
    MLCI_APPROVERS; the old `submitter 'ml-approvers'` let no approver approve."""
    double.apply_casc(CASC.read_text(), {**CONTROLLER_ENV, "MLCI_APPROVERS": "approver"})
    submitter = double.casc.global_env["MLCI_APPROVERS"]
    for name in ("approver", "mlci-bot", "alice"):  # alice: `ml-approvers` before JCasC
        double.users[name].token = f"{name}-token"
    assert double.users["approver"].role == double.users["mlci-bot"].role == "builder"
    assert double.users["alice"].groups == ()
    admin = requests.Session()
    admin.auth = ("admin", ADMIN_TOKEN)

    def answer(name: str, job: str, action: str) -> requests.Response:
        s = requests.Session()
        s.auth = (name, f"{name}-token")
        data = {"json": json.dumps({"parameter": []})} if action == "proceed" else None
        return s.post(f"{double.url}job/{job}/1/input/Promote/{action}", data=data, timeout=5)

    _gated(double, admin, "deploy", submitter)
    for name in ("mlci-bot", "alice"):
        refused = answer(name, "deploy", "proceed")
        assert refused.status_code == 400 and "You need to be approver" in refused.text
        # No Job/Cancel: they cannot reject it either.
        assert answer(name, "deploy", "abort").status_code == 400
    assert answer("approver", "deploy", "proceed").status_code == 200
    build = double.wait_for_build("deploy", 1)
    assert build.result == "SUCCESS" and build.env["APPROVER"] == "approver"

    _gated(double, admin, "old", "ml-approvers")  # the group the local realm never grants
    for name in ("approver", "alice"):
        old = answer(name, "old", "proceed")
        assert old.status_code == 400 and "You need to be ml-approvers" in old.text
    assert answer("approver", "old", "abort").status_code == 400


def test_casc_registers_the_shared_library_that_pinned_jenkinsfiles_load(tmp_path: Path):
    """`@Library('mlci@<tag>') _` resolves to the library JCasC registers (name mlci, the git
    remote from MLCI_LIBRARY_REMOTE); the double then runs the step's pipeline from it."""
    remote = "https://git.example.com/tools/mlci.git"
    d = casc_double(CASC.read_text(), MLCI_LIBRARY_REMOTE=remote)
    assert d.casc.libraries == {"mlci": remote}
    lib = yaml.safe_load(CASC.read_text())["unclassified"]["globalLibraries"]["libraries"][0]
    assert lib["implicit"] is False and lib["allowVersionOverride"] is True
    jenkinsfile = "@Library('mlci@v1.0.0') _\nmlciRetrainPipeline(project: 'acme')\n"
    with pytest.raises(ValueError, match=re.escape(f"no checkout of {remote}")):
        d.declare("acme/ct/retrain", jenkinsfile)
    d.library_checkout(remote, REPO)
    d.declare("acme/ct/retrain", jenkinsfile)
    assert "pipeline {" in d.declarations["acme/ct/retrain"][0]
    # a controller without the library: the build fails as pipeline-groovy-lib says
    bare = casc_double(CASC.read_text().split("  globalLibraries:")[0] + "  timestamper: {}\n")
    with pytest.raises(ValueError, match=r"Could not find any definition of libraries \[mlci\]"):
        bare.declare("acme/ct/retrain", jenkinsfile)
