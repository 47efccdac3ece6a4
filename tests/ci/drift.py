"""Drift checks: does each engine's pipeline file have exactly the stages of ml/stages.py?

Each `check_*` takes a repository root (the real one, or a copy a test edits) and returns the
disagreements as sentences naming the file and the stage; an empty list means no drift.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ml.stages import GROUPS, STAGES, StageDef
from tests.jenkins.library import pipeline_file
from tests.jenkins.test_jenkinsfiles import Call, calls, mlci_invocations, parse, string_value

# The Jenkinsfiles: calls of the shared library, whose steps (vars/) hold the pipelines.
JENKINSFILES = ("Jenkinsfile", "jenkins/deploy.Jenkinsfile", "jenkins/retrain.Jenkinsfile")
LIBRARY = "vars"
GITLAB_KEYWORDS = {
    "stages",
    "variables",
    "default",
    "workflow",
    "include",
    "image",
    "services",
    "before_script",
    "after_script",
    "cache",
}


def _on(engine: str, stages: tuple[StageDef, ...]) -> list[StageDef]:
    return [s for s in stages if s.runs_on(engine)]


def _has(commands: list[list[str]], argv: tuple[str, ...]) -> bool:
    return any(tuple(c[: len(argv)]) == argv for c in commands)


def _sets(file: str, found: list[str], wanted: list[str], what: str) -> list[str]:
    out = [f"{file}: {what} {n!r} is not in ml/stages.py" for n in found if n not in wanted]
    out += [f"{file}: lacks {what} {n!r} of ml/stages.py" for n in wanted if n not in found]
    return out


# --- Jenkins -------------------------------------------------------------------------------


def jenkins_leaf_stages(path: Path) -> list[tuple[str, Call]]:
    """(title, call) of every stage that has no nested stage, in source order."""
    root, src = parse(path)
    out = []
    for c in calls(root, src, "stage"):
        body = c.closure()
        if body is None or calls(body, src, "stage"):
            continue
        arg = c.first_arg()
        out.append((string_value(c, arg)[0] if arg is not None else "", c))
    return out


def _jenkins_mlci(path: Path, stage: Call) -> list[list[str]]:
    """mlci argv lists the stage runs: its own sh steps, those of the file's functions it
    calls (gateVerdict() and the like) and those of the library steps it calls
    (mlciStageImage(...): vars/mlciStageImage.groovy beside the pipeline's step)."""
    root, src = parse(path)
    body = stage.closure()
    used = {c.name for c in calls(body, src)}
    scripts = [(body, src)]
    for node in root.children:
        if node.type in ("function_definition", "method_declaration"):
            ident = next(ch for ch in node.children if ch.type == "identifier")
            if src[ident.start_byte : ident.end_byte].decode() in used:
                scripts.append((node, src))
    for name in sorted(used):
        step = path.parent / f"{name}.groovy"
        if name.startswith("mlci") and step.is_file() and step != path:
            scripts.append(parse(step))
    out: list[list[str]] = []
    for node, text in scripts:
        for sh in calls(node, text, "sh"):
            arg = sh.first_arg()
            if arg is not None:
                out += mlci_invocations(string_value(sh, arg)[0])
    return out


def check_jenkins(root: Path, stages: tuple[StageDef, ...] = STAGES) -> list[str]:
    wanted = _on("jenkins", stages)
    title_of = {t: s for s in wanted for t in s.jenkins}
    problems: list[str] = []
    found: dict[str, tuple[Path, Call]] = {}
    for rel in JENKINSFILES:
        pipeline = pipeline_file(root / rel)
        for title, call in jenkins_leaf_stages(pipeline):
            found.setdefault(title, (pipeline, call))
    problems += _sets("Jenkinsfiles", list(found), list(title_of), "stage")
    for s in wanted:
        cmds = [c for t in s.jenkins if t in found for c in _jenkins_mlci(*found[t])]
        for argv in s.commands:
            if any(t in found for t in s.jenkins) and not _has(cmds, argv):
                problems.append(
                    f"Jenkinsfiles: stage(s) {', '.join(s.jenkins)} of {s.name!r} do not run "
                    f"`mlci {' '.join(argv)}`"
                )
    # The model stages of the training pipeline come in the list's order (the stage image is
    # built first in Jenkins: the lint stage uses the .venv made there).
    model = {t: s.name for s in wanted if s.local for t in s.jenkins}
    training = pipeline_file(root / JENKINSFILES[0])
    order = [model[t] for t, _ in jenkins_leaf_stages(training) if t in model]
    if order != [s.name for s in wanted if s.local and s.name in order]:
        problems.append(f"Jenkinsfile: stages out of the order of ml/stages.py: {order}")
    return problems


# --- GitLab CI -----------------------------------------------------------------------------


def gitlab_jobs(root: Path) -> tuple[dict, dict[str, dict]]:
    doc = yaml.safe_load((root / ".gitlab-ci.yml").read_text())
    jobs = {
        k: v
        for k, v in doc.items()
        if k not in GITLAB_KEYWORDS and not k.startswith(".") and isinstance(v, dict)
    }
    return doc, jobs


def _gitlab_resolved(doc: dict, job: dict) -> dict:
    """The job with its `extends:` templates merged in (shallow, as GitLab merges keys)."""
    merged: dict = {}
    ext = job.get("extends", [])
    for name in [ext] if isinstance(ext, str) else ext:
        merged.update(_gitlab_resolved(doc, doc[name]))
    merged.update(job)
    return merged


def _script_mlci(lines: list[str]) -> list[list[str]]:
    out: list[list[str]] = []
    for line in lines:
        for segment in line.splitlines():
            try:
                out += mlci_invocations(segment)
            except ValueError:  # a shell construct shlex cannot split: not an mlci line
                continue
    return out


def check_gitlab(root: Path, stages: tuple[StageDef, ...] = STAGES) -> list[str]:
    wanted = _on("gitlab", stages)
    doc, jobs = gitlab_jobs(root)
    file = ".gitlab-ci.yml"
    problems = _sets(file, list(jobs), [s.name for s in wanted], "job")
    groups = [g for g in GROUPS if any(s.group == g for s in wanted)]
    if doc.get("stages") != groups:
        problems.append(f"{file}: stages {doc.get('stages')} are not {groups} (ml/stages.py)")
    for s in wanted:
        if s.name not in jobs:
            continue
        job = _gitlab_resolved(doc, jobs[s.name])
        if job.get("stage") != s.group:
            problems.append(
                f"{file}: job {s.name!r} is in stage {job.get('stage')!r}, not {s.group!r}"
            )
        cmds = _script_mlci(job.get("script", []))
        for argv in s.commands:
            if not _has(cmds, argv):
                problems.append(f"{file}: job {s.name!r} does not run `mlci {' '.join(argv)}`")
        rules = job.get("rules", [])
        text = yaml.safe_dump(rules)
        if s.main_only and not ("merge_request_event" in text and "$CI_DEFAULT_BRANCH" in text):
            problems.append(f"{file}: job {s.name!r} is not limited to the main branch")
        if s.manual != any(r.get("when") == "manual" for r in rules):
            problems.append(
                f"{file}: job {s.name!r} manual={not s.manual}, ml/stages.py says {s.manual}"
            )
        env = job.get("environment")
        env_name = env.get("name") if isinstance(env, dict) else env
        if env_name != s.environment:
            problems.append(
                f"{file}: job {s.name!r} environment {env_name!r}, not {s.environment!r}"
            )
    return problems


# --- GitHub Actions ------------------------------------------------------------------------


def github_jobs(root: Path) -> dict[str, tuple[str, dict]]:
    """job id -> (workflow file, job) over .github/workflows/*.yml (an id may repeat per file:
    the first is kept; the stage image is built in each workflow that needs it)."""
    out: dict[str, tuple[str, dict]] = {}
    for path in sorted((root / ".github" / "workflows").glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        for name, job in (doc.get("jobs") or {}).items():
            out.setdefault(name, (f".github/workflows/{path.name}", job))
    return out


def check_github(root: Path, stages: tuple[StageDef, ...] = STAGES) -> list[str]:
    wanted = _on("github", stages)
    jobs = github_jobs(root)
    problems = _sets(".github/workflows", list(jobs), [s.name for s in wanted], "job")
    rank = {s.name: i for i, s in enumerate(stages)}
    for s in wanted:
        if s.name not in jobs:
            continue
        file, job = jobs[s.name]
        runs = [step.get("run", "") for step in job.get("steps", [])]
        cmds = _script_mlci(runs)
        for argv in s.commands:
            if not _has(cmds, argv):
                problems.append(f"{file}: job {s.name!r} does not run `mlci {' '.join(argv)}`")
        needs = job.get("needs", [])
        for n in [needs] if isinstance(needs, str) else needs:
            if rank.get(n, -1) >= rank[s.name]:
                problems.append(f"{file}: job {s.name!r} needs {n!r}, which comes after it")
        cond = str(job.get("if", ""))
        if s.main_only and not ("refs/heads/main" in cond and "pull_request" in cond):
            problems.append(f"{file}: job {s.name!r} is not limited to the main branch")
        env = job.get("environment")
        env_name = env.get("name") if isinstance(env, dict) else env
        if env_name != s.environment:
            problems.append(
                f"{file}: job {s.name!r} environment {env_name!r}, not {s.environment!r}"
            )
    return problems


# --- mlci pipeline run ---------------------------------------------------------------------


def check_local(
    names: tuple[str, ...], argv: dict[str, tuple[str, ...]], stages: tuple[StageDef, ...] = STAGES
) -> list[str]:
    """`names`: ml.pipeline.STAGES; `argv`: each planned stage's mlci argv."""
    wanted = [s for s in _on("local", stages) if s.local]
    problems = _sets("ml/pipeline.py", list(names), [s.local for s in wanted], "stage")
    if [n for n in names if n in {s.local for s in wanted}] != [
        s.local for s in wanted if s.local in names
    ]:
        problems.append(f"ml/pipeline.py: stage order {list(names)} differs from ml/stages.py")
    for s in wanted:
        if s.local in argv and not any(argv[s.local][: len(a)] == a for a in s.commands):
            problems.append(f"ml/pipeline.py: stage {s.local!r} runs {argv[s.local]}")
    return problems


def check_all(root: Path, stages: tuple[StageDef, ...] = STAGES) -> list[str]:
    return check_jenkins(root, stages) + check_gitlab(root, stages) + check_github(root, stages)
