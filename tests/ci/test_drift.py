"""Every engine follows ml/stages.py: no stage missing, none extra, same commands and gates.

The checks are in tests/ci/drift.py. The demonstrations below copy the pipeline files, add a
stage to one engine only (or to the list only), and assert that the check reports it.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from ml.stages import STAGES, StageDef, local_names, stages_for
from tests.ci import drift
from tests.conftest import REPO

FILES = [
    *drift.JENKINSFILES,
    *(str(p.relative_to(REPO)) for p in sorted((REPO / drift.LIBRARY).glob("*.groovy"))),
    ".gitlab-ci.yml",
    ".github/workflows/train.yml",
    ".github/workflows/retrain.yml",
]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The engines' pipeline files, copied to edit."""
    for rel in FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, tmp_path / rel)
    return tmp_path


def test_jenkinsfiles_follow_the_list():
    assert drift.check_jenkins(REPO) == []


def test_gitlab_ci_follows_the_list():
    assert drift.check_gitlab(REPO) == []


def test_github_workflows_follow_the_list():
    assert drift.check_github(REPO) == []


def test_mlci_pipeline_run_follows_the_list(tmp_path):
    from ml.config import load_settings
    from ml.pipeline import STAGES as LOCAL
    from ml.pipeline import plan
    from tests.conftest import write_project

    settings = load_settings(write_project(tmp_path), environ={})
    planned, skipped = plan(settings)
    argv = {s.name: s.argv for s in planned}
    assert drift.check_local(tuple(LOCAL), argv) == []
    assert [s.name for s in planned] + list(skipped) == [
        n for n in local_names() if n in argv or n in skipped
    ]


def test_the_list_is_consistent():
    with pytest.raises(ValueError, match="unknown engine 'circleci'"):
        stages_for("circleci")
    names = [s.name for s in STAGES]
    assert len(names) == len(set(names))
    for s in STAGES:
        assert s.manual <= s.main_only, f"{s.name}: an approval gate only on main"
        assert (s.environment is not None) <= s.manual, f"{s.name}: deploys need approval"
    assert [s.name for s in stages_for("gitlab") if s.main_only] == [
        "register",
        "deploy-staging",
        "deploy-production",
    ]


# --- the drift check fails when one engine alone changes ------------------------------------


def test_a_stage_added_to_the_gitlab_file_only_is_reported(copy):
    doc = yaml.safe_load((copy / ".gitlab-ci.yml").read_text())
    doc["shadow-eval"] = {"stage": "evaluate", "script": ["mlci evaluate"]}
    (copy / ".gitlab-ci.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    assert drift.check_gitlab(copy) == [".gitlab-ci.yml: job 'shadow-eval' is not in ml/stages.py"]
    assert drift.check_jenkins(copy) == drift.check_github(copy) == []


def test_a_stage_added_to_a_jenkinsfile_only_is_reported(copy):
    """The Jenkinsfile calls the library: a stage added to its step (vars/) is drift."""
    path = copy / drift.LIBRARY / "mlciTrainingPipeline.groovy"
    text = path.read_text()
    anchor = "                            stage('Register') {"
    assert anchor in text
    path.write_text(
        text.replace(
            anchor,
            "                            stage('Explain') {\n"
            "                                steps { sh 'mlci evaluate' }\n"
            "                            }\n" + anchor,
        )
    )
    assert drift.check_jenkins(copy) == ["Jenkinsfiles: stage 'Explain' is not in ml/stages.py"]


def test_a_job_added_to_a_workflow_only_is_reported(copy):
    path = copy / ".github" / "workflows" / "train.yml"
    doc = yaml.safe_load(path.read_text())
    doc["jobs"]["explain"] = {"runs-on": "ubuntu-latest", "steps": [{"run": "mlci evaluate"}]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert drift.check_github(copy) == [".github/workflows: job 'explain' is not in ml/stages.py"]


def test_a_stage_missing_from_one_engine_is_reported(copy):
    doc = yaml.safe_load((copy / ".gitlab-ci.yml").read_text())
    del doc["register"]
    (copy / ".gitlab-ci.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    assert drift.check_gitlab(copy) == [".gitlab-ci.yml: lacks job 'register' of ml/stages.py"]


def test_a_changed_gate_or_command_is_reported(copy):
    doc = yaml.safe_load((copy / ".gitlab-ci.yml").read_text())
    doc["deploy-production"]["rules"] = [{"when": "on_success"}]
    doc["train"]["script"] = ["mlci data validate"]
    (copy / ".gitlab-ci.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    problems = drift.check_gitlab(copy)
    assert ".gitlab-ci.yml: job 'train' does not run `mlci train`" in problems
    assert ".gitlab-ci.yml: job 'deploy-production' is not limited to the main branch" in problems
    assert any("'deploy-production' manual=False" in p for p in problems)


def test_a_stage_added_to_the_list_only_is_missing_everywhere(copy):
    extra = StageDef(
        "explain", "evaluate", "train", commands=(("evaluate",),), jenkins=("Explain",)
    )
    stages = (*STAGES, extra)
    assert "Jenkinsfiles: lacks stage 'Explain' of ml/stages.py" in drift.check_jenkins(
        copy, stages
    )
    assert ".gitlab-ci.yml: lacks job 'explain' of ml/stages.py" in drift.check_gitlab(copy, stages)
    assert ".github/workflows: lacks job 'explain' of ml/stages.py" in drift.check_github(
        copy, stages
    )
    local = (*STAGES, replace(extra, local="explain", engines=frozenset({"local"})))
    assert drift.check_local(local_names(), {}, local) == [
        "ml/pipeline.py: lacks stage 'explain' of ml/stages.py"
    ]
