"""The job properties a Declarative Jenkinsfile declares, written as Jenkins stores them.

On every run, Declarative applies the pipeline's `parameters {}` and `triggers {}` to the job
(pipeline-model-definition `Utils.updateJobProperties`, `Utils.getParametersToApply`): a
parameter of the Jenkinsfile replaces the same-named one in the job's config.xml. A job
definition that also declared parameters (with another description, default or `trim`) would
never stay equal to what `mlci jenkins apply` wrote. So the Jenkinsfile is the one definition:
`mlci jenkins apply` reads its top-level `parameters {}` and `triggers { cron(...) }` and puts
into the job's config.xml exactly what Declarative writes there (the XStream form of
`StringParameterDefinition`, `BooleanParameterDefinition`, `ChoiceParameterDefinition`,
`TextParameterDefinition`, and `TimerTrigger`s in a `PipelineTriggersJobProperty`). The job
then has its parameters before its first run (`buildWithParameters` works), and a run
changes nothing `apply` compares.

Only literal values can be read here (strings, booleans, lists of strings), and `cfg.NAME`:
the option NAME of the library call (a Jenkinsfile `mlciDeployPipeline(modelName: 'm')` whose
step, vars/mlciDeployPipeline.groovy, declares `defaultValue: cfg.modelName`; see
ml/jenkins/library.py). A parameter or a cron spec computed otherwise by Groovy is refused with
the file and the line.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml.errors import InputError
from ml.jenkins import library

PARAMS_PROPERTY = "hudson.model.ParametersDefinitionProperty"
TRIGGERS_PROPERTY = "org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty"
PARAMETER_CLASSES = {
    "string": "hudson.model.StringParameterDefinition",
    "text": "hudson.model.TextParameterDefinition",
    "booleanParam": "hudson.model.BooleanParameterDefinition",
    "choice": "hudson.model.ChoiceParameterDefinition",
}
MANAGED = (PARAMS_PROPERTY, TRIGGERS_PROPERTY)

_TOKEN = re.compile(
    r"'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"|"
    r"//[^\n]*|/\*.*?\*/|[A-Za-z_][A-Za-z0-9_]*|\S",
    re.S,
)


@dataclass(frozen=True)
class Parameter:
    kind: str  # string | text | booleanParam | choice
    name: str
    description: str | None
    default: Any  # str, bool, or for a choice its first entry
    choices: tuple[str, ...] = ()
    trim: bool = False


@dataclass(frozen=True)
class Declared:
    parameters: tuple[Parameter, ...]
    crons: tuple[str, ...]


@dataclass
class _Tok:
    text: str
    line: int


def _tokens(text: str) -> list[_Tok]:
    out = []
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        if tok.startswith(("//", "/*")):
            continue
        out.append(_Tok(tok, text.count("\n", 0, m.start()) + 1))
    return out


def _block(toks: list[_Tok], start: int) -> int:
    """Index of the `}` closing the `{` at `start`."""
    depth = 0
    for i in range(start, len(toks)):
        if toks[i].text == "{":
            depth += 1
        elif toks[i].text == "}":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced braces")


def _sections(toks: list[_Tok]) -> dict[str, tuple[int, int]]:
    """Top-level sections of `pipeline { ... }`: name -> (first, last) token index inside."""
    for i, t in enumerate(toks):
        if t.text == "pipeline" and i + 1 < len(toks) and toks[i + 1].text == "{":
            end = _block(toks, i + 1)
            out: dict[str, tuple[int, int]] = {}
            j = i + 2
            while j < end:
                if toks[j].text == "{":
                    close = _block(toks, j)
                    name = toks[j - 1].text
                    out.setdefault(name, (j + 1, close))
                    j = close + 1
                else:
                    j += 1
            return out
    raise ValueError("no `pipeline { }` block")


def _literal(tok: _Tok, where: str) -> Any:
    s = tok.text
    if s in ("true", "false"):
        return s == "true"
    if s.startswith(("'''", '"""')):
        body = s[3:-3]
    elif s[:1] in ("'", '"'):
        body = s[1:-1]
    else:
        raise InputError(f"{where}, line {tok.line}: {s!r} is not a literal value")
    if s.startswith('"') and "$" in body:
        raise InputError(f"{where}, line {tok.line}: {s} is interpolated by Groovy")
    return re.sub(r"\\(.)", r"\1", body)


def _option(toks: list[_Tok], j: int, where: str, options: dict[str, Any]) -> tuple[Any, int]:
    """`cfg.NAME` at `j`: the library call's option NAME, and the index after it."""
    name = toks[j + 2].text
    if name not in options:
        raise InputError(
            f"{where}, line {toks[j].line}: cfg.{name} needs the option {name}: give "
            f"{name}: '...' in the Jenkinsfile's call"
        )
    return options[name], j + 3


def _arguments(
    toks: list[_Tok], i: int, where: str, options: dict[str, Any]
) -> tuple[dict[str, Any], list[Any], int]:
    """Arguments of the call whose `(` is at `i`: (named, positional, index after `)`)."""
    named: dict[str, Any] = {}
    positional: list[Any] = []
    j = i + 1
    while toks[j].text != ")":
        if toks[j].text == ",":
            j += 1
            continue
        key = None
        if j + 1 < len(toks) and toks[j + 1].text == ":" and re.match(r"\w+$", toks[j].text):
            key, j = toks[j].text, j + 2
        if toks[j].text == "[":
            items, j = [], j + 1
            while toks[j].text != "]":
                if toks[j].text != ",":
                    items.append(_literal(toks[j], where))
                j += 1
            value: Any = items
        elif toks[j].text == "cfg" and toks[j + 1].text == "." and j + 2 < len(toks):
            value, j = _option(toks, j, where, options)
            j -= 1
        else:
            value = _literal(toks[j], where)
        j += 1
        if j < len(toks) and toks[j].text not in (",", ")"):
            raise InputError(
                f"{where}, line {toks[j].line}: only literal values can be read "
                f"(found {toks[j].text!r} after {key or 'an argument'})"
            )
        if key is None:
            positional.append(value)
        else:
            named[key] = value
    return named, positional, j + 1


def read_declared(text: str, where: str, options: dict[str, Any] | None = None) -> Declared:
    """The top-level `parameters {}` and `triggers { cron }` of a Declarative pipeline
    (`options`: the library call's, for `cfg.NAME` values)."""
    options = options or {}
    toks = _tokens(text)
    try:
        sections = _sections(toks)
    except ValueError as e:
        raise InputError(f"{where}: {e}") from None
    params: list[Parameter] = []
    first, last = sections.get("parameters", (0, 0))
    j = first
    while j < last:
        kind = toks[j].text
        if kind in PARAMETER_CLASSES and toks[j + 1].text == "(":
            named, _, j = _arguments(toks, j + 1, where, options)
            if "name" not in named:
                raise InputError(f"{where}, line {toks[j - 1].line}: {kind}(...) without name:")
            choices = named.get("choices", [])
            if isinstance(choices, str):
                choices = choices.splitlines()
            default = named.get("defaultValue", False if kind == "booleanParam" else "")
            if kind == "choice":
                default = choices[0] if choices else ""
            params.append(
                Parameter(
                    kind,
                    str(named["name"]),
                    named.get("description"),
                    default,
                    tuple(str(c) for c in choices),
                    bool(named.get("trim", False)),
                )
            )
        elif re.match(r"\w+$", kind) and toks[j + 1].text == "(":
            raise InputError(
                f"{where}, line {toks[j].line}: parameter type {kind}() is not one mlci "
                f"writes ({', '.join(PARAMETER_CLASSES)})"
            )
        else:
            j += 1
    crons: list[str] = []
    first, last = sections.get("triggers", (0, 0))
    j = first
    while j < last:
        if toks[j].text == "cron" and toks[j + 1].text == "(":
            named, positional, j = _arguments(toks, j + 1, where, options)
            spec = positional[0] if positional else named.get("spec", "")
            if spec:
                crons.append(str(spec))
        else:
            j += 1
    return Declared(tuple(params), tuple(crons))


def read_jenkinsfile(path: Path, root: Path) -> Declared:
    """What a Jenkinsfile declares: its own pipeline's, or (a library call) that of the mlci
    library step it calls, with the call's options (`root`: the project, for its vars/)."""
    text = _read(path)
    call = library.read_call(text, str(path))
    if call is None:
        return read_declared(text, str(path))
    step = library.step_file(root, call, str(path))
    return read_declared(_read(step), str(step), call.options)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"{path}: cannot read the Jenkinsfile ({e.strerror})") from None


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def parameter_element(p: Parameter) -> ET.Element:
    """One parameter definition as XStream writes it into config.xml."""
    el = ET.Element(PARAMETER_CLASSES[p.kind])
    _sub(el, "name", p.name)
    if p.description is not None:
        _sub(el, "description", str(p.description))
    if p.kind == "choice":
        holder = _sub(el, "choices", **{"class": "java.util.Arrays$ArrayList"})
        arr = _sub(holder, "a", **{"class": "string-array"})
        for c in p.choices:
            _sub(arr, "string", c)
    elif p.kind == "booleanParam":
        _sub(el, "defaultValue", str(bool(p.default)).lower())
    else:
        _sub(el, "defaultValue", str(p.default))
        if p.kind == "string":
            _sub(el, "trim", str(p.trim).lower())
    return el


def property_elements(declared: Declared) -> list[ET.Element]:
    """The job properties Declarative writes for these parameters and cron triggers."""
    out = []
    if declared.parameters:
        prop = ET.Element(PARAMS_PROPERTY)
        defs = _sub(prop, "parameterDefinitions")
        for p in declared.parameters:
            defs.append(parameter_element(p))
        out.append(prop)
    if declared.crons:
        prop = ET.Element(TRIGGERS_PROPERTY)
        triggers = _sub(prop, "triggers")
        for spec in declared.crons:
            _sub(_sub(triggers, "hudson.triggers.TimerTrigger"), "spec", spec)
        out.append(prop)
    return out
