"""Several projects on one controller and one Docker host (issue 14, item 4).

Two user repositories, each started by `mlci init` from its own CSV in a folder outside this
repository, are applied to one controller (the Jenkins double) on which JCasC
(jenkins/casc.yaml) registers the mlci shared library. Their Jenkinsfiles load the library
pinned to a tag; the double runs the library steps' pipelines from this checkout, standing in
for that tag's checkout. Nothing the two projects create or name meets: folders and jobs, the
parameters Declarative gives each job, lock names, credential stores, container names and
published ports.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ml.cli import cli
from ml.config import load_settings
from tests.conftest import REPO
from tests.jenkins.conftest import ADMIN_TOKEN
from tests.jenkins.double import JenkinsDouble
from tests.jenkins.test_controller import CASC, CONTROLLER_ENV

LIBRARY_REMOTE = "https://git.example.com/tools/mlci.git"
PROJECTS = ("acme-churn", "beta-upsell")
POLL = ("--poll-interval", "0.02")


def csv(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    rows = 300
    x = rng.normal(0, 1, rows)
    plan = rng.choice(["basic", "pro"], rows)
    score = x + (plan == "pro") + rng.normal(0, 0.5, rows)
    pd.DataFrame(
        {"x": x.round(3), "plan": plan, "label": np.where(score > 0.5, "yes", "no")}
    ).to_csv(path, index=False)
    return path


def run(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str):
    monkeypatch.chdir(root)
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def projects(tmp_path: Path, double: JenkinsDouble, monkeypatch: pytest.MonkeyPatch):
    """Two projects made by `mlci init` and applied to one controller."""
    for var in [v for v in __import__("os").environ if v.startswith("MLCI_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("JENKINS_USER", "admin")
    monkeypatch.setenv("JENKINS_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("MLCI_JENKINS__URL", double.url.rstrip("/"))
    double.apply_casc(CASC.read_text(), {**CONTROLLER_ENV, "MLCI_LIBRARY_REMOTE": LIBRARY_REMOTE})
    double.library_checkout(LIBRARY_REMOTE, REPO)
    roots = {}
    for seed, name in enumerate(PROJECTS):
        root = tmp_path / name
        root.mkdir()
        data = csv(tmp_path / f"{name}.csv", seed)
        made = run(root, monkeypatch, "init", "--data", str(data), "--target", "label")
        assert made.exit_code == 0, made.output
        # the repository the jobs check out (a user would push the project there)
        config = root / "mlci.yaml"
        text = config.read_text()
        assert '  scm_url: ""' in text
        config.write_text(
            text.replace('  scm_url: ""', f"  scm_url: https://git.example.com/{name}.git")
        )
        applied = run(root, monkeypatch, "jenkins", "apply")
        assert applied.exit_code == 0, applied.output
        roots[name] = root
    return roots


@pytest.mark.slow  # two `mlci init` runs (a cross-validated baseline each)
def test_two_projects_on_one_controller_and_one_docker_host_do_not_collide(
    projects: dict[str, Path], double: JenkinsDouble, monkeypatch: pytest.MonkeyPatch
):
    a, b = (load_settings(projects[n] / "mlci.yaml", environ={}) for n in PROJECTS)
    # folders and jobs: each project's own, from its name
    assert (a.jenkins.folder, b.jenkins.folder) == PROJECTS
    names = {item.full_name for item in double._all_items()}
    for name in PROJECTS:
        assert {f"{name}/train", f"{name}/release/deploy", f"{name}/ct/retrain"} <= names
        scm = f"<url>https://git.example.com/{name}.git</url>"
        assert scm.encode() in double.get_job(f"{name}/release/deploy").config
    # applying one project again changes nothing: the other's apply touched none of its items
    before = len(double.writes())
    again = run(projects[PROJECTS[0]], monkeypatch, "jenkins", "apply")
    assert again.exit_code == 0, again.output
    assert len(double.writes()) == before
    # the Jenkinsfiles are three lines loading the library at a tag; a build of each deploy
    # job runs the library's pipeline with the project's options
    for name, settings in zip(PROJECTS, (a, b), strict=True):
        jenkinsfile = projects[name] / "jenkins" / "deploy.Jenkinsfile"
        lines = jenkinsfile.read_text().splitlines()
        assert len(lines) == 3 and re.fullmatch(r"@Library\('mlci@v[\d.]+'\) _", lines[1])
        assert (
            f"mlciDeployPipeline(project: '{name}', modelName: '{settings.mlflow.model_name}'"
            in (lines[2])
        )
        job = f"{name}/release/deploy"
        double.declare(job, jenkinsfile)
        built = run(
            projects[name], monkeypatch, "jenkins", "build", "release/deploy", "--follow", *POLL
        )
        assert built.exit_code == 0, built.output
        defaults = {p["name"]: p.get("default") for p in double.get_job(job).parameters()}
        assert defaults["MODEL_NAME"] == settings.mlflow.model_name
    assert a.mlflow.model_name != b.mlflow.model_name
    # lock names: the deploy pipeline locks "<project>-model-registry"
    step = (REPO / "vars" / "mlciDeployPipeline.groovy").read_text()
    assert set(re.findall(r'lock\((?:resource: )?"([^"]+)"\)', step)) == {
        "${cfg.project}-model-registry"
    }
    # one Docker host: distinct container names, ports and stage-image tags
    containers = [s.environments[e].container for s in (a, b) for e in ("staging", "production")]
    ports = [s.environments[e].port for s in (a, b) for e in ("staging", "production")]
    assert len(set(containers)) == 4 and len(set(ports)) == 4, (containers, ports)
    assert a.image.ci_image != b.image.ci_image and a.image.repository != b.image.repository
    # credentials: the same ids, each in its own project's folder stores
    for var, value in {
        "MLFLOW_TRACKING_USERNAME": "tracker",
        "MLFLOW_TRACKING_PASSWORD": "t-pw",
        "MLCI_REGISTRY_USER": "robot",
        "MLCI_REGISTRY_PASSWORD": "r-pw",
        "MLCI_JENKINS_BOT_USER": "mlci-bot",
        "MLCI_JENKINS_BOT_TOKEN": "b-tok",
    }.items():
        monkeypatch.setenv(var, value)
    for name in PROJECTS:
        done = run(projects[name], monkeypatch, "jenkins", "credentials", "apply")
        assert done.exit_code == 0, done.output
    for name in PROJECTS:
        seen = double.visible_credentials(f"{name}/release/deploy")
        assert seen and all(store.split("/")[0] == name for store in seen.values()), seen
