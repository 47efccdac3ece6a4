"""`mlci jenkins` end to end over HTTP against the controller double (python-jenkins inside)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO
from tests.jenkins.conftest import ADMIN_TOKEN, SCM_URL, mlci, point_at
from tests.jenkins.double import BuildScript, InputSpec, JenkinsDouble, StageScript

POLL = ("--poll-interval", "0.02")

DEPLOY_SCRIPT = BuildScript(
    [
        StageScript("Verify gate", ["+ mlci model show churn-classifier 3 --json"], 0.02),
        StageScript(
            "Approval",
            ['+ mlci model approve churn-classifier 3 --by $APPROVER --reason "$REASON"'],
            input=InputSpec(
                "Deploy this model version to production?",
                id="promote",
                ok="Deploy",
                submitter="ml-approvers",
                parameters=[{"name": "REASON", "default": ""}],
                submitter_parameter="APPROVER",
            ),
        ),
        StageScript("Promote", ["+ mlci deploy production churn-classifier 3"], 0.02),
    ],
    description="churn-classifier version 3",
)


def applied(double: JenkinsDouble) -> None:
    result = mlci("jenkins", "apply")
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------- apply


def test_apply_from_empty_creates_folder_and_all_jobs(jproject: Path, double: JenkinsDouble):
    result = mlci("jenkins", "apply")
    assert result.exit_code == 0
    assert result.output == (
        "create folder: ml\ncreate folder: ml/ct\ncreate folder: ml/release\n"
        "create: ml/ct/retrain\ncreate: ml/release/deploy\ncreate: ml/train\n"
        f"made 6 change(s) on {double.url.rstrip('/')}\n"
    )
    assert [w[:2] for w in double.writes()] == [
        ("POST", "/createItem"),
        ("POST", "/job/ml/createItem"),
        ("POST", "/job/ml/createItem"),
        ("POST", "/job/ml/job/ct/createItem"),
        ("POST", "/job/ml/job/release/createItem"),
        ("POST", "/job/ml/createItem"),
    ]
    assert double.get_job("ml/release").cls == "com.cloudbees.hudson.plugins.folder.Folder"
    assert double.get_job("ml").cls == "com.cloudbees.hudson.plugins.folder.Folder"
    assert double.get_job("ml/train").cls.endswith("WorkflowMultiBranchProject")
    assert f"<remote>{SCM_URL}</remote>" in double.job_config("ml/train")
    assert "<scriptPath>jenkins/deploy.Jenkinsfile</scriptPath>" in double.job_config(
        "ml/release/deploy"
    )
    # parameters exist before the first run
    assert [p["name"] for p in double.get_job("ml/release/deploy").parameters()] == [
        "ACTION",
        "MODEL_NAME",
        "MODEL_VERSION",
        "ENVIRONMENT",
    ]


def test_second_apply_makes_zero_writes(jproject: Path, double: JenkinsDouble):
    applied(double)
    before = len(double.writes())
    result = mlci("jenkins", "apply")
    assert result.exit_code == 0
    assert result.output == (
        "unchanged: ml/ct/retrain\nunchanged: ml/release/deploy\nunchanged: ml/train\n"
        f"made 0 change(s) on {double.url.rstrip('/')}\n"
    )
    assert len(double.writes()) == before


def test_dry_run_shows_diff_and_writes_nothing(jproject: Path, double: JenkinsDouble):
    empty = mlci("jenkins", "apply", "--dry-run")
    assert empty.exit_code == 0
    assert empty.output.startswith("would create folder: ml\nwould create folder: ml/ct\n")
    assert double.writes() == []

    applied(double)
    job = double.get_job("ml/release/deploy")
    job.set_config(
        job.config.replace(
            b"<scriptPath>jenkins/deploy.Jenkinsfile", b"<scriptPath>old/deploy.Jenkinsfile"
        )
    )
    before = len(double.writes())
    result = mlci("jenkins", "apply", "--dry-run")
    assert result.exit_code == 0
    assert "would update: ml/release/deploy\n" in result.output
    assert "-    <scriptPath>old/deploy.Jenkinsfile</scriptPath>\n" in result.output
    assert "+    <scriptPath>jenkins/deploy.Jenkinsfile</scriptPath>\n" in result.output
    assert "unchanged: ml/train\n" in result.output
    assert result.output.endswith(f"would make 1 change(s) on {double.url.rstrip('/')}\n")
    assert len(double.writes()) == before

    fixed = mlci("jenkins", "apply")
    assert "update: ml/release/deploy\n" in fixed.output
    assert len(double.writes()) == before + 1
    assert b"jenkins/deploy.Jenkinsfile" in job.config


def test_apply_ignores_what_jenkins_adds_on_save(jproject: Path, double: JenkinsDouble):
    applied(double)
    job = double.get_job("ml/release/deploy")
    job.set_config(
        job.config.replace(b"<keepDependencies>", b"<actions/><keepDependencies>").replace(
            b'plugin="workflow-job"', b'plugin="workflow-job@1540.v2"'
        )
    )
    before = len(double.writes())
    assert "unchanged: ml/release/deploy" in mlci("jenkins", "apply").output
    assert len(double.writes()) == before


# ---------------------------------------------------------------- builds


def test_build_follow_streams_log_and_succeeds(jproject: Path, double: JenkinsDouble):
    applied(double)
    double.script(
        "ml/release/deploy",
        BuildScript(
            [
                StageScript("Verify gate", ["checking gate", "gate passed"], 0.05),
                StageScript("Promote", ["deploying 3"], 0.02),
            ],
            description="churn-classifier version 3",
        ),
    )
    result = mlci("jenkins", "build", "release/deploy", "-p", "MODEL_VERSION=3", "--follow", *POLL)
    assert result.exit_code == 0, result.output
    log = result.stdout
    assert log.startswith("Started by user admin\n")
    assert log.index("checking gate") < log.index("gate passed") < log.index("deploying 3")
    assert log.endswith("Finished: SUCCESS\n")
    assert "description: churn-classifier version 3\n" in result.stderr
    assert "ml/release/deploy #1 finished SUCCESS\n" in result.stderr
    build = double.get_job("ml/release/deploy").builds[1]
    assert build.params == {
        "ACTION": "deploy",
        "MODEL_NAME": "churn-classifier",
        "MODEL_VERSION": "3",
        "ENVIRONMENT": "production",
    }


def test_build_follow_exits_1_on_failure(jproject: Path, double: JenkinsDouble):
    applied(double)
    double.script(
        "ml/release/deploy",
        BuildScript(
            [
                StageScript(
                    "Verify gate",
                    ["no such version"],
                    status="FAILED",
                    error="script returned exit code 2",
                ),
                StageScript("Promote", ["never"]),
            ]
        ),
    )
    result = mlci("jenkins", "build", "release/deploy", "-p", "MODEL_VERSION=9", "--follow", *POLL)
    assert result.exit_code == 1
    assert "never" not in result.stdout
    assert 'Stage "Promote" skipped due to earlier failure(s)' in result.stdout
    assert result.output.endswith(
        f"Error: ml/release/deploy #1 finished FAILURE: "
        f"{double.url}job/ml/job/release/job/deploy/1/\n"
    )


def test_build_without_follow_prints_the_number(jproject: Path, double: JenkinsDouble):
    applied(double)
    result = mlci("jenkins", "build", "ct/retrain", *POLL)
    assert result.exit_code == 0
    assert result.stdout == "ml/ct/retrain #1\n"


def test_multibranch_build_indexes_then_branch_builds(jproject: Path, double: JenkinsDouble):
    applied(double)
    double.set_branches("ml/train", ["main", "feature/faster"])
    result = mlci("jenkins", "build", "train")
    assert result.exit_code == 0
    assert result.output == "ml/train: branch indexing requested\n"
    assert set(double.get_job("ml/train").children) == {"main", "feature%2Ffaster"}
    double.script("ml/train/feature%2Ffaster", BuildScript([StageScript("Train", ["fit"])]))
    branch = mlci("jenkins", "build", "train/feature%2Ffaster", "--follow", *POLL)
    assert branch.exit_code == 0, branch.output
    assert "fit\n" in branch.stdout


def _start_waiting_build(double: JenkinsDouble) -> None:
    double.script("ml/release/deploy", DEPLOY_SCRIPT)
    result = mlci("jenkins", "build", "release/deploy", "-p", "MODEL_VERSION=3", *POLL)
    assert result.exit_code == 0, result.output
    double.wait_for_input("ml/release/deploy", 1)


def test_approve_answers_the_pending_input(jproject: Path, double: JenkinsDouble, monkeypatch):
    applied(double)
    _start_waiting_build(double)
    monkeypatch.setenv("JENKINS_USER", "alice")
    monkeypatch.setenv("JENKINS_TOKEN", "alice-token")
    result = mlci("jenkins", "approve", "release/deploy", "1", "-p", "REASON=gate and smoke passed")
    assert result.exit_code == 0, result.output
    assert result.output == "ml/release/deploy #1: input Promote approved\n"
    build = double.wait_for_build("ml/release/deploy", 1)
    assert build.result == "SUCCESS"
    assert "Approved by alice\n" in build.log


def test_approve_without_parameters_records_the_submitter(jproject, double, monkeypatch):
    """proceedEmpty would leave Declarative's APPROVER as the string "null" (input-step 517)."""
    applied(double)
    _start_waiting_build(double)
    monkeypatch.setenv("JENKINS_USER", "alice")
    monkeypatch.setenv("JENKINS_TOKEN", "alice-token")
    result = mlci("jenkins", "approve", "release/deploy", "1")
    assert result.exit_code == 0, result.output
    build = double.wait_for_build("ml/release/deploy", 1)
    assert build.env["APPROVER"] == "alice"
    assert '+ mlci model approve churn-classifier 3 --by alice --reason "$REASON"\n' in build.log
    posted = [w for w in double.writes() if "/input/" in w[1]]
    assert posted == [("POST", "/job/ml/job/release/job/deploy/1/input/Promote/proceed", 200)]


def test_approve_with_an_unknown_parameter_names_it(jproject, double, monkeypatch):
    applied(double)
    _start_waiting_build(double)
    monkeypatch.setenv("JENKINS_USER", "alice")
    monkeypatch.setenv("JENKINS_TOKEN", "alice-token")
    result = mlci(
        "jenkins", "approve", "release/deploy", "1", "--input", "promote", "-p", "REASN=ok"
    )
    assert result.exit_code == 2
    assert result.output == (
        "Error: ml/release/deploy #1: input Promote has no parameter REASN; "
        "its parameters: REASON\n"
    )
    assert double.get_job("ml/release/deploy").builds[1].pending  # still waiting
    ok = mlci("jenkins", "approve", "release/deploy", "1", "-p", "REASON=gate passed")
    assert ok.exit_code == 0, ok.output
    build = double.wait_for_build("ml/release/deploy", 1)
    assert '--by alice --reason "gate passed"\n' in build.log


def test_follow_announces_the_input_and_ends_after_approval(jproject, double: JenkinsDouble):
    applied(double)
    double.script("ml/release/deploy", DEPLOY_SCRIPT)

    def approve_when_waiting() -> None:
        # Plain HTTP here: a second CliRunner in this thread would swap sys.stderr under the
        # one running `build --follow`.
        double.wait_for_input("ml/release/deploy", 1)
        time.sleep(0.3)  # many polls of the follower
        r = requests.post(
            f"{double.url}job/ml/job/release/job/deploy/1/input/Promote/proceedEmpty",
            auth=("admin", ADMIN_TOKEN),
            timeout=5,
        )
        assert r.status_code == 200

    t = threading.Thread(target=approve_when_waiting)
    t.start()
    result = mlci("jenkins", "build", "release/deploy", "-p", "MODEL_VERSION=3", "--follow", *POLL)
    t.join(10)
    assert result.exit_code == 0, result.output
    assert (
        "waiting for input 'Promote': Deploy this model version to production? "
        "-> mlci jenkins approve release/deploy 1 --input Promote\n"
    ) in result.stderr
    assert "Deploy this model version to production?\nDeploy or Abort\n" in result.stdout


def test_abort_rejects_the_input_and_the_build_ends_aborted(jproject, double: JenkinsDouble):
    applied(double)
    _start_waiting_build(double)
    result = mlci("jenkins", "abort", "release/deploy", "1", "--input", "promote")
    assert result.exit_code == 0
    assert result.output == "ml/release/deploy #1: input Promote aborted\n"
    build = double.wait_for_build("ml/release/deploy", 1)
    assert build.result == "ABORTED"
    assert "deploy production" not in build.log


def test_approve_by_a_non_submitter_is_refused(jproject, double: JenkinsDouble, monkeypatch):
    applied(double)
    _start_waiting_build(double)
    monkeypatch.setenv("JENKINS_USER", "dev")
    monkeypatch.setenv("JENKINS_TOKEN", "dev-token")
    result = mlci("jenkins", "approve", "release/deploy", "1")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: Jenkins rejected POST {double.url}job/ml/job/release/job/deploy/1/input/Promote/"
        "proceed"
        " (400 Bad Request): You need to be ml-approvers to submit this.\n"
    )
    assert double.get_job("ml/release/deploy").builds[1].pending  # still waiting


def test_approve_twice_says_already_given(jproject: Path, double: JenkinsDouble):
    applied(double)
    _start_waiting_build(double)
    assert mlci("jenkins", "approve", "release/deploy", "1").exit_code == 0
    again = mlci("jenkins", "approve", "release/deploy", "1", "--input", "promote")
    assert again.exit_code == 2
    assert again.output.endswith("(400 Bad Request): This input has been already given\n")
    nothing = mlci("jenkins", "approve", "release/deploy", "1")
    assert nothing.exit_code == 2
    assert nothing.output == "Error: ml/release/deploy #1 is not waiting for any input\n"


def test_status_shows_stages_with_status_and_duration(jproject, double: JenkinsDouble):
    applied(double)
    _start_waiting_build(double)
    result = mlci("jenkins", "status", "release/deploy", "1")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].startswith("ml/release/deploy #1  PAUSED_PENDING_INPUT  ")
    assert lines[1].split()[:3] == ["Verify", "gate", "SUCCESS"]
    assert lines[2].split()[:2] == ["Approval", "PAUSED_PENDING_INPUT"]
    mlci("jenkins", "approve", "release/deploy", "1")
    double.wait_for_build("ml/release/deploy", 1)
    last = mlci("jenkins", "status", "release/deploy", "--json")
    assert '"status": "SUCCESS"' in last.output
    assert '"name": "Promote"' in last.output


# ---------------------------------------------------------------- errors


def test_401_bad_token(jproject: Path, double: JenkinsDouble, monkeypatch):
    monkeypatch.setenv("JENKINS_TOKEN", "not-the-token")
    result = mlci("jenkins", "apply")
    assert result.exit_code == 4
    assert result.output == (
        "Error: Jenkins refused the credentials of user 'admin' for GET "
        f"{double.url}job/ml/api/json (401 Unauthorized): set JENKINS_TOKEN to a current API "
        "token of the user in JENKINS_USER (Jenkins: user menu > Security > API Token)\n"
    )


def test_missing_credentials_env(jproject: Path, monkeypatch):
    monkeypatch.delenv("JENKINS_TOKEN")
    result = mlci("jenkins", "status", "release/deploy")
    assert result.exit_code == 2
    assert result.output.startswith("Error: JENKINS_TOKEN not set: export the Jenkins user name")


def test_403_missing_permission(jproject: Path, double: JenkinsDouble, monkeypatch):
    monkeypatch.setenv("JENKINS_USER", "viewer")
    monkeypatch.setenv("JENKINS_TOKEN", "viewer-token")
    result = mlci("jenkins", "apply")
    assert result.exit_code == 4
    assert result.output == (
        f"Error: Jenkins refused POST {double.url}createItem for user 'viewer' (403 Forbidden: "
        "viewer is missing the Job/Create permission); ask a Jenkins administrator to grant it\n"
    )
    assert double.writes() == [("POST", "/createItem", 403)]


def test_404_unknown_job(jproject: Path, double: JenkinsDouble):
    result = mlci("jenkins", "build", "nope")
    assert result.exit_code == 2
    assert result.output == (
        "Error: no job ml/nope on the controller: check the name and jenkins.folder in "
        "mlci.yaml, or run `mlci jenkins apply` to create the jobs (GET "
        f"{double.url}job/ml/job/nope/api/json answered 404 Not Found)\n"
    )


def test_400_x_error_from_create_item(jproject: Path, double: JenkinsDouble, tmp_path: Path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "deploy@v2.xml").write_text((REPO / "jenkins/jobs/release/deploy.xml").read_text())
    result = mlci("jenkins", "apply", "--jobs-dir", str(jobs))
    assert result.exit_code == 2
    assert result.output.endswith(
        f"Error: Jenkins rejected POST {double.url}job/ml/createItem (400 Bad Request): "
        "‘@’ is an unsafe character\n"
    )


def test_400_not_parameterized(jproject: Path, double: JenkinsDouble):
    applied(double)
    result = mlci("jenkins", "build", "ct/retrain", "-p", "X=1")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: Jenkins rejected POST {double.url}job/ml/job/ct/job/retrain/buildWithParameters "
        "(400 Bad Request): ml/ct/retrain is not parameterized\n"
    )


def test_405_method_not_allowed(jproject: Path, double: JenkinsDouble):
    applied(double)
    double.inject(
        "POST", "/job/ml/job/release/job/deploy/buildWithParameters", 405, "Method Not Allowed"
    )
    result = mlci("jenkins", "build", "release/deploy", "-p", "MODEL_VERSION=1")
    assert result.exit_code == 4
    assert result.output == (
        f"Error: Jenkins does not allow POST on {double.url}job/ml/job/release/job/deploy/"
        "buildWithParameters"
        f" (405 Method Not Allowed): check that jenkins.url ({double.url}) is the controller's "
        "own URL; a proxy or an http->https redirect turns a POST into a GET\n"
    )


def test_409_job_not_buildable(jproject: Path, double: JenkinsDouble):
    applied(double)
    job = double.get_job("ml/release/deploy")
    job.set_config(job.config.replace(b"<disabled>false", b"<disabled>true"))
    result = mlci("jenkins", "build", "release/deploy", "-p", "MODEL_VERSION=1")
    assert result.exit_code == 4
    assert result.output == (
        f"Error: Jenkins refused POST {double.url}job/ml/job/release/job/deploy/"
        "buildWithParameters "
        "(409 Conflict): ml/release/deploy is not buildable\n"
    )


def test_password_login_uses_the_session_bound_crumb(jproject, double: JenkinsDouble, monkeypatch):
    monkeypatch.setenv("JENKINS_TOKEN", "admin-password")  # a password: crumbs are checked
    result = mlci("jenkins", "apply")
    assert result.exit_code == 0, result.output
    assert [w[2] for w in double.writes()] == [200] * 6


def test_403_crumb_rejected_suggests_a_token(jproject: Path, double: JenkinsDouble):
    double.inject(
        "POST",
        "/createItem",
        403,
        "<html><body><p>No valid crumb was included in the request</p></body></html>",
    )
    result = mlci("jenkins", "apply")
    assert result.exit_code == 4
    assert result.output == (
        f"Error: Jenkins refused POST {double.url}createItem (403 Forbidden: No valid crumb was "
        "included in the request); put an API token, not a password, in JENKINS_TOKEN: token "
        "requests need no crumb\n"
    )


def test_500_names_the_url_and_the_log(jproject: Path, double: JenkinsDouble):
    double.inject("GET", "/job/ml/api/json", 500, "java.lang.NullPointerException")
    result = mlci("jenkins", "apply", "--dry-run")
    assert result.exit_code == 4
    assert result.output == (
        f"Error: Jenkins failed on GET {double.url}job/ml/api/json (500 Internal Server Error): "
        "java.lang.NullPointerException; see the controller's log\n"
    )


def test_apply_json(jproject: Path, double: JenkinsDouble):
    import json

    result = mlci("jenkins", "apply", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["dry_run"] is False
    assert [(c["action"], c["name"]) for c in doc["changes"]] == [
        ("create-folder", "ml"),
        ("create-folder", "ml/ct"),
        ("create-folder", "ml/release"),
        ("create", "ml/ct/retrain"),
        ("create", "ml/release/deploy"),
        ("create", "ml/train"),
    ]


def test_connection_refused(jproject: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    point_at(jproject, f"http://127.0.0.1:{port}")
    result = mlci("jenkins", "status", "release/deploy")
    assert result.exit_code == 4
    assert result.output == (
        f"Error: cannot reach Jenkins at http://127.0.0.1:{port}/: connection refused (GET "
        f"http://127.0.0.1:{port}/job/ml/job/release/job/deploy/lastBuild/wfapi/describe); "
        "start the "
        "controller (scripts/jenkins-up.sh) or set jenkins.url in mlci.yaml "
        "(or MLCI_JENKINS__URL)\n"
    )


def test_timeout(jproject: Path, double: JenkinsDouble):
    point_at(jproject, double.url, timeout=0.3)
    double.slow("/job/ml/", 1.0)
    result = mlci("jenkins", "status", "release/deploy")
    assert result.exit_code == 4
    assert result.output == (
        f"Error: Jenkins at {double.url} did not answer within 0.3 s (GET "
        f"{double.url}job/ml/job/release/job/deploy/lastBuild/wfapi/describe); "
        "the controller may be "
        "overloaded: retry, or raise jenkins.timeout in mlci.yaml\n"
    )


# ---------------------------------------------------------------- credentials


CANARY_PASSWORD = "canary-9f8e7d6c5b4a-secret"
CANARY_MLFLOW = "canary-mlflow-0a1b2c3d-secret"


# Scoped stores, secrets never printed, JCasC not wiping: tests/jenkins/test_credentials.py.


def test_credentials_apply_needs_a_pair(jproject: Path, double: JenkinsDouble, monkeypatch):
    monkeypatch.setenv("MLCI_REGISTRY_PASSWORD", CANARY_PASSWORD)
    result = mlci("jenkins", "credentials", "apply")
    assert result.exit_code == 2
    assert result.output == (
        "Error: MLCI_REGISTRY_USER is not set but MLCI_REGISTRY_PASSWORD "
        "is: set both to create the Jenkins credential 'mlci-registry'\n"
    )
    assert double.writes() == []


def test_credentials_apply_before_the_folder_exists(jproject, double: JenkinsDouble, monkeypatch):
    monkeypatch.setenv("MLCI_REGISTRY_USER", "robot")
    monkeypatch.setenv("MLCI_REGISTRY_PASSWORD", CANARY_PASSWORD)
    result = mlci("jenkins", "credentials", "apply")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "skipped mlci-mlflow: MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD not set\n"
    )
    assert "Error: credentials store of folder 'ml/release' not found" in result.output
    assert "canary" not in result.output


# ---------------------------------------------------------------- lint and plugins


@pytest.mark.parametrize("api", ["json", "text"])
def test_lint_valid_jenkinsfiles(jproject: Path, double: JenkinsDouble, api: str):
    files = [str(REPO / "Jenkinsfile"), str(REPO / "jenkins/deploy.Jenkinsfile")]
    result = mlci("jenkins", "lint", "--api", api, *files)
    assert result.exit_code == 0, result.output
    assert result.output == f"{files[0]}: valid\n{files[1]}: valid\n"


@pytest.mark.parametrize("api", ["json", "text"])
def test_lint_reports_errors(jproject: Path, double: JenkinsDouble, api: str, tmp_path: Path):
    bad = tmp_path / "Jenkinsfile"
    bad.write_text(
        "pipeline {\n    stages {\n        stage('x') {\n            echo 'hi'\n"
        "        }\n    }\n    nonsense {\n    }\n}\n"
    )
    result = mlci("jenkins", "lint", "--api", api, str(bad))
    assert result.exit_code == 1
    prefix = "WorkflowScript: 1: " if api == "text" else ""
    missing_agent = f'{prefix}Missing required section "agent" @ line 1, column 1.'
    assert result.output.startswith(f"{bad}: invalid\n  {missing_agent}\n")
    assert 'Expected one of "steps", "stages", or "parallel" for stage @ line 3' in (result.output)
    assert 'Not a valid section definition: "nonsense"' in result.output
    assert result.output.endswith(f"Error: the declarative linter rejected {bad}\n")


def test_plugins_check(jproject: Path, double: JenkinsDouble):
    from ml.jenkins.plugins import read_plugins_file

    pinned = read_plugins_file(REPO / "jenkins/plugins.txt")
    double.set_plugins({**pinned, "extra-plugin": "1.0"})
    args = ("jenkins", "plugins", "check", "--plugins-file", str(REPO / "jenkins/plugins.txt"))
    ok = mlci(*args)
    assert ok.exit_code == 0
    assert ok.output == f"all {len(pinned)} pinned plugins installed at their versions\n"
    drifted = dict(pinned)
    del drifted["lockable-resources"]
    drifted["git"] = "4.0.0"
    double.set_plugins(drifted)
    bad = mlci(*args)
    assert bad.exit_code == 1
    assert bad.output == (
        f"git: pinned {pinned['git']}, installed 4.0.0\n"
        f"lockable-resources: pinned {pinned['lockable-resources']}, not installed\n"
        f"Error: 2 of {len(pinned)} plugins differ from {REPO / 'jenkins/plugins.txt'}\n"
    )


# ---------------------------------------------------------------- the pipelines on the double
# The double applies each Jenkinsfile's job properties as Declarative does (double.declare).


def test_apply_is_idempotent_after_declarative_runs(jproject: Path, double: JenkinsDouble):
    """The Jenkinsfile is the one parameter definition: a run rewrites nothing apply wrote."""
    applied(double)
    double.declare("ml/release/deploy", REPO / "jenkins/deploy.Jenkinsfile", checkout=REPO)
    double.declare("ml/ct/retrain", REPO / "jenkins/retrain.Jenkinsfile", checkout=REPO)
    for job, args in (("release/deploy", ("-p", "MODEL_VERSION=3")), ("ct/retrain", ())):
        result = mlci("jenkins", "build", job, *args, "--follow", *POLL)
        assert result.exit_code == 0, result.output
    before = len(double.writes())
    again = mlci("jenkins", "apply")
    assert again.exit_code == 0, again.output
    assert again.output.startswith("unchanged: ml/ct/retrain\nunchanged: ml/release/deploy\n")
    assert len(double.writes()) == before
    # what Declarative wrote is what the job had before the first run
    names = [p["name"] for p in double.get_job("ml/release/deploy").parameters()]
    assert names == ["ACTION", "MODEL_NAME", "MODEL_VERSION", "ENVIRONMENT"]


def test_a_deploy_waiting_for_approval_does_not_block_the_next(jproject, double, monkeypatch):
    """No disableConcurrentBuilds on deploy: a second deploy runs up to its own approval."""
    applied(double)
    double.declare("ml/release/deploy", REPO / "jenkins/deploy.Jenkinsfile", checkout=REPO)
    double.script("ml/release/deploy", DEPLOY_SCRIPT)
    assert mlci("jenkins", "build", "release/deploy", "-p", "MODEL_VERSION=3", *POLL).exit_code == 0
    double.wait_for_input("ml/release/deploy", 1)
    second = mlci(
        "jenkins", "build", "release/deploy", "-p", "MODEL_VERSION=4", "--queue-timeout", "5", *POLL
    )
    assert second.exit_code == 0, second.output
    assert second.stdout == "ml/release/deploy #2\n"
    double.wait_for_input("ml/release/deploy", 2)
    assert double.get_job("ml/release/deploy").builds[1].pending  # the first still waits


def test_approval_message_names_the_gate_and_links_the_report(jproject: Path, tmp_path: Path):
    import json

    shown = {
        "name": "churn-classifier",
        "version": "7",
        "approval": "pending",
        "tags": {
            "gate.verdict": "passed",
            "gate.primary_metric": "roc_auc=0.8312",
            "dataset.version": "v2",
            "dataset.digest": "sha256:ab12",
            "git.commit": "0123456789abcdef0123",
            "git.branch": "main",
            "ci.build_url": "https://ci.example/job/ml/job/train/job/main/41/",
        },
    }
    path = tmp_path / "mv.json"
    path.write_text(json.dumps(shown))
    result = mlci("jenkins", "approval-message", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Deploy churn-classifier version 7 to production?\n"
        "Gate: passed (roc_auc=0.8312)\n"
        "Dataset: v2 (digest sha256:ab12)\n"
        "Commit: 0123456789ab on main\n"
        "Approval so far: pending\n"
        "Report: https://ci.example/job/ml/job/train/job/main/41/model-report/\n"
    )
    status = tmp_path / "status.json"
    status.write_text(
        json.dumps(
            [
                {
                    "env": "production",
                    "model": "churn-classifier",
                    "version": "7",
                    "deployed_by": "alice",
                    "deployed_at": "2026-12-01T07:00:00Z",
                    "state": "running",
                    "health": "ready",
                }
            ]
        )
    )
    rollback = mlci("jenkins", "approval-message", str(status), "--rollback", "production")
    assert rollback.exit_code == 0, rollback.output
    assert rollback.stdout.startswith(
        "Roll production back to the version that served before the current one?\n"
        "Now serving: churn-classifier version 7, deployed by alice at 2026-12-01T07:00:00Z "
        "(state running, health ready)\n"
    )
    wrong = mlci("jenkins", "approval-message", str(status), "--rollback", "staging")
    assert wrong.exit_code == 2
    assert wrong.output == (
        f"Error: {status}: no environment 'staging' in the `mlci deploy status --json` output\n"
    )
    (tmp_path / "bad.json").write_text("{")
    bad = mlci("jenkins", "approval-message", str(tmp_path / "bad.json"))
    assert bad.exit_code == 2 and bad.output.startswith(f"Error: {tmp_path / 'bad.json'}: not JSON")


def test_apply_refuses_a_second_parameter_definition(jproject: Path, double, tmp_path: Path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    xml = (REPO / "jenkins/jobs/release/deploy.xml").read_text()
    own = xml.replace(
        "<properties/>",
        "<properties><hudson.model.ParametersDefinitionProperty><parameterDefinitions/>"
        "</hudson.model.ParametersDefinitionProperty></properties>",
    )
    (jobs / "deploy.xml").write_text(own)
    result = mlci("jenkins", "apply", "--jobs-dir", str(jobs))
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {jobs / 'deploy.xml'}: defines ParametersDefinitionProperty, which Declarative "
        "rewrites from jenkins/deploy.Jenkinsfile on every run; declare it only in the "
        "Jenkinsfile\n"
    )
    assert double.writes() == []


def test_apply_reads_only_literal_parameters(jproject: Path, double, tmp_path: Path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    xml = (REPO / "jenkins/jobs/release/deploy.xml").read_text()
    (jobs / "deploy.xml").write_text(xml.replace("jenkins/deploy.Jenkinsfile", "Computed"))
    (jproject.parent / "Computed").write_text(
        "pipeline {\n    agent none\n    parameters {\n"
        "        string(name: 'V', defaultValue: \"${env.X}\", description: 'v')\n"
        "    }\n    stages {\n        stage('a') { steps { echo 'a' } }\n    }\n}\n"
    )
    result = mlci("jenkins", "apply", "--jobs-dir", str(jobs))
    assert result.exit_code == 2
    assert result.output == (
        f'Error: {jproject.parent / "Computed"}, line 4: "${{env.X}}" is interpolated by Groovy\n'
    )
    assert double.writes() == []
