"""The double keeps the REST contract of jenkins-api.md (raw HTTP, and python-jenkins 1.8.3)."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
import requests

import jenkins
from tests.jenkins.conftest import ADMIN_TOKEN
from tests.jenkins.double import BuildScript, InputSpec, JenkinsDouble, StageScript

FOLDER = "<com.cloudbees.hudson.plugins.folder.Folder/>"
PARAM_JOB = (
    "<flow-definition><properties><hudson.model.ParametersDefinitionProperty>"
    "<parameterDefinitions><hudson.model.StringParameterDefinition><name>V</name>"
    "<defaultValue>1</defaultValue></hudson.model.StringParameterDefinition>"
    "</parameterDefinitions></hudson.model.ParametersDefinitionProperty></properties>"
    "<disabled>false</disabled></flow-definition>"
)
XML = {"Content-Type": "application/xml"}


@pytest.fixture
def admin(double: JenkinsDouble) -> requests.Session:
    s = requests.Session()
    s.auth = ("admin", ADMIN_TOKEN)
    return s


def post_xml(s: requests.Session, url: str, body: str) -> requests.Response:
    return s.post(url, data=body, headers=XML, timeout=5)


def test_headers_auth_and_anonymous(double: JenkinsDouble, admin: requests.Session):
    r = admin.get(double.url + "api/json", timeout=5)
    assert r.status_code == 200
    assert r.headers["X-Jenkins"] == "2.479.3"
    assert r.headers["X-Jenkins-Session"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.json()["_class"] == "hudson.model.Hudson"
    bad = requests.get(double.url + "api/json", auth=("admin", "wrong"), timeout=5)
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(double.url + "api/json", timeout=5).status_code == 403


def test_crumb_is_bound_to_the_session_and_tokens_are_exempt(double: JenkinsDouble):
    pw = requests.Session()
    pw.auth = ("admin", "admin-password")
    crumb = pw.get(double.url + "crumbIssuer/api/json", timeout=5).json()
    assert crumb["crumbRequestField"] == "Jenkins-Crumb"
    ok = pw.post(
        double.url + "createItem?name=a",
        data=FOLDER,
        headers={**XML, "Jenkins-Crumb": crumb["crumb"]},
        timeout=5,
    )
    assert ok.status_code == 200
    # same crumb without the session cookie: refused
    other = requests.post(
        double.url + "createItem?name=b",
        data=FOLDER,
        auth=("admin", "admin-password"),
        headers={**XML, "Jenkins-Crumb": crumb["crumb"]},
        timeout=5,
    )
    assert other.status_code == 403
    assert "No valid crumb was included in the request" in other.text
    token = requests.post(
        double.url + "createItem?name=c",
        data=FOLDER,
        auth=("admin", ADMIN_TOKEN),
        headers=XML,
        timeout=5,
    )
    assert token.status_code == 200


def test_create_item_errors_carry_x_error(double: JenkinsDouble, admin: requests.Session):
    assert post_xml(admin, double.url + "createItem?name=ml", FOLDER).status_code == 200
    cases = {
        "createItem?name=ml": "A job already exists with the name ‘ml’",
        "createItem": "Query parameter 'name' is required",
        "createItem?name=a%2Fb": "‘/’ is an unsafe character",
    }
    for path, message in cases.items():
        r = post_xml(admin, double.url + path, FOLDER)
        assert r.status_code == 400
        assert r.headers["X-Error"].encode("latin-1").decode() == message
    no_type = admin.post(double.url + "createItem?name=x", data=FOLDER.encode(), timeout=5)
    assert no_type.status_code == 400
    assert no_type.headers["X-Error"] == "No Content-Type header set"
    assert admin.get(double.url + "createItem?name=y", timeout=5).status_code == 405
    missing = post_xml(admin, double.url + "job/nope/createItem?name=x", PARAM_JOB)
    assert missing.status_code == 404
    form = admin.post(
        double.url + "job/ml/createItem",
        allow_redirects=False,
        timeout=5,
        data={"name": "sub", "mode": "com.cloudbees.hudson.plugins.folder.Folder"},
    )
    assert form.status_code == 302
    assert form.headers["Location"].endswith("/job/ml/job/sub/configure")


def test_python_jenkins_folders_config_round_trip_and_tree(double: JenkinsDouble):
    server = jenkins.Jenkins(double.url, "admin", ADMIN_TOKEN, timeout=5)
    server.create_folder("ml")
    server.create_job("ml/job1", PARAM_JOB)
    assert server.job_exists("ml/job1")
    assert server.get_job_config("ml/job1").endswith(PARAM_JOB)
    server.reconfig_job("ml/job1", PARAM_JOB.replace("<defaultValue>1", "<defaultValue>2"))
    assert "<defaultValue>2" in server.get_job_config("ml/job1")
    names = {j["fullname"] for j in server.get_all_jobs()}
    assert names == {"ml", "ml/job1"}
    assert server.get_version() == "2.479.3"
    info = server.get_info(query="?tree=jobs[name]")
    assert info == {
        "_class": "hudson.model.Hudson",
        "jobs": [{"_class": "com.cloudbees.hudson.plugins.folder.Folder", "name": "ml"}],
    }
    assert server.get_whoami()["id"] == "admin"


def test_queue_build_log_and_stages(double: JenkinsDouble):
    server = jenkins.Jenkins(double.url, "admin", ADMIN_TOKEN, timeout=5)
    server.create_job("p", PARAM_JOB)
    double.script(
        "p",
        BuildScript(
            [StageScript("A", ["a1", "a2"], 0.6), StageScript("B", ["b1"], status="UNSTABLE")]
        ),
    )
    double.queue_delay = 0.2
    qid = server.build_job("p", {"V": "7"})
    again = requests.post(
        double.url + "job/p/buildWithParameters?V=7",
        auth=("admin", ADMIN_TOKEN),
        allow_redirects=False,
        timeout=5,
    )
    assert again.status_code == 303
    assert again.headers["Location"] == f"{double.url}queue/item/{qid}/"
    waiting = server.get_queue_item(qid)
    assert waiting["_class"] == "hudson.model.Queue$WaitingItem"
    assert isinstance(waiting["why"], str) and "executable" not in waiting
    deadline = time.monotonic() + 5
    while "executable" not in (item := server.get_queue_item(qid)):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert item["_class"] == "hudson.model.Queue$LeftItem" and item["why"] is None
    number = item["executable"]["number"]
    url = f"{double.url}job/p/{number}/logText/progressiveText"
    first = requests.get(url, params={"start": 0}, auth=("admin", ADMIN_TOKEN), timeout=5)
    assert first.headers["X-More-Data"] == "true"
    double.wait_for_build("p", number)
    size = int(first.headers["X-Text-Size"])
    rest = requests.get(url, params={"start": size}, auth=("admin", ADMIN_TOKEN), timeout=5)
    assert "X-More-Data" not in rest.headers
    assert (first.content + rest.content).decode() == server.get_build_console_output("p", 1)
    build = server.get_build_info("p", number)
    assert build["result"] == "UNSTABLE" and build["building"] is False
    assert build["queueId"] == qid
    stages = server.get_build_stages("p", number)
    assert stages["status"] == "UNSTABLE"
    assert [(s["name"], s["status"]) for s in stages["stages"]] == [
        ("A", "SUCCESS"),
        ("B", "UNSTABLE"),
    ]
    server.create_job("plain", "<flow-definition/>")
    with pytest.raises(requests.HTTPError) as e:
        server.build_job("plain", {"V": "1"})
    assert e.value.response.status_code == 400


def test_input_id_rule_and_answers(double: JenkinsDouble, admin: requests.Session):
    post_xml(admin, double.url + "createItem?name=p", "<flow-definition/>")
    double.script("p", BuildScript([StageScript("Gate", input=InputSpec("Ship it?"))]))
    r = admin.post(double.url + "job/p/build", timeout=5)
    assert r.status_code == 201
    double.wait_for_input("p", 1)
    pending = admin.get(double.url + "job/p/1/wfapi/pendingInputActions", timeout=5).json()
    md5 = hashlib.md5(b"Ship it?").hexdigest()  # lowercase hex, first character capitalised
    key = md5[0].upper() + md5[1:]
    assert pending[0]["id"] == key
    assert pending[0]["proceedUrl"] == f"/job/p/1/wfapi/inputSubmit?inputId={key}"
    assert pending[0]["abortUrl"] == f"/job/p/1/input/{key}/abort"
    assert admin.post(double.url + "job/p/1/input/Nope/proceedEmpty", timeout=5).status_code == 404
    assert admin.get(double.url + f"job/p/1/input/{key}/proceedEmpty", timeout=5).status_code == 405
    body = {"json": json.dumps({"parameter": []})}
    assert (
        admin.post(double.url + f"job/p/1/input/{key}/proceed", data=body, timeout=5).status_code
        == 200
    )
    again = admin.post(double.url + f"job/p/1/input/{key}/abort", timeout=5)
    assert again.status_code == 400 and "This input has been already given" in again.text
    assert double.wait_for_build("p", 1).result == "SUCCESS"


def test_credentials_store(double: JenkinsDouble, admin: requests.Session):
    base = double.url + "credentials/store/system/domain/_/"
    body = (
        "<org.jenkinsci.plugins.plaincredentials.impl.StringCredentialsImpl><scope>GLOBAL"
        "</scope><id>tok</id><description>d</description><secret>s3cr3t</secret>"
        "</org.jenkinsci.plugins.plaincredentials.impl.StringCredentialsImpl>"
    )
    assert post_xml(admin, base + "createCredentials", body).status_code == 200
    assert post_xml(admin, base + "createCredentials", body).status_code == 409
    assert admin.post(base + "createCredentials", data=body.encode(), timeout=5).status_code == 400
    shown = admin.get(base + "credential/tok/config.xml", timeout=5).text
    assert "<secret><secret-redacted /></secret>" in shown and "s3cr3t" not in shown
    assert (
        post_xml(
            admin,
            base + "credential/tok/config.xml",
            shown.replace("<description>d", "<description>e"),
        ).status_code
        == 200
    )
    assert double.credential_secret("system", "tok", "secret") == "s3cr3t"
    listing = admin.get(base + "api/json", params={"tree": "credentials[id]"}, timeout=5).json()
    assert listing["credentials"] == [{"id": "tok"}]
    assert admin.delete(base + "credential/tok/config.xml", timeout=5).status_code == 200
    viewer = requests.post(
        base + "createCredentials",
        data=body,
        headers=XML,
        auth=("viewer", "viewer-token"),
        timeout=5,
    )
    assert viewer.status_code == 403


def test_linter_endpoints(double: JenkinsDouble):
    ok = "pipeline {\n  agent any\n  stages {\n    stage('a') { steps { echo 'x' } }\n  }\n}\n"
    # /pipeline-model-converter/* is exempt from the crumb even with a password
    r = requests.post(
        double.url + "pipeline-model-converter/validate",
        auth=("admin", "admin-password"),
        files={"jenkinsfile": (None, ok)},
        timeout=5,
    )
    assert r.text == "Jenkinsfile successfully validated.\n"
    none = requests.post(
        double.url + "pipeline-model-converter/validate", auth=("admin", ADMIN_TOKEN), timeout=5
    )
    assert none.text == "No Jenkinsfile specified"
    server = jenkins.Jenkins(double.url, "admin", ADMIN_TOKEN, timeout=5)
    assert server.check_jenkinsfile_syntax(ok) == []
    errors = server.check_jenkinsfile_syntax("pipeline {\n  stages {\n  }\n")
    assert errors == [
        {
            "error": [
                'Unexpected end of file: block "pipeline" opened at line 1 is not closed @ line 4, '
                "column 1."
            ]
        }
    ]
