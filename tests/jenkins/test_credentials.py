"""`mlci jenkins credentials apply`: one place for credentials, scoped to the jobs using them,
never wiped by a JCasC apply (the double models JCasC: tests/jenkins/double/casc.py)."""

from __future__ import annotations

import logging

import pytest
import requests

from tests.conftest import REPO
from tests.jenkins.conftest import ADMIN_TOKEN, mlci
from tests.jenkins.double import JenkinsDouble

CASC = (REPO / "jenkins" / "casc.yaml").read_text()
CONTROLLER_ENV = {
    "JENKINS_URL": "http://ci.example.com:8080/",
    "JENKINS_ADMIN_PASSWORD": "a",
    "JENKINS_APPROVER_PASSWORD": "b",
    "JENKINS_BOT_PASSWORD": "c",
    "MLCI_APPROVERS": "approver",
}
# The `credentials:` section jenkins/casc.yaml had before this change, as shipped.
OLD_CASC = """
credentials:
  system:
    domainCredentials:
      - credentials:
          - usernamePassword:
              scope: GLOBAL
              id: "mlci-registry"
              description: "image registry (mlci)"
              username: "${MLCI_REGISTRY_USER:-}"
              password: "${MLCI_REGISTRY_PASSWORD:-}"
          - usernamePassword:
              scope: GLOBAL
              id: "mlci-mlflow"
              description: "MLflow tracking server (mlci)"
              username: "${MLFLOW_TRACKING_USERNAME:-}"
              password: "${MLFLOW_TRACKING_PASSWORD:-}"
"""
REGISTRY_SECRET = "canary-registry-5e4d3c2b1a"
MLFLOW_SECRET = "canary-mlflow-0a1b2c3d"
BOT_TOKEN = "canary-bot-token-77aa"
ALL_VARS = {
    "MLCI_REGISTRY_USER": "robot",
    "MLCI_REGISTRY_PASSWORD": REGISTRY_SECRET,
    "MLFLOW_TRACKING_USERNAME": "tracker",
    "MLFLOW_TRACKING_PASSWORD": MLFLOW_SECRET,
    "MLCI_JENKINS_BOT_USER": "mlci-bot",
    "MLCI_JENKINS_BOT_TOKEN": BOT_TOKEN,
}
FOLDER = "<com.cloudbees.hudson.plugins.folder.Folder/>"
JOB = (
    "<flow-definition><definition class="
    '"org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition"><script>pipeline {}</script>'
    "<sandbox>true</sandbox></definition></flow-definition>"
)


@pytest.fixture
def admin(double: JenkinsDouble) -> requests.Session:
    s = requests.Session()
    s.auth = ("admin", ADMIN_TOKEN)
    return s


def create(admin: requests.Session, url: str, body: str) -> None:
    r = admin.post(url, data=body, headers={"Content-Type": "application/xml"}, timeout=5)
    assert r.status_code == 200, r.text


def layout(double: JenkinsDouble, admin: requests.Session) -> None:
    """The job layout credentials are scoped to: <folder>/train/<branch>,
    <folder>/release/deploy, <folder>/ct/retrain."""
    create(admin, double.url + "createItem?name=ml", FOLDER)
    for folder, job in (("train", "main"), ("release", "deploy"), ("ct", "retrain")):
        create(admin, double.url + f"job/ml/createItem?name={folder}", FOLDER)
        create(admin, double.url + f"job/ml/job/{folder}/createItem?name={job}", JOB)


def with_vars(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for var in ALL_VARS:
        monkeypatch.delenv(var, raising=False)
    for var, value in values.items():
        monkeypatch.setenv(var, value)


def test_apply_scopes_each_credential_to_the_jobs_using_it(
    jproject, double: JenkinsDouble, admin, monkeypatch, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    layout(double, admin)
    with_vars(monkeypatch, ALL_VARS)
    first = mlci("jenkins", "credentials", "apply")
    assert first.exit_code == 0, first.output
    assert first.output == (
        "created: mlci-registry (store: ml/release)\n"
        "created: mlci-mlflow (store: ml)\n"
        "created: mlci-jenkins (store: ml/ct)\n"
        "created: mlci-jenkins (store: ml/release)\n"
    )
    assert double.credential_secret("ml/release", "mlci-registry") == REGISTRY_SECRET
    assert double.credential_secret("ml", "mlci-mlflow") == MLFLOW_SECRET
    assert double.credential_secret("ml/ct", "mlci-jenkins") == BOT_TOKEN
    assert double.credential_secret("ml/release", "mlci-jenkins") == BOT_TOKEN
    assert double.get_job("ml/ct").credentials["mlci-jenkins"].fields["username"] == "mlci-bot"
    assert double.root.credentials == {}
    # What each job can bind (folder stores up the tree, then the global store).
    assert double.visible_credentials("ml/train/main") == {"mlci-mlflow": "ml"}
    assert double.visible_credentials("ml/release/deploy") == {
        "mlci-registry": "ml/release",
        "mlci-jenkins": "ml/release",
        "mlci-mlflow": "ml",
    }
    assert double.visible_credentials("ml/ct/retrain") == {
        "mlci-jenkins": "ml/ct",
        "mlci-mlflow": "ml",
    }

    monkeypatch.setenv("MLCI_REGISTRY_PASSWORD", REGISTRY_SECRET + "-rotated")
    second = mlci("jenkins", "credentials", "apply")
    assert second.exit_code == 0
    assert [ln.split(":")[0] for ln in second.output.splitlines()] == ["updated"] * 4
    assert double.credential_secret("ml/release", "mlci-registry") == REGISTRY_SECRET + "-rotated"
    for text in (first.output, second.output, caplog.text):
        assert "canary" not in text
    assert "canary" not in double.get_job("ml/release").credentials["mlci-registry"].xml()


def test_old_casc_wipes_the_global_store_and_the_new_one_does_not(
    jproject, double: JenkinsDouble, admin, monkeypatch
):
    hand_made = (
        "<org.jenkinsci.plugins.plaincredentials.impl.StringCredentialsImpl><scope>GLOBAL"
        "</scope><id>github-token</id><description>by hand</description><secret>s3cr3t"
        "</secret></org.jenkinsci.plugins.plaincredentials.impl.StringCredentialsImpl>"
    )
    create(admin, double.url + "credentials/store/system/domain/_/createCredentials", hand_made)

    # Before: credentials in the global store, then the controller restarts (JCasC applies
    # again) with the registry variables not in its environment.
    double.apply_casc(OLD_CASC, {**CONTROLLER_ENV, "MLFLOW_TRACKING_USERNAME": "tracker"})
    assert "github-token" not in double.root.credentials  # wiped
    registry = double.root.credentials["mlci-registry"]
    assert registry.fields["username"] == ""  # `${VAR:-}`: an empty user name
    assert registry.fields["password"] == ""

    # Now: JCasC leaves every store alone; mlci's folder credentials survive a restart.
    create(admin, double.url + "credentials/store/system/domain/_/createCredentials", hand_made)
    layout(double, admin)
    with_vars(monkeypatch, ALL_VARS)
    assert mlci("jenkins", "credentials", "apply").exit_code == 0
    before = {
        store: dict(double.get_job(store).credentials) for store in ("ml", "ml/release", "ml/ct")
    }
    system_before = dict(double.root.credentials)
    double.apply_casc(CASC, CONTROLLER_ENV)
    double.apply_casc(CASC, CONTROLLER_ENV)
    assert double.root.credentials == system_before
    assert "github-token" in double.root.credentials
    for store, creds in before.items():
        assert double.get_job(store).credentials == creds
    assert double.credential_secret("ml/release", "mlci-registry") == REGISTRY_SECRET


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"MLCI_REGISTRY_USER": "", "MLCI_REGISTRY_PASSWORD": REGISTRY_SECRET},
            "Error: MLCI_REGISTRY_USER is set but empty: set it to the value for the Jenkins "
            "credential 'mlci-registry', or unset both MLCI_REGISTRY_USER and "
            "MLCI_REGISTRY_PASSWORD to skip it\n",
        ),
        (
            {"MLFLOW_TRACKING_USERNAME": "tracker", "MLFLOW_TRACKING_PASSWORD": "  "},
            "Error: MLFLOW_TRACKING_PASSWORD is set but empty: set it to the value for the "
            "Jenkins credential 'mlci-mlflow', or unset both MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD to skip it\n",
        ),
    ],
)
def test_empty_values_are_refused_before_any_write(
    jproject, double: JenkinsDouble, admin, monkeypatch, values, message
):
    layout(double, admin)
    writes = len(double.writes())
    with_vars(monkeypatch, {**ALL_VARS, **values})
    result = mlci("jenkins", "credentials", "apply")
    assert result.exit_code == 2
    assert result.output == message
    assert len(double.writes()) == writes
    assert all(not double.get_job(f).credentials for f in ("ml", "ml/release", "ml/ct"))


def test_the_global_store_is_refused(jproject, double: JenkinsDouble, admin, monkeypatch):
    layout(double, admin)
    writes = len(double.writes())
    with_vars(monkeypatch, ALL_VARS)
    result = mlci("jenkins", "credentials", "apply", "--store", "system")
    assert result.exit_code == 2
    assert result.output.startswith(
        "Error: --store system: mlci does not write to the global credentials store"
    )
    assert len(double.writes()) == writes and double.root.credentials == {}


def test_the_bot_credential_never_comes_from_the_operators_token(
    jproject, double: JenkinsDouble, admin, monkeypatch
):
    """JENKINS_USER/JENKINS_TOKEN (the operator's, here an admin's) log mlci in; they are not
    the retrain job's credential."""
    layout(double, admin)
    with_vars(monkeypatch, {"MLFLOW_TRACKING_USERNAME": "t", "MLFLOW_TRACKING_PASSWORD": "p"})
    result = mlci("jenkins", "credentials", "apply")
    assert result.exit_code == 0, result.output
    assert result.stdout == "created: mlci-mlflow (store: ml)\n"
    assert (
        "skipped mlci-jenkins: MLCI_JENKINS_BOT_USER and MLCI_JENKINS_BOT_TOKEN not set"
        in result.stderr
    )
    assert not double.get_job("ml/ct").credentials


def test_the_scoped_layout_from_job_files_to_what_a_branch_can_bind(
    jproject, double: JenkinsDouble, monkeypatch
):
    """jenkins/jobs with its release/ and ct/ sub-folders: `mlci jenkins apply` creates the
    folders, `credentials apply` fills their stores, and a branch job of the training
    multibranch project cannot bind the registry login or the bot token."""
    assert (REPO / "jenkins" / "jobs" / "release" / "deploy.xml").is_file()
    assert (REPO / "jenkins" / "jobs" / "ct" / "retrain.xml").is_file()
    first = mlci("jenkins", "apply")
    assert first.exit_code == 0, first.output
    for line in (
        "create folder: ml\n",
        "create folder: ml/ct\n",
        "create: ml/ct/retrain\n",
        "create folder: ml/release\n",
        "create: ml/release/deploy\n",
        "create: ml/train\n",
    ):
        assert line in first.output
    again = mlci("jenkins", "apply")
    assert again.exit_code == 0 and "made 0 change(s)" in again.output, again.output

    with_vars(monkeypatch, ALL_VARS)
    assert mlci("jenkins", "credentials", "apply").exit_code == 0
    double.set_branches("ml/train", ["main", "feature/x"])
    assert mlci("jenkins", "build", "train").exit_code == 0
    for branch in ("main", "feature%2Fx"):
        assert double.visible_credentials(f"ml/train/{branch}") == {"mlci-mlflow": "ml"}
    assert set(double.visible_credentials("ml/release/deploy")) == {
        "mlci-registry",
        "mlci-jenkins",
        "mlci-mlflow",
    }
    assert set(double.visible_credentials("ml/ct/retrain")) == {"mlci-jenkins", "mlci-mlflow"}


def test_a_missing_scoped_folder_says_where_the_job_belongs(
    jproject, double: JenkinsDouble, admin, monkeypatch
):
    create(admin, double.url + "createItem?name=ml", FOLDER)  # ml exists, ml/release does not
    with_vars(
        monkeypatch, {k: ALL_VARS[k] for k in ("MLCI_REGISTRY_USER", "MLCI_REGISTRY_PASSWORD")}
    )
    result = mlci("jenkins", "credentials", "apply")
    assert result.exit_code == 2
    assert (
        "Error: credentials store of folder 'ml/release' not found (does the folder exist? run "
        "`mlci jenkins apply` first; the credentials plugin must be installed); mlci-registry is "
        "kept there for the deploy job only: its job file belongs in jenkins/jobs/release/ (POST "
        f"{double.url}job/ml/job/release/credentials/store/folder/domain/_/createCredentials "
        "answered 404 Not Found)\n"
    ) in result.output
    assert double.get_job("ml").credentials == {} and double.root.credentials == {}
