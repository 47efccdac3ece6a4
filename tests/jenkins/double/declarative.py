"""What Declarative Pipeline does to a job's config.xml when a build runs its Jenkinsfile.

pipeline-model-definition applies the pipeline's `parameters {}`, `options {}` job properties
and `triggers {}` to the job on every run (`Utils.updateJobProperties`,
`Utils.getParametersToApply`): a parameter of the Jenkinsfile replaces the same-named
definition in the job's `ParametersDefinitionProperty` (its default, description and `trim`),
new ones are appended, others stay; `disableConcurrentBuilds(...)` becomes a
`DisableConcurrentBuildsJobProperty`; `cron(...)` becomes the `TimerTrigger`s of the
`PipelineTriggersJobProperty`. Each is written the way XStream serialises these classes
(`StringParameterDefinition`: name, description, defaultValue, trim; `BooleanParameterDefinition`:
name, description, defaultValue; `ChoiceParameterDefinition`: name, description, choices).

The double reads the Jenkinsfile with tree-sitter-groovy (an implementation independent of
mlci's own reader in ml/jenkins/declarative.py). Argument values: string literals, booleans,
lists of strings, and the expressions `env.X == 'v'`, `env.X != 'v'` and `c ? a : b` over them,
evaluated with the environment given to `declare` (e.g. BRANCH_NAME). Not modelled: removal
of properties an earlier run declared and this one does not, other options (buildDiscarder,
timestamps...), other triggers, the DeclarativeJobPropertyTrackerAction.

Shared libraries (pipeline-groovy-lib): a Jenkinsfile that is a library call,
`@Library('mlci@v1') _` (a library registered by JCasC `unclassified.globalLibraries`, see
casc.py) or `library(identifier: 'mlci@x', retriever: legacySCM(scm))` (the job's own
repository at the revision being built), then `mlciTrainingPipeline(project: 'p', ...)`, runs
the declarative `pipeline {}` of `vars/mlciTrainingPipeline.groovy` in that library (a
`call(Map config)` step; one pipeline per build). Its `cfg.NAME` values are the call's options
(the step's `Map cfg = mlciOptions(config, ...)`). The double cannot clone: a test names the
checkout of a library remote with `library_checkout(remote, path)`, and of a job's own
repository with `declare(..., checkout=path)`. An unregistered `@Library` name fails as Jenkins
does ("Could not find any definition of libraries [name]").

Test control: `declare(job, jenkinsfile, env, checkout=None)`. As in Jenkins, the rewrite
happens when a build of `job` starts running its pipeline, so the config.xml after a build
shows it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tree_sitter_groovy
from tree_sitter import Language, Node, Parser

from tests.jenkins.double.common import NO_CONCURRENT

if TYPE_CHECKING:
    from tests.jenkins.double.builds import Build
    from tests.jenkins.double.jobs import Item

PARAMS_PROPERTY = "hudson.model.ParametersDefinitionProperty"
TRIGGERS_PROPERTY = "org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty"
PARAM_CLASSES = {
    "string": "hudson.model.StringParameterDefinition",
    "text": "hudson.model.TextParameterDefinition",
    "booleanParam": "hudson.model.BooleanParameterDefinition",
    "choice": "hudson.model.ChoiceParameterDefinition",
}


@dataclass
class Declared:
    """What one run of a Jenkinsfile declares for its job."""

    parameters: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (step, args)
    no_concurrent: dict[str, Any] | None = None  # disableConcurrentBuilds args, if declared
    crons: list[str] = field(default_factory=list)


def _text(src: bytes, n: Node) -> str:
    return src[n.start_byte : n.end_byte].decode()


def _ident(src: bytes, n: Node) -> str | None:
    ident = next((c for c in n.children if c.type == "identifier"), None)
    return _text(src, ident) if ident is not None else None


def _calls(n: Node, src: bytes) -> list[Node]:
    """Direct calls inside a closure (statements or bare method invocations)."""
    out = []
    for c in n.children:
        inner = c.children[0] if c.type == "expression_statement" and c.children else c
        if inner.type in ("method_invocation", "juxt_function_call"):
            out.append(inner)
    return out


def _value(src: bytes, n: Node, env: dict[str, str]) -> Any:
    kind = n.type
    if kind == "field_access" and _text(src, n).startswith("cfg."):
        name = _text(src, n).partition(".")[2]
        options = env.get(OPTIONS)
        if not isinstance(options, dict) or name not in options:
            raise ValueError(f"the library call gives no option {name}")
        return options[name]
    if kind in ("character_literal", "string_literal"):
        raw = _text(src, n)
        if raw.startswith(("'''", '"""')):
            return raw[3:-3]
        return raw[1:-1]
    if kind in ("true", "false"):
        return kind == "true"
    if kind == "array_literal":
        return [_value(src, c, env) for c in n.children if c.type not in ("[", "]", ",")]
    if kind == "field_access":
        obj, _, name = _text(src, n).partition(".")
        if obj == "env":
            return env.get(name)
    if kind == "binary_expression":
        left, op, right = n.children[0], _text(src, n.children[1]), n.children[2]
        a, b = _value(src, left, env), _value(src, right, env)
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
    if kind == "ternary_expression":
        parts = [c for c in n.children if c.type not in ("?", ":")]
        return _value(src, parts[1 if _value(src, parts[0], env) else 2], env)
    if kind == "parenthesized_expression":
        return _value(src, n.children[1], env)
    raise ValueError(f"the double cannot evaluate {kind}: {_text(src, n)!r}")


def _args(
    src: bytes, call: Node, env: dict[str, Any], lenient: bool = False
) -> tuple[dict[str, Any], list[Any]]:
    """Named and positional arguments (`lenient`: skip what cannot be evaluated)."""
    args = next((c for c in call.children if c.type == "argument_list"), None)
    named: dict[str, Any] = {}
    positional: list[Any] = []
    for c in args.children if args is not None else []:
        try:
            if c.type == "map_item":
                named[_text(src, c.children[0])] = _value(src, c.children[-1], env)
            elif c.type not in ("(", ")", ","):
                positional.append(_value(src, c, env))
        except ValueError:
            if not lenient:
                raise
    return named, positional


def read_declared(text: str, env: dict[str, str]) -> Declared:
    src = text.encode()
    root = Parser(Language(tree_sitter_groovy.language())).parse(src).root_node
    if root.has_error:
        raise ValueError("tree-sitter-groovy cannot parse this Jenkinsfile")
    pipeline = _find_pipeline(root, src)
    if pipeline is None:
        raise ValueError("no pipeline block")
    body = next(c for c in pipeline.children if c.type == "closure")
    out = Declared()
    for section in _calls(body, src):
        name = _ident(src, section)
        closure = next((c for c in section.children if c.type == "closure"), None)
        if closure is None:
            continue
        for step in _calls(closure, src):
            step_name = _ident(src, step) or ""
            if name == "parameters" and step_name in PARAM_CLASSES:
                out.parameters.append((step_name, _args(src, step, env)[0]))
            elif name == "options" and step_name == "disableConcurrentBuilds":
                out.no_concurrent = _args(src, step, env)[0]
            elif name == "triggers" and step_name == "cron":
                named, positional = _args(src, step, env)
                spec = positional[0] if positional else named.get("spec", "")
                if spec:
                    out.crons.append(spec)
    return out


OPTIONS = "\0options"  # the env key carrying a library call's options to _value


def _find_pipeline(root: Node, src: bytes) -> Node | None:
    """The `pipeline { }` call: a statement of the script, or of a library step's method."""
    stack = [root]
    while stack:
        n = stack.pop()
        if (
            n.type in ("method_invocation", "juxt_function_call")
            and _ident(src, n) == "pipeline"
            and any(c.type == "closure" for c in n.children)
        ):
            return n
        stack.extend(reversed(n.children))
    return None


@dataclass(frozen=True)
class LibraryCall:
    name: str  # library name
    self_scm: bool  # legacySCM(scm): the job's own repository
    step: str
    options: dict[str, Any]


def library_call(text: str) -> LibraryCall | None:
    """The library a Jenkinsfile loads and the step it calls; None without a library."""
    src = text.encode()
    root = Parser(Language(tree_sitter_groovy.language())).parse(src).root_node
    name, self_scm = None, False
    for n in root.children:
        if n.type == "local_variable_declaration":  # @Library('name@version') _
            for a in (c for c in _walk(n) if c.type == "annotation"):
                if _ident(src, a) == "Library":
                    lit = next(
                        c for c in _walk(a) if c.type in ("character_literal", "string_literal")
                    )
                    name = _text(src, lit)[1:-1].split("@")[0]
    calls = _calls(root, src)
    for c in calls:
        if _ident(src, c) == "library":
            named, positional = _args(src, c, {}, lenient=True)
            ident = named.get("identifier") or (positional[0] if positional else "")
            name = str(ident).split("@")[0]
            self_scm = "legacySCM(scm)" in _text(src, c)
    steps = [c for c in calls if _ident(src, c) not in ("library", None)]
    if name is None or not steps:
        return None
    return LibraryCall(name, self_scm, _ident(src, steps[-1]) or "", _args(src, steps[-1], {})[0])


def _walk(n: Node):
    stack = [n]
    while stack:
        x = stack.pop()
        yield x
        stack.extend(reversed(x.children))


def parameter_xml(step: str, args: dict[str, Any]) -> ET.Element:
    el = ET.Element(PARAM_CLASSES[step])
    ET.SubElement(el, "name").text = str(args["name"])
    if args.get("description") is not None:
        ET.SubElement(el, "description").text = str(args["description"])
    if step == "choice":
        choices = args.get("choices") or []
        if isinstance(choices, str):
            choices = choices.splitlines()
        holder = ET.SubElement(el, "choices", {"class": "java.util.Arrays$ArrayList"})
        arr = ET.SubElement(holder, "a", {"class": "string-array"})
        for c in choices:
            ET.SubElement(arr, "string").text = str(c)
    elif step == "booleanParam":
        ET.SubElement(el, "defaultValue").text = str(bool(args.get("defaultValue"))).lower()
    else:
        ET.SubElement(el, "defaultValue").text = str(args.get("defaultValue", ""))
        if step == "string":
            ET.SubElement(el, "trim").text = str(bool(args.get("trim", False))).lower()
    return el


def apply_declared(config: bytes, declared: Declared) -> bytes:
    root = ET.fromstring(config)
    props = root.find("properties")
    if props is None:
        props = ET.Element("properties")
        root.insert(0, props)
    if declared.parameters:
        prop = props.find(PARAMS_PROPERTY)
        if prop is None:
            prop = ET.SubElement(props, PARAMS_PROPERTY)
        defs = prop.find("parameterDefinitions")
        if defs is None:
            defs = ET.SubElement(prop, "parameterDefinitions")
        for step, args in declared.parameters:
            new = parameter_xml(step, args)
            old = next((d for d in defs if d.findtext("name") == str(args["name"])), None)
            if old is None:
                defs.append(new)
            else:
                defs[list(defs).index(old)] = new
    if declared.no_concurrent is not None:
        old = props.find(NO_CONCURRENT)
        if old is not None:
            props.remove(old)
        el = ET.SubElement(props, NO_CONCURRENT)
        abort = bool(declared.no_concurrent.get("abortPrevious", False))
        ET.SubElement(el, "abortPrevious").text = str(abort).lower()
    if declared.crons:
        old = props.find(TRIGGERS_PROPERTY)
        if old is not None:
            props.remove(old)
        triggers = ET.SubElement(ET.SubElement(props, TRIGGERS_PROPERTY), "triggers")
        for spec in declared.crons:
            ET.SubElement(
                ET.SubElement(triggers, "hudson.triggers.TimerTrigger"), "spec"
            ).text = spec
    return ET.tostring(root, encoding="unicode").encode()


class DeclarativeMixin:
    """`declare()` and the rewrite of a job's config.xml after each of its builds."""

    def library_checkout(self, remote: str, path: Path) -> None:
        """The checkout (at the version a Jenkinsfile asks for) of a library's remote."""
        self.library_checkouts[remote] = path

    def declare(
        self,
        job: str,
        jenkinsfile: str | Path,
        env: dict[str, str] | None = None,
        checkout: Path | None = None,
    ) -> None:
        """Builds of `job` (full name) run this Jenkinsfile (a path or its text) as Declarative
        would: when one starts, the job's config.xml gets the pipeline's properties. A library
        call runs the library step's pipeline (`checkout`: the job's own repository, for
        legacySCM(scm))."""
        text = Path(jenkinsfile).read_text() if isinstance(jenkinsfile, Path) else jenkinsfile
        run_env: dict[str, Any] = dict(env or {})
        call = library_call(text)
        if call is not None:
            text = (self.library_root(call, checkout) / "vars" / f"{call.step}.groovy").read_text()
            run_env[OPTIONS] = call.options
        read_declared(text, run_env)  # fail now on what the double cannot read
        self.declarations[job] = (text, run_env)

    def library_root(self, call: LibraryCall, checkout: Path | None) -> Path:
        """Where the library of `call` comes from, as pipeline-groovy-lib would find it."""
        if call.self_scm:
            if checkout is None:
                raise ValueError("legacySCM(scm) needs the job's checkout: declare(checkout=)")
            return checkout
        casc = getattr(self, "casc", None)
        libraries = casc.libraries if casc is not None else {}
        if call.name not in libraries:
            raise ValueError(f"Could not find any definition of libraries [{call.name}]")
        remote = libraries[call.name]
        if remote not in self.library_checkouts:
            raise ValueError(f"the double has no checkout of {remote}: call library_checkout()")
        return self.library_checkouts[remote]

    def _on_pipeline_start(self, build: Build) -> None:
        job: Item = build.job
        declared = self.declarations.get(job.full_name)
        if declared is None:
            return
        text, env = declared
        with self.lock:
            job.set_config(apply_declared(job.config, read_declared(text, env)))
