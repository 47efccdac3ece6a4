"""ml/jenkins/library.py: reading a Jenkinsfile that calls the mlci shared library, and the
three-line Jenkinsfiles `mlci init` writes (parsed back by both readers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.errors import InputError
from ml.jenkins import declarative
from ml.jenkins.library import PIPELINE_STEPS, jenkinsfile_text, lintable, read_call
from ml.project.jenkinsfiles import jenkinsfiles
from tests.conftest import REPO
from tests.jenkins.double.declarative import OPTIONS, library_call, read_declared


def test_init_jenkinsfiles_are_three_lines_both_readers_follow_to_the_library():
    files = jenkinsfiles("acme", "acme-model", "1.2.3")
    assert set(files) == set(PIPELINE_STEPS)
    for rel, text in files.items():
        lines = text.splitlines()
        assert len(lines) == 3 and lines[0].startswith("// ")
        assert lines[1] == "@Library('mlci@v1.2.3') _"
        call = read_call(text, rel)
        assert call is not None and call.step == PIPELINE_STEPS[rel] and call.library == "mlci"
        assert call.options["project"] == "acme" and call.options["mlciInstall"] == "mlci==1.2.3"
        other = library_call(text)  # the double's tree-sitter reading agrees
        assert other is not None and (other.name, other.step) == ("mlci", call.step)
        assert other.options == call.options and not other.self_scm
    deploy = files["jenkins/deploy.Jenkinsfile"]
    assert "modelName: 'acme-model'" in deploy
    step = (REPO / "vars" / "mlciDeployPipeline.groovy").read_text()
    ours = declarative.read_declared(step, "deploy", read_call(deploy, "d").options)
    theirs = read_declared(step, {OPTIONS: library_call(deploy).options})
    assert [p.default for p in ours.parameters] == [
        a.get("defaultValue", a.get("choices", [""])[0]) for _, a in theirs.parameters
    ]
    assert ours.parameters[1].default == "acme-model"


def test_quotes_in_options_survive_the_round_trip():
    text = jenkinsfile_text("mlciTrainingPipeline", "v1", {"project": "a", "mlciInstall": "x'y"})
    assert read_call(text, "J").options["mlciInstall"] == "x'y"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("node { sh 'make' }\n", "neither a `pipeline { }` nor a call of an mlci pipeline step"),
        ("mlciTrainingPipeline(project: 'a')\n", "without loading the library"),
        (
            "@Library('mlci@v1') _\nmlciTrainingPipeline(project: NAME)\n",
            "options must be literal `name: 'value'` pairs",
        ),
    ],
)
def test_a_jenkinsfile_mlci_cannot_read_is_refused_naming_it(text: str, needle: str):
    with pytest.raises(InputError, match="Jenkinsfile: ") as e:
        read_call(text, "Jenkinsfile")
    assert needle in str(e.value) and e.value.exit_code == 2


def test_the_called_step_and_its_options_must_exist(tmp_path: Path):
    jf = tmp_path / "Jenkinsfile"
    jf.write_text("@Library('mlci@v1') _\nmlciNightlyPipeline(project: 'a')\n")
    with pytest.raises(InputError, match=r"mlciNightlyPipeline\(\) is not a step of the mlci"):
        declarative.read_jenkinsfile(jf, tmp_path)
    jf.write_text("@Library('other@v1') _\nmlciDeployPipeline(project: 'a')\n")
    with pytest.raises(InputError, match="loads library 'other'"):
        declarative.read_jenkinsfile(jf, tmp_path)
    jf.write_text("@Library('mlci@v1') _\nmlciDeployPipeline(project: 'a')\n")
    with pytest.raises(InputError, match=r"cfg\.modelName needs the option modelName"):
        declarative.read_jenkinsfile(jf, tmp_path)


def test_lint_sees_the_steps_pipeline_with_the_options_filled_in():
    text = "@Library('mlci@v1') _\nmlciDeployPipeline(project: 'acme', modelName: 'm1')\n"
    out = lintable(text, REPO, "Jenkinsfile")
    assert out.startswith("pipeline {\n    agent none\n") and out.rstrip().endswith("}")
    assert "cfg." not in out
    assert "defaultValue: 'm1'" in out and 'lock(resource: "acme-model-registry")' in out
    assert 'agent { label "docker" }' in out
    plain = "pipeline {\n    agent any\n}\n"
    assert lintable(plain, REPO, "Jenkinsfile") == plain
