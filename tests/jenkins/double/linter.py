"""The declarative linter endpoints of the double (a light structural check)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.jenkins.double.common import HttpError, Reply, form_field, html_error, json_reply

_TOKEN = re.compile(
    r"'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"|"
    r"//[^\n]*|/\*.*?\*/|[A-Za-z_][A-Za-z0-9_]*|[{}()]|\n|.",
    re.S,
)
TOP_SECTIONS = {
    "agent",
    "stages",
    "post",
    "options",
    "parameters",
    "triggers",
    "environment",
    "tools",
    "libraries",
}


@dataclass
class Block:
    name: str
    line: int
    col: int
    children: list[Block] = field(default_factory=list)


def declarative_errors(text: str) -> list[tuple[int, int, str]]:
    """A light structural check of a declarative Jenkinsfile: (line, column, message)."""
    root = Block("<script>", 1, 1)
    stack = [root]
    line, line_start = 1, 0
    last_word: tuple[str, int, int] | None = None
    depth_paren = 0
    errors: list[tuple[int, int, str]] = []
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        col = m.start() - line_start + 1
        if tok == "\n" or "\n" in tok:
            line += tok.count("\n")
            line_start = m.start() + tok.rfind("\n") + 1
            if tok == "\n":
                continue
        if tok == "(":
            depth_paren += 1
        elif tok == ")":
            depth_paren = max(0, depth_paren - 1)
        elif tok == "{":
            name = last_word[0] if last_word else "{"
            bl, bc = (last_word[1], last_word[2]) if last_word else (line, col)
            block = Block(name, bl, bc)
            stack[-1].children.append(block)
            stack.append(block)
            last_word = None
        elif tok == "}":
            if len(stack) == 1:
                errors.append((line, col, "Unexpected input: '}'"))
            else:
                stack.pop()
            last_word = None
        elif re.match(r"[A-Za-z_]", tok) and depth_paren == 0:
            last_word = (tok, line, col)
    if len(stack) > 1:
        errors.append(
            (
                line,
                1,
                f'Unexpected end of file: block "{stack[-1].name}" '
                f"opened at line {stack[-1].line} is not closed",
            )
        )
        return errors
    pipelines = [b for b in root.children if b.name == "pipeline"]
    if not pipelines:
        return [(1, 1, "Jenkinsfile content did not contain the 'pipeline' step")]
    pipe = pipelines[0]
    names = [c.name for c in pipe.children]
    for c in pipe.children:
        if c.name not in TOP_SECTIONS:
            errors.append(
                (
                    c.line,
                    c.col,
                    f'Not a valid section definition: "{c.name}". '
                    "Some extra configuration is required",
                )
            )
    top_words = set(names) | set(_top_level_words(text, pipe))
    for required in ("agent", "stages"):
        if required not in top_words:
            errors.append((pipe.line, pipe.col, f'Missing required section "{required}"'))
    for stages in (c for c in pipe.children if c.name == "stages"):
        errors.extend(_check_stages(stages))
    return sorted(errors)


def _top_level_words(text: str, pipe: Block) -> list[str]:
    # `agent none` / `agent any` have no block; find them by a line-level scan.
    return ["agent"] if re.search(r"^\s*agent\s+(none|any)\b", text, re.M) else []


def _check_stages(stages: Block) -> list[tuple[int, int, str]]:
    errors = []
    for st in stages.children:
        if st.name != "stage":
            errors.append((st.line, st.col, f'Expected a stage, got "{st.name}"'))
            continue
        kinds = {c.name for c in st.children}
        if not kinds & {"steps", "stages", "parallel", "matrix"}:
            errors.append(
                (st.line, st.col, 'Expected one of "steps", "stages", or "parallel" for stage')
            )
        for sub in st.children:
            if sub.name in ("stages", "parallel"):
                errors.extend(_check_stages(sub))
    return errors


class LinterMixin:
    """`/pipeline-model-converter/validate` and `validateJenkinsfile`."""

    def _linter(self, method: str, endpoint: str, body: bytes, ctype: str | None) -> Reply:
        if endpoint not in ("validate", "validateJenkinsfile"):
            raise HttpError(html_error(404, "Not Found"))
        if method != "POST":
            raise HttpError(html_error(405, "Method Not Allowed"))
        text = form_field(body, ctype, "jenkinsfile")
        if endpoint == "validate":
            if text is None:
                return Reply(200, "No Jenkinsfile specified")
            errors = declarative_errors(text)
            if not errors:
                return Reply(200, "Jenkinsfile successfully validated.\n")
            lines = [
                f"WorkflowScript: {ln}: {msg} @ line {ln}, column {col}." for ln, col, msg in errors
            ]
            return Reply(
                200, "Errors encountered validating Jenkinsfile:\n" + "\n".join(lines) + "\n"
            )
        if text is None:
            return json_reply(
                {
                    "status": "ok",
                    "data": {
                        "result": "failure",
                        "errors": [{"error": "No content found for 'jenkinsfile' parameter"}],
                    },
                }
            )
        errors = declarative_errors(text)
        if not errors:
            return json_reply({"status": "ok", "data": {"result": "success"}})
        return json_reply(
            {
                "status": "ok",
                "data": {
                    "result": "failure",
                    "errors": [
                        {"error": [f"{msg} @ line {ln}, column {col}." for ln, col, msg in errors]}
                    ],
                },
            }
        )
