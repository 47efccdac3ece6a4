"""Structure of the Jenkinsfiles, checked without a controller (tree-sitter-groovy parse).

Every `sh` step must run an mlci command that exists in the live Click tree (with options the
command has), mlci runs only inside the stage image, which each pipeline builds first on a
Docker node from the locks with `mlci pipeline ci-image`; registration is guarded to main, the
deploy pipeline's approval has an id, a submitter group and a timeout, and no secret can be
interpolated by Groovy.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import click
import pytest
import tree_sitter_groovy
import yaml
from tree_sitter import Language, Node, Parser

from ml.cli import cli
from ml.jenkins.jobs import (
    JENKINS_CREDENTIALS_ID,
    MLFLOW_CREDENTIALS_ID,
    REGISTRY_CREDENTIALS_ID,
)
from ml.registry import tags
from tests.conftest import REPO

TRAINING = REPO / "Jenkinsfile"
DEPLOY = REPO / "jenkins" / "deploy.Jenkinsfile"
RETRAIN = REPO / "jenkins" / "retrain.Jenkinsfile"
ALL = [TRAINING, DEPLOY, RETRAIN]
# Inside the stage image a stage runs mlci, and mkdir -p for an output folder; nothing else.
IMAGE_COMMANDS = {("mkdir", "-p")}
# On the Docker node itself (outside the stage image) only these run: the venv and the stage
# image build, the lint and unit-test entry points (dev tools), the Docker socket's group id.
NODE_COMMANDS = {
    ("scripts/venv.sh", "dev"),
    ("scripts/venv.sh", "runtime"),
    (".venv/bin/mlci", "pipeline", "ci-image"),
    ("make", "lint"),
    (".venv/bin/pytest", "tests/unit"),
    ("stat", "-c", "%g", "/var/run/docker.sock"),
}
# The agent of every stage that runs mlci: the image id buildStageImage() recorded, same node.
STAGE_IMAGE = 'image "${env.CI_IMAGE}"'
NODE_AGENT = "agent { label 'docker' }"


@dataclass
class Call:
    name: str
    node: Node
    src: bytes

    def text(self, n: Node | None = None) -> str:
        n = n or self.node
        return self.src[n.start_byte : n.end_byte].decode()

    def closure(self) -> Node | None:
        return next((c for c in self.node.children if c.type == "closure"), None)

    def first_arg(self) -> Node | None:
        """The first argument, or the value of `script:` in the map form sh(script: ...)."""
        args = next((c for c in self.node.children if c.type == "argument_list"), None)
        if args is None:
            return None
        items = [c for c in args.children if c.type not in ("(", ")", ",")]
        for item in items:
            if item.type == "map_item" and self.text(item.children[0]) == "script":
                return item.children[-1]
        return items[0] if items else None


@cache
def parse(path: Path) -> tuple[Node, bytes]:
    src = path.read_bytes()
    tree = Parser(Language(tree_sitter_groovy.language())).parse(src)
    return tree.root_node, src


def calls(node: Node, src: bytes, name: str | None = None) -> list[Call]:
    """Every method call / command-style call under `node`, in source order."""
    out = []
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type in ("method_invocation", "juxt_function_call"):
            ident = next((c for c in n.children if c.type == "identifier"), None)
            if ident is not None:
                called = src[ident.start_byte : ident.end_byte].decode()
                if name is None or called == name:
                    out.append(Call(called, n, src))
        stack.extend(reversed(n.children))
    return sorted(out, key=lambda c: c.node.start_byte)


def string_value(call: Call, node: Node) -> tuple[str, bool]:
    """(text without quotes, single-quoted?)."""
    raw = call.text(node)
    if node.type == "character_literal" or raw.startswith("'"):
        return raw.strip("'"), True
    return raw.strip('"'), False


def stage(path: Path, title: str) -> Call:
    root, src = parse(path)
    for c in calls(root, src, "stage"):
        arg = c.first_arg()
        if arg is not None and string_value(c, arg)[0] == title:
            return c
    raise AssertionError(f"{path.name}: no stage('{title}')")


def sh_scripts(path: Path, under: Node | None = None) -> list[tuple[str, bool]]:
    root, src = parse(path)
    out = []
    for c in calls(under or root, src, "sh"):
        arg = c.first_arg()
        assert arg is not None, f"{path.name}: sh without a script at {c.node.start_point}"
        out.append(string_value(c, arg))
    return out


def mlci_invocations(script: str) -> list[list[str]]:
    """The argument lists of every `mlci ...` in a shell line (split at && ; | >)."""
    out = []
    for segment in re.split(r"&&|\|\||;|\||>", script):
        words = shlex.split(segment)
        if words and words[0] in ("mlci", ".venv/bin/mlci"):
            out.append(words[1:])
    return out


def resolve(args: list[str]) -> tuple[list[str], click.Command, list[str]]:
    """Walk the live Click tree as `mlci ARGS` would: (command path, leaf, leaf's args).

    Fails on an unknown command or on arguments the leaf command does not take.
    """
    ctx = cli.make_context("mlci", list(args), resilient_parsing=True)
    cmd: click.Command = cli
    path: list[str] = []
    rest = [*ctx._protected_args, *ctx.args]
    while isinstance(cmd, click.Group):
        name, sub, rest = cmd.resolve_command(ctx, rest)
        assert sub is not None and name is not None, f"mlci {' '.join(args)}: not a command"
        path.append(name)
        ctx = sub.make_context(name, list(rest), parent=ctx, resilient_parsing=True)
        cmd = sub
        if isinstance(sub, click.Group):
            rest = [*ctx._protected_args, *ctx.args]
    assert not ctx.args, f"mlci {' '.join(args)}: unexpected extra arguments {ctx.args}"
    return path, cmd, list(rest)


def ancestors(call: Call, name: str) -> list[Call]:
    """The calls named `name` that enclose `call`, innermost first."""
    out = []
    n = call.node.parent
    while n is not None:
        if n.type in ("method_invocation", "juxt_function_call"):
            ident = next((c for c in n.children if c.type == "identifier"), None)
            if ident is not None and call.src[ident.start_byte : ident.end_byte] == name.encode():
                out.append(Call(name, n, call.src))
        n = n.parent
    return out


def same(a: Node, b: Node) -> bool:
    return (a.start_byte, a.end_byte) == (b.start_byte, b.end_byte)


def own_agent(st: Call) -> str | None:
    """The text of the stage's own `agent` directive (not one of a nested stage)."""
    closure = st.closure()
    assert closure is not None
    for a in calls(closure, st.src, "agent"):
        if same(ancestors(a, "stage")[0].node, st.node):
            return st.text(a.node)
    return None


def effective_agent(call: Call) -> str | None:
    """The agent a step runs on: its innermost enclosing stage that declares one."""
    for st in ancestors(call, "stage"):
        agent = own_agent(st)
        if agent is not None:
            return agent
    return None


def in_stage_image(agent: str | None) -> bool:
    return (
        agent is not None
        and re.search(r"\bdocker \{", agent) is not None
        and STAGE_IMAGE in agent
        and re.search(r"\breuseNode true\b", agent) is not None
    )


def function(path: Path, name: str) -> Node:
    root, src = parse(path)
    for n in root.children:
        if n.type == "function_definition":
            ident = next(c for c in n.children if c.type == "identifier")
            if src[ident.start_byte : ident.end_byte].decode() == name:
                return n
    raise AssertionError(f"{path.name}: no function {name}()")


def sh_calls(path: Path) -> list[tuple[Call, str]]:
    root, src = parse(path)
    out = []
    for c in calls(root, src, "sh"):
        arg = c.first_arg()
        assert arg is not None, f"{path.name}: sh without a script at {c.node.start_point}"
        out.append((c, string_value(c, arg)[0]))
    return out


def top_level_stages(path: Path) -> list[Call]:
    root, src = parse(path)
    return [c for c in calls(root, src, "stage") if len(ancestors(c, "stage")) == 0]


def nested_stages(st: Call) -> list[Call]:
    """The stages directly under `st` (its `stages { }`), in order."""
    closure = st.closure()
    assert closure is not None
    return [
        c for c in calls(closure, st.src, "stage") if same(ancestors(c, "stage")[0].node, st.node)
    ]


def node_side_scripts(path: Path) -> list[str]:
    """sh scripts that run on the node: in helper functions or stages outside the image."""
    return [s for c, s in sh_calls(path) if not in_stage_image(effective_agent(c))]


def used_commands() -> list[tuple[str, list[str]]]:
    out = []
    for path in ALL:
        for script, _ in sh_scripts(path):
            out.extend((path.name, inv) for inv in mlci_invocations(script))
    return out


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_parses_and_is_declarative_with_agent_none(path: Path):
    root, src = parse(path)
    assert not root.has_error, f"{path}: tree-sitter-groovy could not parse it"
    pipeline = calls(root, src, "pipeline")
    assert pipeline, f"{path.name}: no pipeline block"
    assert re.search(r"^pipeline \{\n    agent none\n", src.decode(), re.M), (
        f"{path.name}: the pipeline must start with `agent none` so nothing is held while waiting"
    )


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_sh_step_runs_mlci_in_the_stage_image_or_an_agreed_node_command(path: Path):
    """mlci runs only in the stage image; on the node only the NODE_COMMANDS run."""
    for call, script in sh_calls(path):
        image = in_stage_image(effective_agent(call))
        for segment in re.split(r"&&|\|\||;|\||>", script):
            words = shlex.split(segment)
            if not words or segment.strip().startswith("build/"):
                continue
            if image:
                assert words[0] == "mlci" or tuple(words[:2]) in IMAGE_COMMANDS, (
                    f"{path.name}: sh '{script}' runs {words[0]!r} in the stage image; "
                    "stages run one mlci command"
                )
            else:
                assert any(tuple(words[: len(c)]) == c for c in NODE_COMMANDS), (
                    f"{path.name}: sh '{script}' runs on the node outside the stage image "
                    f"(mlci steps need `agent {{ docker {{ {STAGE_IMAGE}; reuseNode true }} }}`)"
                )
        if image:
            assert mlci_invocations(script), f"{path.name}: sh '{script}' runs no mlci command"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_the_stage_image_is_built_from_the_locks_on_the_node_first(path: Path):
    """Each top-level stage takes a Docker node, builds the stage image there with
    `mlci pipeline ci-image` before anything else, and runs its mlci steps in that image on the
    same node (reuseNode true under a parent with an agent). No `dockerfile` agent: its image
    is built when the agent is allocated, before a step could fill the wheelhouse."""
    text = path.read_text()
    assert "dockerfile {" not in text and "dockerfile{" not in text
    root, src = parse(path)
    build = function(path, "buildStageImage")
    profile = "dev" if path == TRAINING else "runtime"
    assert [s for s, _ in sh_scripts(path, build)] == [
        f"scripts/venv.sh {profile}",
        ".venv/bin/mlci pipeline ci-image --json",
    ]
    body = src[build.start_byte : build.end_byte].decode()
    assert "readJSON(text: sh(script: '.venv/bin/mlci pipeline ci-image --json'" in body
    assert "return built.image_id" in body
    tops = top_level_stages(path)
    assert tops
    for top in tops:
        name = string_value(top, top.first_arg())[0]
        assert own_agent(top) == NODE_AGENT, f"{path.name}: stage {name} needs {NODE_AGENT}"
        first, *rest = nested_stages(top)
        first_text = first.text()
        assert own_agent(first) is None and "env.CI_IMAGE = buildStageImage()" in first_text, (
            f"{path.name}: the first stage under {name} must build the stage image"
        )
        assert rest, f"{path.name}: stage {name} runs nothing after building the image"
        # the others run in the stage image, or on the node with no agent of their own (lint
        # and unit tests: dev tools); no mlci step runs outside the image (checked below)
        for st in rest:
            agent = own_agent(st)
            assert agent is None or in_stage_image(agent), (
                f"{path.name}: {string_value(st, st.first_arg())[0]} has agent {agent}"
            )
        assert any(in_stage_image(own_agent(st)) for st in rest)
    # buildStageImage runs only where the node's Docker Engine is at hand, never in the image
    for c in calls(root, src, "buildStageImage"):
        assert effective_agent(c) == NODE_AGENT
    # every mlci step is under some stage-image agent
    for call, script in sh_calls(path):
        if any(w[0] == "mlci" for w in map(shlex.split, re.split(r"&&|;|>", script)) if w):
            assert in_stage_image(effective_agent(call)), script
    assert set(node_side_scripts(path)) <= {
        f"scripts/venv.sh {profile}",
        ".venv/bin/mlci pipeline ci-image --json",
        "make lint",
        ".venv/bin/pytest tests/unit -q -p no:cacheprovider --junitxml=build/junit/unit.xml",
        "stat -c %g /var/run/docker.sock",
    }


def test_release_stages_reach_the_docker_engine_and_model_stages_decide_before_the_agent():
    ship = own_agent(stage(DEPLOY, "Ship"))
    assert ship is not None and in_stage_image(ship)
    assert "-v /var/run/docker.sock:/var/run/docker.sock" in ship
    assert "--group-add ${env.DOCKER_GID}" in ship
    assert "env.DOCKER_GID = dockerSocketGroup()" in stage(DEPLOY, "Stage image (release)").text()
    assert sh_scripts(DEPLOY, function(DEPLOY, "dockerSocketGroup")) == [
        ("stat -c %g /var/run/docker.sock", True)
    ]
    for title in ("Build image", "Push image", "Deploy staging", "Smoke test", "Promote"):
        st = stage(DEPLOY, title)
        assert own_agent(st) is None and same(
            ancestors(st, "stage")[0].node, stage(DEPLOY, "Ship").node
        )
    # the approval waits without a node: input is answered before the stage's agent starts
    assert own_agent(stage(DEPLOY, "Approval")) == NODE_AGENT
    model = stage(TRAINING, "Model")
    when = calls(model.closure(), model.src, "when")[0]
    assert "beforeAgent true" in model.text(when.node)
    assert in_stage_image(own_agent(model))


def test_every_mlci_command_exists_with_its_options():
    """Each mlci invocation resolves in the live Click tree, and its options exist there."""
    problems = []
    for filename, args in used_commands():
        try:
            path, leaf, rest = resolve(args)
        except (AssertionError, click.UsageError) as e:
            problems.append(f"{filename}: mlci {' '.join(args)}: {e}")
            continue
        known = {opt for p in leaf.params for opt in (*p.opts, *p.secondary_opts)}
        for word in rest:
            if word.startswith("--") and word.split("=")[0] not in known:
                problems.append(f"{filename}: mlci {' '.join(path)} has no option {word}")
    assert not problems, "\n".join(problems)


def test_the_pipelines_use_the_agreed_commands():
    joined = [" ".join(args) for _, args in used_commands()]
    for expected in (
        "data validate",
        "train",
        "evaluate",
        "model register",
        "model show",
        "model approve",
        "model build",
        "model push",
        "deploy staging",
        "deploy status",
        "deploy production",
        "ct check --trigger",
        "pipeline ci-image --json",
    ):
        assert any(j == expected or j.startswith(expected + " ") for j in joined), expected


def test_registration_is_guarded_to_main_and_names_the_version():
    register = stage(TRAINING, "Register")
    closure = register.closure()
    assert closure is not None
    when = calls(closure, register.src, "when")
    assert when, "stage Register needs a when block"
    guard = register.text(when[0].node)
    assert re.search(r"branch 'main'", guard)
    assert re.search(r"not \{ changeRequest\(\) \}", guard)
    assert [s for s, _ in sh_scripts(TRAINING, closure)] == [
        "mkdir -p build/register && mlci model register --json > build/register/model_version.json"
    ]
    body = register.text(closure)
    assert "currentBuild.description" in body
    assert "build/register/model_version.json" in body
    # nothing else in the training pipeline registers
    others = [s for s, _ in sh_scripts(TRAINING) if "model register" in s]
    assert len(others) == 1


def test_training_options_parameters_trigger_and_reports():
    text = TRAINING.read_text()
    for needle in (
        "timeout(",
        "timestamps()",
        "buildDiscarder(logRotator(",
        "disableConcurrentBuilds(abortPrevious: true)",
        "booleanParam(name: 'FORCE_RETRAIN'",
        "string(name: 'DATASET_VERSION'",
        "string(name: 'RETRAIN_REASON'",
        "cron(",
        NODE_AGENT,
    ):
        assert needle in text, needle
    root, src = parse(TRAINING)
    always = calls(root, src, "always")
    assert always, "post { always { ... } } is missing"
    body = Call("always", always[0].node, src).text()
    assert "junit" in body and "archiveArtifacts" in body
    for report in ("build/validate", "build/evaluate"):
        assert report in body


def test_deploy_approval_has_id_submitter_and_timeout():
    approval = stage(DEPLOY, "Approval")
    closure = approval.closure()
    assert closure is not None
    inputs = calls(closure, approval.src, "input")
    assert inputs, "the Approval stage needs an input directive"
    block = approval.text(inputs[0].node)
    assert re.search(r"\bid 'promote'", block)
    assert re.search(r"\bsubmitter 'ml-approvers'", block)
    assert re.search(r"\bsubmitterParameter 'APPROVER'", block)
    options = calls(closure, approval.src, "options")
    assert options and "timeout(" in approval.text(options[0].node), (
        "the approval stage's options need a timeout (it bounds the wait for the input)"
    )
    steps = approval.text(closure)
    assert "milestone(" in steps and "lock(" in steps
    assert sh_scripts(DEPLOY, closure) == [
        (
            'mlci model approve "$MODEL_NAME" "$MODEL_VERSION" --by "$APPROVER" --reason "$REASON"',
            True,
        )
    ]


def test_deploy_order_milestones_lock_and_gate_check():
    text = DEPLOY.read_text()
    order = [
        text.index(f"stage('{s}')")
        for s in (
            "Verify gate",
            "Approval",
            "Release",
            "Build image",
            "Push image",
            "Deploy staging",
            "Smoke test",
            "Promote",
        )
    ]
    assert order == sorted(order)
    assert "lock(resource: 'model-registry')" in text
    assert len(re.findall(r"milestone\(", text)) >= 2
    # the gate check spells the registry vocabulary exactly as ml/registry/tags.py does
    assert f"mv.tags['{tags.GATE_VERDICT}'] != '{tags.GateVerdict.PASSED}'" in text


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_no_secret_is_interpolated_by_groovy(path: Path):
    root, src = parse(path)
    secret_vars = set()
    for binding in calls(root, src, "usernamePassword") + calls(root, src, "string"):
        for m in re.finditer(
            r"(usernameVariable|passwordVariable|variable): '(\w+)'",
            Call("", binding.node, src).text(),
        ):
            secret_vars.add(m.group(2))
    for wc in calls(root, src, "withCredentials"):
        closure = wc.closure()
        assert closure is not None
        for script, single in sh_scripts(path, closure):
            assert single, (
                f'{path.name}: sh "{script}" inside withCredentials must be single-quoted'
            )
    for script, single in sh_scripts(path):
        if not single:
            leaked = [v for v in secret_vars if re.search(rf"\$\{{?{v}\b", script)]
            assert not leaked, f'{path.name}: Groovy interpolates {leaked} in sh "{script}"'
    assert "echo $MLCI_REGISTRY_PASSWORD" not in src.decode()


def test_credential_ids_match_casc_and_the_cli():
    ids = set()
    for path in ALL:
        ids |= set(re.findall(r"credentialsId: '([\w-]+)'", path.read_text()))
    known = {REGISTRY_CREDENTIALS_ID, MLFLOW_CREDENTIALS_ID, JENKINS_CREDENTIALS_ID}
    assert ids and ids <= known
    # casc.yaml manages no credentials (a JCasC apply replaces the whole global store);
    # `mlci jenkins credentials apply` creates these ids (tests/jenkins/test_credentials.py).
    assert "credentials" not in yaml.safe_load((REPO / "jenkins" / "casc.yaml").read_text())


def test_job_definitions_point_at_the_jenkinsfiles_and_declare_their_parameters(project):
    from ml.config import load_settings
    from ml.jenkins.jobs import load_definitions

    settings = load_settings(project, {"MLCI_JENKINS__SCM_URL": "https://git.example/r.git"})
    defs = {d.name: d.config_xml for d in load_definitions(settings, REPO / "jenkins" / "jobs")}
    assert set(defs) == {"ml/train", "ml/deploy", "ml/retrain"}
    for name, jenkinsfile in (
        ("ml/train", "Jenkinsfile"),
        ("ml/deploy", "jenkins/deploy.Jenkinsfile"),
        ("ml/retrain", "jenkins/retrain.Jenkinsfile"),
    ):
        assert f"<scriptPath>{jenkinsfile}</scriptPath>" in defs[name]
        assert (REPO / jenkinsfile).is_file()
    top = DEPLOY.read_text().split("stages {")[0]  # pipeline parameters, not the input's
    declared = re.findall(r"string\(name: '(\w+)'", top)
    in_xml = re.findall(r"<name>(\w+)</name>\s*<description>", defs["ml/deploy"])
    assert declared == in_xml == ["MODEL_NAME", "MODEL_VERSION"]
    assert f"<defaultValue>{settings.mlflow.model_name}</defaultValue>" in defs["ml/deploy"]
    assert f"defaultValue: '{settings.mlflow.model_name}'" in DEPLOY.read_text()
