"""Opt-in: the same CLI flows against a real controller.

Runs only when MLCI_LIVE_JENKINS_URL (+ MLCI_LIVE_JENKINS_USER, MLCI_LIVE_JENKINS_TOKEN, an
admin's API token) is set; it works in a scratch folder that it deletes afterwards. Needs the
plugins of jenkins/plugins.txt (folders, pipeline, input, stage view, credentials, linter).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.jenkins.conftest import mlci, point_at

URL = os.environ.get("MLCI_LIVE_JENKINS_URL", "")
USER = os.environ.get("MLCI_LIVE_JENKINS_USER", "")
TOKEN = os.environ.get("MLCI_LIVE_JENKINS_TOKEN", "")
REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.live_jenkins,
    pytest.mark.skipif(
        not (URL and USER and TOKEN),
        reason="set MLCI_LIVE_JENKINS_URL, _USER and _TOKEN to run against a "
        "real Jenkins controller",
    ),
]

GATED_JOB = """<flow-definition>
  <description>mlci live test</description>
  <definition class="org.jenkinsci.plugins.workflow.cps.CpsFlowDefinition">
    <script>pipeline {
  agent none
  stages {
    stage('Gate') {
      input { message 'Go?'; id 'go'; ok 'Go' }
      steps { echo 'approved and running' }
    }
  }
}</script>
    <sandbox>true</sandbox>
  </definition>
</flow-definition>
"""


@pytest.fixture
def live(project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    folder = f"mlci-live-{secrets.token_hex(3)}"
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "gated.xml").write_text(GATED_JOB)
    point_at(project, URL, folder=folder, jobs_dir=str(jobs), timeout=30)
    monkeypatch.setenv("JENKINS_USER", USER)
    monkeypatch.setenv("JENKINS_TOKEN", TOKEN)
    yield folder
    requests.post(f"{URL.rstrip('/')}/job/{folder}/doDelete", auth=(USER, TOKEN), timeout=30)


def test_live_apply_build_approve_lint_credentials(live: str, monkeypatch):
    first = mlci("jenkins", "apply")
    assert first.exit_code == 0, first.output
    assert f"create: {live}/gated" in first.output
    second = mlci("jenkins", "apply")
    assert second.exit_code == 0, second.output
    assert second.output.endswith(f"made 0 change(s) on {URL}\n")

    def approve() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            r = requests.get(
                f"{URL.rstrip('/')}/job/{live}/job/gated/1/wfapi/pendingInputActions",
                auth=(USER, TOKEN),
                timeout=30,
            )
            if r.status_code == 200 and r.json():
                requests.post(
                    f"{URL.rstrip('/')}/job/{live}/job/gated/1/input/Go/proceedEmpty",
                    auth=(USER, TOKEN),
                    timeout=30,
                )
                return
            time.sleep(1)

    t = threading.Thread(target=approve)
    t.start()
    build = mlci("jenkins", "build", "gated", "--follow", "--poll-interval", "1")
    t.join(130)
    assert build.exit_code == 0, build.output
    assert "approved and running" in build.stdout
    status = mlci("jenkins", "status", "gated", "1")
    assert "Gate" in status.output and "SUCCESS" in status.output

    for api in ("json", "text"):
        lint = mlci(
            "jenkins",
            "lint",
            "--api",
            api,
            str(REPO / "Jenkinsfile"),
            str(REPO / "jenkins/deploy.Jenkinsfile"),
        )
        assert lint.exit_code == 0, lint.output

    canary = "canary-" + secrets.token_hex(8)
    monkeypatch.setenv("MLCI_REGISTRY_USER", "robot")
    monkeypatch.setenv("MLCI_REGISTRY_PASSWORD", canary)
    # The scratch folder has no release/ sub-folder: put the credential in the folder itself.
    creds = mlci("jenkins", "credentials", "apply", "--store", live)
    assert creds.exit_code == 0, creds.output
    assert "created: mlci-registry" in creds.output and canary not in creds.output
    again = mlci("jenkins", "credentials", "apply", "--store", live)
    assert "updated: mlci-registry" in again.output and canary not in again.output


def test_live_errors(live: str, monkeypatch):
    missing = mlci("jenkins", "build", "no-such-job")
    assert missing.exit_code == 2
    assert "404 Not Found" in missing.output
    monkeypatch.setenv("JENKINS_TOKEN", "0" * 34)
    bad = mlci("jenkins", "status", "anything")
    assert bad.exit_code == 4
    assert "(401 Unauthorized)" in bad.output
