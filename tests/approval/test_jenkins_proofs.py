"""Jenkins approvals: the deploy job's input, answered by an approver, read back through the API.

The controller is the Jenkins double (tests/jenkins/double; its approvers.py serves the
ApproverAction a real controller adds to a build when a user answers an input).
"""

from __future__ import annotations

import json

import pytest
import requests

from ml.registry import tags as T
from ml.registry.approval import Statement, proof_document
from tests.approval.conftest import ADMIN, ALICE, MALLORY, MODEL, creds
from tests.jenkins.double import BuildScript, InputSpec, StageScript

pytestmark = pytest.mark.slow  # several builds on the double and registry round trips each

INPUT = InputSpec(
    "Deploy this model version to production?",
    id="promote",
    ok="Deploy",
    submitter="ml-approvers",
    parameters=[{"name": "REASON", "default": ""}],
)
DEPLOY = BuildScript(
    [
        StageScript("Approval", ["+ mlci model approve ..."], input=INPUT),
        StageScript("Release", ["+ mlci model push ..."], 0.02),
    ]
)


def deploy_build(store, double, version: str, number: int) -> str:
    """Queue the deploy job for `version`; wait at its input; return the build URL."""
    double.script("ml/release/deploy", DEPLOY)
    result = store.mlci(
        "jenkins", "build", "release/deploy", "-p", f"MODEL_NAME={MODEL}", "-p",
        f"MODEL_VERSION={version}", "--poll-interval", "0.02", env=creds(ADMIN),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    double.wait_for_input("ml/release/deploy", number)
    return f"{double.url}job/ml/job/release/job/deploy/{number}/"


def answer(double, build: str, user: tuple[str, str], action: str = "proceed") -> None:
    r = requests.post(
        f"{build}input/Promote/{action}",
        data={"json": json.dumps({"parameter": [{"name": "REASON", "value": "gate ok"}]})},
        auth=user,
        timeout=5,
    )
    assert r.status_code == 200, r.text


def approve_from(store, version: str, build: str, *extra: str):
    return store.mlci(
        "model", "approve", MODEL, version, "--jenkins-build", build, "--input-id", "Promote",
        "--reason", "gate ok", *extra,
    )  # fmt: skip


def promote(store, version: str):
    return store.mlci("model", "promote", MODEL, version, "--by", "release-bot")


def test_an_input_answered_by_an_approver_approves_and_is_rechecked(laptop, jenkins):
    v = laptop.new_version()
    build = deploy_build(laptop, jenkins, v, 1)
    early = approve_from(laptop, v, build)
    assert early.exit_code == 3
    assert early.stderr == (
        "Error: input 'Promote' of Jenkins build ml/release/deploy #1 has not been answered yet\n"
    )
    assert laptop.tags(v)[T.APPROVAL_STATUS] == "pending"
    answer(jenkins, build, ALICE)
    wrong = approve_from(laptop, v, build, "--by", "carol")
    assert wrong.exit_code == 3
    assert f"--by 'carol': Jenkins says the inputs of {build} were answered by alice" in (
        wrong.stderr
    )
    result = approve_from(laptop, v, build)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"approved {MODEL} version {v} by alice\n"
    tags = laptop.tags(v)
    proof = json.loads(tags[T.APPROVAL_PROOF])
    assert proof["kind"] == "jenkins-input"
    assert proof["evidence"] == {"build": build, "input_id": "Promote", "submitter": "alice"}
    assert (proof["statement"]["by"], tags[T.APPROVAL_BY]) == ("alice", "alice")
    assert promote(laptop, v).exit_code == 0
    # verification asks Jenkins again at every use: a controller that no longer vouches
    # (here: alice is dropped from the approvers) refuses
    laptop.configure(
        **{
            "jenkins.url": jenkins.url.rstrip("/"),
            "approval.jenkins.approvers": ["carol"],
        }
    )
    result = promote(laptop, v)
    assert result.exit_code == 3
    assert "'alice' answered the input of" in result.stderr
    assert "is not an approver (approval.jenkins.approvers in mlci.yaml: carol)" in result.stderr


def test_an_input_answered_by_a_non_approver_is_refused(laptop, jenkins):
    v = laptop.new_version()
    build = deploy_build(laptop, jenkins, v, 1)
    answer(jenkins, build, MALLORY)  # Jenkins lets her (ml-approvers group); mlci.yaml does not
    result = approve_from(laptop, v, build)
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: 'mallory' answered the input of {build} but is not an approver "
        f"(approval.jenkins.approvers in mlci.yaml: alice)\n"
    )
    assert laptop.tags(v)[T.APPROVAL_STATUS] == "pending"
    # she writes the proof by hand, naming alice as the submitter
    info = laptop.registry().get_version(MODEL, v)
    statement = Statement.for_version(info, "alice", "2026-01-01T00:00:00Z", "gate ok")
    evidence = {"build": build, "input_id": "Promote", "submitter": "alice"}
    for key, value in {
        T.APPROVAL_PROOF: proof_document("jenkins-input", statement, evidence),
        T.APPROVAL_BY: "alice",
        T.APPROVAL_AT: "2026-01-01T00:00:00Z",
        T.APPROVAL_REASON: "gate ok",
        T.APPROVAL_STATUS: "approved",
    }.items():
        laptop.set_tag(v, key, value)
    result = promote(laptop, v)
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: Jenkins says the inputs of {build} were answered by mallory, not 'alice'\n"
    )


def test_a_build_for_another_version_another_job_or_an_aborted_input_is_refused(laptop, jenkins):
    approved, other = laptop.new_version(), laptop.new_version()
    build = deploy_build(laptop, jenkins, approved, 1)
    answer(jenkins, build, ALICE)
    assert approve_from(laptop, approved, build).exit_code == 0
    # the same build offered as the approval of another version
    result = approve_from(laptop, other, build)
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: Jenkins build ml/release/deploy #1 was asked to approve MODEL_NAME={MODEL!r} "
        f"MODEL_VERSION={approved!r}, not {MODEL!r} version {other}: a proof from another "
        f"version's build does not count\n"
    )
    # an aborted input records no approver
    aborted = deploy_build(laptop, jenkins, other, 2)
    answer(jenkins, aborted, ALICE, action="abort")
    result = approve_from(laptop, other, aborted)
    assert result.exit_code == 3
    assert "nobody approved an input of Jenkins build ml/release/deploy #2" in result.stderr
    # a build of a job that is not an approval job (e.g. a branch's own pipeline)
    result = approve_from(laptop, other, f"{jenkins.url}job/ml/job/ct/job/retrain/1/")
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: Jenkins build ml/ct/retrain #1 is not a build of an approval job: only inputs "
        "of ml/release/deploy approve (approval.jenkins.jobs in mlci.yaml)\n"
    )
    # a build Jenkins does not have (never ran, or discarded by log rotation)
    result = approve_from(laptop, other, f"{jenkins.url}job/ml/job/release/job/deploy/99/")
    assert result.exit_code == 3
    assert (
        "Jenkins build ml/release/deploy #99 cannot vouch for the approval: "
        "no build ml/release/deploy #99"
    ) in result.stderr
    # another controller
    elsewhere = "http://jenkins.evil.example/job/ml/job/release/job/deploy/1/"
    result = approve_from(laptop, other, elsewhere)
    assert result.exit_code == 3
    assert "is not on the configured controller" in result.stderr
    assert laptop.tags(other)[T.APPROVAL_STATUS] == "pending"
