"""The `sh` steps of a Jenkinsfile, per stage, read with tree-sitter-groovy (never retyped).

Generic on purpose (the Jenkinsfiles change): every `sh` call inside a `stage(...)`, in source
order, with the stage path that encloses it, whether its effective agent is a `docker { ... }`
agent (the stage image) or the node, which credential ids the enclosing `withCredentials`
blocks bind, and whether it is `sh(script: ..., returnStatus: true)`. Calls outside any stage
(helper functions such as buildStageImage) belong to the node and are reported with an empty
stage path. `input` directives are read too (message, id, submitter, parameter names) so the
Jenkins double can play the same input.

A Jenkinsfile that is a call of the mlci shared library (`mlciTrainingPipeline(...)`) is read
as the step it calls: `vars/<step>.groovy` of the repository holding the Jenkinsfile (the
library loaded from the revision being built), and `withCredentials(mlciCredentials([...]))`
binds the ids vars/mlciCredentials.groovy gives those purposes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import tree_sitter_groovy
from tree_sitter import Language, Node, Parser

from tests.jenkins.library import pipeline_file, purpose_ids


@dataclass(frozen=True)
class Step:
    stages: tuple[str, ...]  # outermost first
    script: str
    in_image: bool
    credentials: tuple[str, ...] = ()
    return_status: bool = False
    agent: str = ""  # text of the effective agent directive
    guards: tuple[str, ...] = ()  # `when { ... }` texts of the enclosing stages

    def only_on_main(self) -> bool:
        return any(re.search(r"\bbranch\s+'main'", g) for g in self.guards)

    def runs(self, branch: str, params: dict[str, str]) -> bool:
        """Evaluate the simple `when` conditions: `branch 'x'`, `params.X == 'v'` / `!=`.

        A guard with anyOf is not evaluated (the step runs), as the
        Model stage's "retrain only on change" guard, which always holds for a fresh job.
        """
        for g in self.guards:
            if re.search(r"\banyOf\s*\{", g):
                continue
            for want in re.findall(r"\bbranch\s+'([^']+)'", g):
                if want != branch:
                    return False
            for name, op, value in re.findall(r"params\.(\w+)\s*(==|!=)\s*'([^']*)'", g):
                have = params.get(name, "")
                if (have == value) != (op == "=="):
                    return False
        return True

    @property
    def stage(self) -> str:
        return self.stages[-1] if self.stages else ""


@dataclass(frozen=True)
class InputDirective:
    stage: str
    message: str
    id: str | None
    submitter: str | None
    submitter_parameter: str | None
    parameters: tuple[str, ...] = field(default_factory=tuple)


def _parse(path: Path) -> tuple[Node, bytes]:
    src = pipeline_file(path).read_bytes()
    return Parser(Language(tree_sitter_groovy.language())).parse(src).root_node, src


def _name(n: Node, src: bytes) -> str | None:
    if n.type not in ("method_invocation", "juxt_function_call"):
        return None
    ident = next((c for c in n.children if c.type == "identifier"), None)
    return None if ident is None else src[ident.start_byte : ident.end_byte].decode()


def _walk(node: Node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def _text(n: Node, src: bytes) -> str:
    return src[n.start_byte : n.end_byte].decode()


def _string(n: Node, src: bytes) -> str:
    raw = _text(n, src)
    for q in ("'''", '"""', "'", '"'):
        if raw.startswith(q) and raw.endswith(q) and len(raw) >= 2 * len(q):
            return raw[len(q) : -len(q)]
    return raw


def _args(n: Node) -> list[Node]:
    args = next((c for c in n.children if c.type == "argument_list"), None)
    return [] if args is None else [c for c in args.children if c.type not in ("(", ")", ",")]


def _map_value(n: Node, src: bytes, key: str) -> Node | None:
    for item in _args(n):
        if item.type == "map_item" and _text(item.children[0], src) == key:
            return item.children[-1]
    return None


def _closure(n: Node) -> Node | None:
    return next((c for c in n.children if c.type == "closure"), None)


def _enclosing(n: Node, src: bytes, name: str) -> list[Node]:
    out, p = [], n.parent
    while p is not None:
        if _name(p, src) == name:
            out.append(p)
        p = p.parent
    return out  # innermost first


def _own(stage: Node, src: bytes, directive: str) -> str | None:
    """The text of a stage's own directive (`agent`, `when`), not one of a nested stage."""
    body = _closure(stage)
    if body is None:
        return None
    for n in _walk(body):
        if _name(n, src) == directive and _enclosing(n, src, "stage")[0] == stage:
            return _text(n, src)
    return None


def steps(path: Path) -> list[Step]:
    root, src = _parse(path)
    purposes = purpose_ids(pipeline_file(path).parent)
    out = []
    for n in _walk(root):
        if _name(n, src) != "sh":
            continue
        script_node = _map_value(n, src, "script")
        if script_node is None:
            items = _args(n)
            script_node = items[0] if items else None
        if script_node is None:
            continue
        stages = _enclosing(n, src, "stage")
        names = tuple(
            _string(_args(s)[0], src) for s in reversed(stages) if _args(s)
        )  # outermost first
        agent = next((a for a in (_own(s, src, "agent") for s in stages) if a is not None), None)
        guards = tuple(g for g in (_own(s, src, "when") for s in stages) if g is not None)
        creds = []
        for w in _enclosing(n, src, "withCredentials"):
            head = _text(w, src).split("{", 1)[0]  # withCredentials(<these>) {
            creds += re.findall(r"credentialsId:\s*'([^']+)'", head)
            # the library's mlciCredentials(['mlflow', ...]): the ids of those purposes
            for listed in re.findall(r"mlciCredentials\(\[([^\]]*)\]\)", head):
                creds += [purposes[p] for p in re.findall(r"'(\w+)'", listed)]
            # helpers such as registryCredentials() + mlflowCredentials(): their definitions
            for helper in re.findall(r"(\w+)\(\)", head):
                m = re.search(rf"\b{helper}\(\)\s*\{{(.*?)\n\}}", src.decode(), re.S)
                if m:
                    creds += re.findall(r"credentialsId:\s*'([^']+)'", m.group(1))
        rs = _map_value(n, src, "returnStatus")
        out.append(
            Step(
                stages=names,
                script=_string(script_node, src),
                in_image=agent is not None and re.search(r"\bdocker\s*\{", agent) is not None,
                credentials=tuple(dict.fromkeys(creds)),
                return_status=rs is not None and _text(rs, src) == "true",
                agent=agent or "",
                guards=guards,
            )
        )
    return out


def inputs(path: Path) -> list[InputDirective]:
    root, src = _parse(path)
    out = []
    for n in _walk(root):
        if _name(n, src) != "input" or _closure(n) is None:
            continue
        stage = _enclosing(n, src, "stage")[0]
        body = _text(_closure(n), src)

        def field_(key: str, body: str = body) -> str | None:
            m = re.search(rf"^\s*{key}\s+(?:'([^']*)'|\"([^\"]*)\")", body, re.M)
            return (m.group(1) if m.group(1) is not None else m.group(2)) if m else None

        out.append(
            InputDirective(
                stage=_string(_args(stage)[0], src),
                message=field_("message") or "",
                id=field_("id"),
                submitter=field_("submitter"),
                submitter_parameter=field_("submitterParameter"),
                parameters=tuple(re.findall(r"name:\s*'([^']+)'", body)),
            )
        )
    return out


def stage_scripts(path: Path) -> dict[str, list[str]]:
    """stage name -> its sh scripts in order (the generic view the harness runs)."""
    table: dict[str, list[str]] = {}
    for s in steps(path):
        table.setdefault(s.stage, []).append(s.script)
    return table
