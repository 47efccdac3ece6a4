"""The Jenkinsfiles `mlci init` writes into a user's repository: three lines each.

Each loads the mlci Jenkins shared library pinned to the tag of the installed mlci
(`v<version>`, e.g. `@Library('mlci@v0.1.0') _`) and calls one pipeline step with the
project's options: the project name (lock names derive from it), the model name (the deploy
job's MODEL_NAME default) and how mlci gets onto the agent (`mlciInstall`: the pip
requirement `mlci==<version>`; point it at a wheel URL when mlci is not on your index, see
docs/adopt.md). The paths are those the job templates (jenkins/jobs/*.xml, `scriptPath`)
name, so `mlci jenkins apply` creates jobs that run them.
"""

from __future__ import annotations

from ml import __version__
from ml.jenkins.library import PIPELINE_STEPS, jenkinsfile_text


def library_tag(version: str = __version__) -> str:
    """The library's git tag for an mlci version: `v0.1.0`."""
    return f"v{version}"


def jenkinsfiles(name: str, model_name: str, version: str = __version__) -> dict[str, str]:
    """Relative path -> text of the project's Jenkinsfiles."""
    out = {}
    for path, step in PIPELINE_STEPS.items():
        options: dict[str, str | bool] = {"project": name}
        if step == "mlciDeployPipeline":
            options["modelName"] = model_name
        options["mlciInstall"] = f"mlci=={version}"
        out[path] = jenkinsfile_text(step, library_tag(version), options)
    return out
