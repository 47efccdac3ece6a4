"""The mlci Jenkins shared library (`vars/`) and the Jenkinsfiles that call it.

A project's Jenkinsfile is a library call, e.g.

    @Library('mlci@v1.0.0') _
    mlciTrainingPipeline(project: 'acme')

(mlci's own repository loads the library from the revision being built with
`library(identifier: 'mlci@build', retriever: legacySCM(scm))`). The pipeline itself, with its
`parameters {}` and `triggers {}`, is `vars/<step>.groovy` of the library. `mlci jenkins apply`
reads the call here, finds the step in the library folder (`library_dir`) and lets
ml/jenkins/declarative.py read the step's pipeline with the call's options.

`jenkinsfile_text` writes the Jenkinsfile `mlci init` puts in a user's repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ml.errors import InputError

LIBRARY_NAME = "mlci"
# The Jenkinsfiles a project has (job templates' scriptPath) and the step each calls.
PIPELINE_STEPS = {
    "Jenkinsfile": "mlciTrainingPipeline",
    "jenkins/deploy.Jenkinsfile": "mlciDeployPipeline",
    "jenkins/retrain.Jenkinsfile": "mlciRetrainPipeline",
}
_LOAD = re.compile(
    r"@Library\(\s*['\"](?P<ann>[\w.-]+)(?:@[^'\"]*)?['\"]\s*\)\s*_"
    r"|\blibrary\s*\(\s*(?:identifier:\s*)?['\"](?P<step>[\w.-]+)(?:@[^'\"]*)?['\"]"
)
_CALL = re.compile(r"^\s*(?P<step>mlci\w+Pipeline)\s*\((?P<args>[^)]*)\)\s*$", re.M)
_ARG = re.compile(
    r"\s*(?P<key>\w+)\s*:\s*(?:'(?P<sq>(?:\\.|[^'\\])*)'|\"(?P<dq>[^\"$]*)\"|(?P<bool>true|false))\s*(?:,|$)"
)


@dataclass(frozen=True)
class LibraryCall:
    library: str  # the library the Jenkinsfile loads
    step: str  # e.g. mlciDeployPipeline
    options: dict[str, str | bool]


def read_call(text: str, where: str) -> LibraryCall | None:
    """The library step a Jenkinsfile calls with its literal options; None if it has its
    own `pipeline {}` (not a library call)."""
    code = re.sub(r"//[^\n]*", "", text)
    call = _CALL.search(code)
    if call is None:
        if re.search(r"\bpipeline\s*\{", code):
            return None
        raise InputError(
            f"{where}: neither a `pipeline {{ }}` nor a call of an mlci pipeline step "
            "(e.g. mlciTrainingPipeline(project: 'NAME')); see docs/adopt.md"
        )
    load = _LOAD.search(code)
    if load is None:
        raise InputError(
            f"{where}: calls {call.group('step')}() without loading the library: start it with "
            f"@Library('{LIBRARY_NAME}@<tag>') _"
        )
    options: dict[str, str | bool] = {}
    args = call.group("args")
    pos = 0
    while pos < len(args.rstrip()):
        m = _ARG.match(args, pos)
        if m is None:
            raise InputError(
                f"{where}: {call.group('step')}(...) options must be literal `name: 'value'` "
                f"pairs (at {args[pos:].strip()!r})"
            )
        if m.group("bool") is not None:
            options[m.group("key")] = m.group("bool") == "true"
        else:
            value = m.group("sq") if m.group("sq") is not None else m.group("dq")
            options[m.group("key")] = re.sub(r"\\(.)", r"\1", value)
        pos = m.end()
    return LibraryCall(load.group("ann") or load.group("step"), call.group("step"), options)


def shipped(*parts: str) -> Path:
    """A folder mlci ships (`SHIPPED` in ml.resources: the checkout mlci runs from, else the
    wheel's package data)."""
    from ml import resources as mlci_resources

    return mlci_resources.root().joinpath(*parts)


def library_dir(root: Path) -> Path:
    """The library's `vars/` that `mlci jenkins apply` reads: the project's own (mlci's
    repository), else the copy shipped with mlci."""
    own = root / "vars"
    return own if own.is_dir() else shipped("vars")


def step_file(root: Path, call: LibraryCall, where: str) -> Path:
    if call.library != LIBRARY_NAME:
        raise InputError(
            f"{where}: loads library {call.library!r}; mlci reads only its own ({LIBRARY_NAME!r})"
        )
    path = library_dir(root) / f"{call.step}.groovy"
    if not path.is_file():
        raise InputError(f"{where}: {call.step}() is not a step of the mlci library ({path})")
    return path


def jenkinsfile_text(step: str, tag: str, options: dict[str, str | bool]) -> str:
    """A project's three-line Jenkinsfile: load the library at `tag`, call `step`."""
    args = ", ".join(
        f"{k}: {str(v).lower()}" if isinstance(v, bool) else f"{k}: '{_quote(v)}'"
        for k, v in options.items()
    )
    return (
        f"// The {step} of the mlci Jenkins shared library (docs/adopt.md), pinned to {tag}.\n"
        f"@Library('{LIBRARY_NAME}@{tag}') _\n"
        f"{step}({args})\n"
    )


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def lintable(text: str, root: Path, where: str) -> str:
    """What the declarative linter should see for a Jenkinsfile: itself, or (a library call,
    which the linter cannot follow) the called step's `pipeline { }` with the call's options
    in place of its `cfg.NAME` references."""
    call = read_call(text, where)
    if call is None:
        return text
    step = step_file(root, call, where)
    lines = step.read_text(encoding="utf-8").splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip() == "pipeline {"), None)
    if start is None:
        raise InputError(f"{step}: no `pipeline {{` line in the step")
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    end = next((i for i in range(start + 1, len(lines)) if lines[i] == f"{indent}}}"), None)
    if end is None:
        raise InputError(f"{step}: the `pipeline {{` block has no closing brace at its indent")
    block = "\n".join(ln[len(indent) :] for ln in lines[start : end + 1]) + "\n"
    options = {"agentLabel": "docker", "repositoryChecks": False, **call.options}

    def option(name: str, where_: str) -> str | bool:
        if name not in options:
            raise InputError(f"{step}: uses cfg.{name}; give {name}: '...' in {where_}")
        return options[name]

    block = re.sub(r"\$\{cfg\.(\w+)\}", lambda m: _quote(str(option(m.group(1), where))), block)

    def literal(m: re.Match[str]) -> str:
        value = option(m.group(1), where)
        return str(value).lower() if isinstance(value, bool) else f"'{_quote(value)}'"

    return re.sub(r"\bcfg\.(\w+)", literal, block)
