"""Controller behaviours the double models because they once hid defects (issue 9).

Each test pins one behaviour of a real controller (source named in the double's modules):
what Declarative sets after proceedEmpty vs proceed, unknown input parameters, abort with
Job/Cancel, the input Id without an id, `build` on a parameterised job, blocked queue items
under disableConcurrentBuilds, config.xml rewritten by Declarative, createItem of unknown
classes.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest
import requests

import jenkins
from tests.jenkins.conftest import ADMIN_TOKEN
from tests.jenkins.double import BuildScript, InputSpec, JenkinsDouble, StageScript

XML = {"Content-Type": "application/xml"}
PARAM_JOB = (
    "<flow-definition><properties><hudson.model.ParametersDefinitionProperty>"
    "<parameterDefinitions><hudson.model.StringParameterDefinition><name>V</name>"
    "<defaultValue>1</defaultValue></hudson.model.StringParameterDefinition>"
    "</parameterDefinitions></hudson.model.ParametersDefinitionProperty></properties>"
    "</flow-definition>"
)
NO_CONCURRENT_JOB = (
    "<flow-definition><properties>"
    "<org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty>"
    "<abortPrevious>{abort}</abortPrevious>"
    "</org.jenkinsci.plugins.workflow.job.properties.DisableConcurrentBuildsJobProperty>"
    "</properties></flow-definition>"
)
GATE = InputSpec(
    "Release it?",
    ok="Release",
    submitter="ml-approvers",
    parameters=[{"name": "REASON", "default": ""}],
    submitter_parameter="APPROVER",
)


def as_user(name: str, token: str) -> requests.Session:
    s = requests.Session()
    s.auth = (name, token)
    return s


@pytest.fixture
def admin(double: JenkinsDouble) -> requests.Session:
    return as_user("admin", ADMIN_TOKEN)


def create(s: requests.Session, double: JenkinsDouble, name: str, xml: str) -> requests.Response:
    return s.post(f"{double.url}createItem?name={name}", data=xml, headers=XML, timeout=5)


def gated_build(double: JenkinsDouble, admin: requests.Session) -> str:
    """A build of job `g` waiting at GATE; returns the input's Id."""
    assert create(admin, double, "g", "<flow-definition/>").status_code == 200
    double.script(
        "g",
        BuildScript(
            [StageScript("Gate", ["+ approve --by $APPROVER --reason '$REASON'"], input=GATE)]
        ),
    )
    assert admin.post(double.url + "job/g/build", timeout=5).status_code == 201
    double.wait_for_input("g", 1)
    return admin.get(double.url + "job/g/1/wfapi/pendingInputActions", timeout=5).json()[0]["id"]


def test_input_id_without_an_id_is_the_capitalised_lowercase_md5(double, admin):
    key = gated_build(double, admin)
    md5 = hashlib.md5(b"Release it?").hexdigest()
    assert md5[0].isalpha()  # so the capitalisation shows
    assert key == md5[0].upper() + md5[1:] != md5.upper()
    assert admin.post(f"{double.url}job/g/1/input/{md5.upper()}/abort", timeout=5).status_code == (
        404
    )


def test_proceed_empty_leaves_the_submitter_parameter_null(double, admin):
    key = gated_build(double, admin)
    alice = as_user("alice", "alice-token")
    assert alice.post(f"{double.url}job/g/1/input/{key}/proceedEmpty", timeout=5).ok
    build = double.wait_for_build("g", 1)
    assert build.env["APPROVER"] == "null" and "REASON" not in build.env
    assert "+ approve --by null --reason '$REASON'\n" in build.log


def test_proceed_with_json_sets_the_submitter_and_the_values(double, admin):
    key = gated_build(double, admin)
    alice = as_user("alice", "alice-token")
    body = {"json": json.dumps({"parameter": [{"name": "REASON", "value": "ok"}]})}
    assert alice.post(f"{double.url}job/g/1/input/{key}/proceed", data=body, timeout=5).ok
    build = double.wait_for_build("g", 1)
    assert build.env["APPROVER"] == "alice" and build.env["REASON"] == "ok"
    assert "+ approve --by alice --reason 'ok'\n" in build.log


def test_proceed_with_an_unknown_parameter_is_a_500(double, admin):
    key = gated_build(double, admin)
    alice = as_user("alice", "alice-token")
    body = {"json": json.dumps({"parameter": [{"name": "WHY", "value": "ok"}]})}
    r = alice.post(f"{double.url}job/g/1/input/{key}/proceed", data=body, timeout=5)
    assert r.status_code == 500
    assert "No such parameter definition: WHY" in r.text
    assert double.get_job("g").builds[1].pending  # still waiting


def test_abort_is_allowed_with_job_cancel_without_being_a_submitter(double, admin):
    key = gated_build(double, admin)
    dev = as_user("dev", "dev-token")  # developer role: Job/Cancel, not in ml-approvers
    refused = dev.post(f"{double.url}job/g/1/input/{key}/proceed", data={"json": "{}"}, timeout=5)
    assert refused.status_code == 400 and "You need to be ml-approvers" in refused.text
    viewer = as_user("viewer", "viewer-token")  # no Job/Cancel
    denied = viewer.post(f"{double.url}job/g/1/input/{key}/abort", timeout=5)
    assert denied.status_code == 400
    assert "(or have Job CANCEL permissions) to cancel this." in denied.text
    assert dev.post(f"{double.url}job/g/1/input/{key}/abort", timeout=5).status_code == 200
    assert double.wait_for_build("g", 1).result == "ABORTED"


def test_post_build_on_a_parameterised_job_needs_a_form(double, admin):
    assert create(admin, double, "p", PARAM_JOB).status_code == 200
    bare = admin.post(double.url + "job/p/build", timeout=5)
    assert bare.status_code == 400 and "Nothing is submitted" in bare.text
    server = jenkins.Jenkins(double.url, "admin", ADMIN_TOKEN, timeout=5)
    with pytest.raises(requests.HTTPError) as e:  # python-jenkins: build_job without parameters
        server.build_job("p")
    assert e.value.response.status_code == 400
    form = {"json": json.dumps({"parameter": [{"name": "V", "value": "9"}]})}
    assert admin.post(double.url + "job/p/build", data=form, timeout=5).status_code == 201
    assert double.wait_for_build("p", 1).params == {"V": "9"}


def _queue_item(admin: requests.Session, location: str) -> dict:
    return admin.get(location + "api/json", timeout=5).json()


def test_disable_concurrent_builds_blocks_the_next_build_in_the_queue(double, admin):
    assert create(admin, double, "d", NO_CONCURRENT_JOB.format(abort="false")).status_code == 200
    double.script("d", BuildScript([StageScript("Gate", input=GATE)]))
    assert admin.post(double.url + "job/d/build", timeout=5).status_code == 201
    double.wait_for_input("d", 1)
    second = admin.post(double.url + "job/d/build", timeout=5)
    assert second.status_code == 201
    deadline = time.monotonic() + 5
    while (item := _queue_item(admin, second.headers["Location"]))["_class"].endswith(
        "WaitingItem"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert item["_class"] == "hudson.model.Queue$BlockedItem"
    assert item["blocked"] is True
    assert item["why"] == "Build #1 is already in progress (ETA: N/A)"
    time.sleep(0.2)
    assert 2 not in double.get_job("d").builds  # still blocked while #1 waits for its input
    key = next(iter(double.get_job("d").builds[1].pending))
    alice = as_user("alice", "alice-token")
    assert alice.post(f"{double.url}job/d/1/input/{key}/proceed", data={"json": "{}"}, timeout=5)
    assert double.wait_for_build("d", 1).result == "SUCCESS"
    double.wait_for_input("d", 2)
    assert _queue_item(admin, second.headers["Location"])["_class"].endswith("LeftItem")


def test_abort_previous_aborts_the_running_build_when_another_is_queued(double, admin):
    assert create(admin, double, "a", NO_CONCURRENT_JOB.format(abort="true")).status_code == 200
    double.script("a", BuildScript([StageScript("Register", ["registering"], 1.0)]))
    assert admin.post(double.url + "job/a/build", timeout=5).status_code == 201
    deadline = time.monotonic() + 5
    while 1 not in double.get_job("a").builds:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert admin.post(double.url + "job/a/build", timeout=5).status_code == 201
    assert double.wait_for_build("a", 1).result == "ABORTED"
    assert double.wait_for_build("a", 2).result == "SUCCESS"


def test_create_item_refuses_a_class_no_installed_plugin_provides(double, admin):
    unknown = create(admin, double, "x", "<com.example.NoSuchProject/>")
    assert unknown.status_code == 400
    assert "com.example.NoSuchProject" in unknown.headers["X-Error"]
    double.set_plugins({"cloudbees-folder": "6.999", "workflow-job": "1540.v2"})
    mb = "<org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject/>"
    assert create(admin, double, "mb", mb).status_code == 400
    assert create(admin, double, "f", "<com.cloudbees.hudson.plugins.folder.Folder/>").ok
    assert create(admin, double, "j", "<flow-definition/>").ok


DECLARATIVE = """pipeline {
    agent none
    options {
        disableConcurrentBuilds(abortPrevious: env.BRANCH_NAME != 'main')
    }
    parameters {
        string(name: 'V', defaultValue: '2', description: 'from the Jenkinsfile')
        booleanParam(name: 'FORCE', defaultValue: false, description: 'force')
        choice(name: 'ACTION', choices: ['deploy', 'rollback'], description: 'what')
    }
    triggers {
        cron(env.BRANCH_NAME == 'main' ? 'H 2 * * *' : "")
    }
    stages {
        stage('A') { steps { echo 'a' } }
    }
}
"""


@pytest.mark.parametrize(("branch", "abort"), [("main", "false"), ("feature", "true")])
def test_declarative_rewrites_the_job_config_when_a_build_runs(double, admin, branch, abort):
    assert create(admin, double, "p", PARAM_JOB).status_code == 200
    double.declare("p", DECLARATIVE, {"BRANCH_NAME": branch})
    form = {"json": json.dumps({"parameter": [{"name": "V", "value": "3"}]})}
    assert admin.post(double.url + "job/p/build", data=form, timeout=5).status_code == 201
    double.wait_for_build("p", 1)
    config = admin.get(double.url + "job/p/config.xml", timeout=5).text
    assert (
        "<hudson.model.StringParameterDefinition><name>V</name>"
        "<description>from the Jenkinsfile</description><defaultValue>2</defaultValue>"
        "<trim>false</trim></hudson.model.StringParameterDefinition>"
    ) in config
    assert "<defaultValue>1</defaultValue>" not in config
    assert [p["name"] for p in double.get_job("p").parameters()] == ["V", "FORCE", "ACTION"]
    assert double.get_job("p").parameters()[2]["default"] == "deploy"
    assert f"<abortPrevious>{abort}</abortPrevious>" in config
    assert ("<spec>H 2 * * *</spec>" in config) == (branch == "main")
