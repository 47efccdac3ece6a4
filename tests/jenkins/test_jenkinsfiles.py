"""Structure of the pipelines, checked without a controller (tree-sitter-groovy parse).

The pipelines are the shared library's steps (vars/mlci*Pipeline.groovy); the repository's
Jenkinsfiles are library calls loading it from the revision being built (checked below).

Every `sh` step must run an mlci command that exists in the live Click tree (with options the
command has), mlci runs only inside the stage image, which each pipeline builds first on a
Docker node from the locks with `mlci pipeline ci-image`; registration is guarded to main, the
deploy pipeline's approval has an id, a submitter group and a timeout, and no secret can be
interpolated by Groovy.
"""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
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
    STATE_CREDENTIALS_ID,
)
from ml.registry import tags
from tests.conftest import REPO

VARS = REPO / "vars"
TRAINING = VARS / "mlciTrainingPipeline.groovy"
DEPLOY = VARS / "mlciDeployPipeline.groovy"
RETRAIN = VARS / "mlciRetrainPipeline.groovy"
ALL = [TRAINING, DEPLOY, RETRAIN]
STAGE_IMAGE_STEP = VARS / "mlciStageImage.groovy"
CREDENTIALS_STEP = VARS / "mlciCredentials.groovy"
# The repository's Jenkinsfiles and the library step each one calls.
JENKINSFILES = {
    REPO / "Jenkinsfile": TRAINING,
    REPO / "jenkins" / "deploy.Jenkinsfile": DEPLOY,
    REPO / "jenkins" / "retrain.Jenkinsfile": RETRAIN,
}
# Inside the stage image a stage runs mlci, and mkdir -p for an output folder; nothing else.
IMAGE_COMMANDS = {("mkdir", "-p")}
# On the Docker node itself (outside the stage image) only these run: the venv and the stage
# image build, the lint and unit-test entry points (dev tools), the Docker socket's group id.
NODE_COMMANDS = {
    ("scripts/venv.sh", "dev"),
    ("scripts/venv.sh", "runtime"),
    # a user's repository: mlci from the mlciInstall option (pip), see mlciStageImage
    ("python3", "-m", "venv", ".venv"),
    (".venv/bin/pip", "install"),
    (".venv/bin/mlci", "pipeline", "ci-image"),
    ("make", "lint"),
    (".venv/bin/pytest", "tests/unit"),
    ("stat", "-c", "%g", "/var/run/docker.sock"),
}
# The agent of every stage that runs mlci: the image id mlciStageImage() recorded, same node.
STAGE_IMAGE = 'image "${env.CI_IMAGE}"'
NODE_AGENT = 'agent { label "${cfg.agentLabel}" }'


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
    script = re.sub(r"\\\n\s*", " ", script)  # a shell line continuation
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
        if n.type in ("function_definition", "method_declaration"):
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


def bound_purposes(with_credentials: Call) -> list[str]:
    """The purposes a `withCredentials(mlciCredentials([...]))` binds."""
    head = with_credentials.text().split("{", 1)[0]
    m = re.search(r"mlciCredentials\(\[([^\]]*)\]\)", head)
    return re.findall(r"'(\w+)'", m.group(1)) if m else []


def purpose_ids() -> dict[str, str]:
    """purpose -> credential id, from vars/mlciCredentials.groovy (case 'x': credentialsId)."""
    text = CREDENTIALS_STEP.read_text()
    return dict(re.findall(r"case '(\w+)':.*?credentialsId: '([\w-]+)'", text, re.S))


def used_commands() -> list[tuple[str, list[str]]]:
    out = []
    for path in [*ALL, STAGE_IMAGE_STEP]:
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
    assert re.search(
        r"^void call\(Map config\) \{\n    Map cfg = mlciOptions\(config, '(\w+)', \[[^\]]*\]\)\n"
        r"    pipeline \{\n        agent none\n",
        src.decode(),
        re.M,
    ), (
        f"{path.name}: the step checks its options, then its pipeline starts with `agent none` "
        "so nothing is held while waiting"
    )
    assert f"mlciOptions(config, '{path.stem}'" in src.decode()


@pytest.mark.parametrize("jenkinsfile", list(JENKINSFILES), ids=lambda p: p.name)
def test_the_repositorys_jenkinsfiles_call_the_library_from_the_revision_built(jenkinsfile: Path):
    """One definition: each Jenkinsfile is a library call, and mlci's own builds load the
    library from the revision being built (so a pull request tests its own vars/)."""
    lines = [ln for ln in jenkinsfile.read_text().splitlines() if ln.strip()]
    assert len(lines) == 3 and lines[0].startswith("//")
    assert lines[1] == "library(identifier: 'mlci@build', retriever: legacySCM(scm))"
    step = JENKINSFILES[jenkinsfile].stem
    assert re.fullmatch(rf"{step}\(project: 'mlci'(, \w+: [^,]+)*\)", lines[2]), lines[2]
    assert (VARS / f"{step}.txt").is_file(), f"vars/{step}.txt: the step's help"
    root, src = parse(jenkinsfile)
    assert not root.has_error and not calls(root, src, "pipeline")


def test_every_library_step_has_a_help_file_and_parses():
    steps = sorted(VARS.glob("*.groovy"))
    assert {p.stem for p in ALL} | {STAGE_IMAGE_STEP.stem, CREDENTIALS_STEP.stem} <= {
        p.stem for p in steps
    }
    for path in steps:
        assert (VARS / f"{path.stem}.txt").is_file(), f"{path.name} has no help file"
        root, src = parse(path)
        assert not root.has_error, f"{path}: tree-sitter-groovy could not parse it"
        assert function(path, "call") is not None
    # every step a pipeline calls exists in vars/
    for path in ALL:
        root, src = parse(path)
        for c in calls(root, src):
            if c.name.startswith("mlci"):
                assert (VARS / f"{c.name}.groovy").is_file(), f"{path.name}: {c.name}()"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_sh_step_runs_mlci_in_the_stage_image_or_an_agreed_node_command(path: Path):
    """mlci runs only in the stage image; on the node only the NODE_COMMANDS run."""
    for call, script in sh_calls(path):
        image = in_stage_image(effective_agent(call))
        for segment in re.split(r"&&|\|\||;|\||>", re.sub(r"\\\n\s*", " ", script)):
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
    build = function(STAGE_IMAGE_STEP, "call")
    profile = "dev" if path == TRAINING else "runtime"
    step_src = STAGE_IMAGE_STEP.read_bytes()
    # mlci from the mlciInstall option (a user's repository), else this checkout's venv.sh
    assert [s for s, _ in sh_scripts(STAGE_IMAGE_STEP, build)] == [
        "python3 -m venv .venv && .venv/bin/pip install --quiet "
        '${MLCI_CONSTRAINTS:+-c "$MLCI_CONSTRAINTS"} "$MLCI_INSTALL"',
        "scripts/venv.sh dev",
        "scripts/venv.sh runtime",
        ".venv/bin/mlci pipeline ci-image --json",
    ]
    body = step_src[build.start_byte : build.end_byte].decode()
    assert "readJSON(text: sh(script: '.venv/bin/mlci pipeline ci-image --json'" in body
    assert "return built.image_id" in body
    assert "if (cfg.mlciInstall) {" in body and "} else if (profile == 'dev') {" in body
    tops = top_level_stages(path)
    assert tops
    for top in tops:
        name = string_value(top, top.first_arg())[0]
        assert own_agent(top) == NODE_AGENT, f"{path.name}: stage {name} needs {NODE_AGENT}"
        first, *rest = nested_stages(top)
        first_text = first.text()
        assert own_agent(first) is None and (
            f"env.CI_IMAGE = mlciStageImage(cfg, '{profile}')" in first_text
        ), f"{path.name}: the first stage under {name} must build the stage image"
        assert rest, f"{path.name}: stage {name} runs nothing after building the image"
        # the others run in the stage image, or on the node with no agent of their own (lint
        # and unit tests: dev tools); no mlci step runs outside the image (checked below)
        for st in rest:
            agent = own_agent(st)
            assert agent is None or in_stage_image(agent), (
                f"{path.name}: {string_value(st, st.first_arg())[0]} has agent {agent}"
            )
        assert any(in_stage_image(own_agent(st)) for st in rest)
    # mlciStageImage runs only where the node's Docker Engine is at hand, never in the image
    for c in calls(root, src, "mlciStageImage"):
        assert effective_agent(c) == NODE_AGENT
    # every mlci step is under some stage-image agent
    for call, script in sh_calls(path):
        if any(w[0] == "mlci" for w in map(shlex.split, re.split(r"&&|;|>", script)) if w):
            assert in_stage_image(effective_agent(call)), script
    assert set(node_side_scripts(path)) <= {
        "make lint",
        ".venv/bin/pytest tests/unit -q -p no:cacheprovider --junitxml=build/junit/unit.xml",
        "stat -c %g /var/run/docker.sock",
    }


def test_release_stages_reach_the_docker_engine_and_model_stages_decide_before_the_agent():
    ship = own_agent(stage(DEPLOY, "Ship"))
    assert ship is not None and in_stage_image(ship)
    assert "-v /var/run/docker.sock:/var/run/docker.sock" in ship
    assert "--group-add ${env.DOCKER_GID}" in ship
    assert (
        "env.DOCKER_GID = mlciStageImage.dockerSocketGroup()"
        in stage(DEPLOY, "Stage image (release)").text()
    )
    assert sh_scripts(STAGE_IMAGE_STEP, function(STAGE_IMAGE_STEP, "dockerSocketGroup")) == [
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
    # No `when`: the training cache of `mlci train` decides (no changeset guess).
    whens = [model.text(c.node) for c in calls(model.closure(), model.src, "when")]
    assert all("branch 'main'" in w for w in whens)  # only Register's
    assert "changeset" not in code(TRAINING) and "previousSuccessfulBuild" not in code(TRAINING)
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


def test_training_options_parameters_and_reports():
    text = TRAINING.read_text()
    for needle in (
        "timeout(",
        "timestamps()",
        "buildDiscarder(logRotator(",
        "booleanParam(name: 'FORCE_RETRAIN'",
        "string(name: 'DATASET_VERSION'",
        "string(name: 'RETRAIN_REASON'",
        NODE_AGENT,
    ):
        assert needle in text, needle
    root, src = parse(TRAINING)
    always = calls(root, src, "always")
    assert always, "post { always { ... } } is missing"
    body = Call("always", always[-1].node, src).text()
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
    # the approvers' user ids from the controller's global env (jenkins/casc.yaml): the local
    # realm gives its users no group, so a group name would let nobody approve
    assert re.search(r'\bsubmitter "\$\{env\.MLCI_APPROVERS\}"', block)
    assert re.search(r"\bsubmitterParameter 'APPROVER'", block)
    options = calls(closure, approval.src, "options")
    assert options and "timeout(" in approval.text(options[0].node), (
        "the approval stage's options need a timeout (it bounds the wait for the input)"
    )
    steps = approval.text(closure)
    assert "milestone(" in steps and "lock(" in steps
    # the proof of the approval is this build's answered input (approval helper's
    # ml/registry/proofs/jenkins.py checks it through the Jenkins API)
    ((script, single_quoted),) = sh_scripts(DEPLOY, closure)
    assert single_quoted
    assert mlci_invocations(script) == [
        [
            "model",
            "approve",
            "$MODEL_NAME",
            "$MODEL_VERSION",
            "--jenkins-build",
            "$BUILD_URL",
            "--input-id",
            "Promote",
            "--by",
            "$APPROVER",
            "--reason",
            "$REASON",
        ]
    ]
    from ml.jenkins.builds import input_id

    assert input_id("promote") == "Promote"  # the Id Jenkins gives `id 'promote'`
    # a discarded build no longer vouches for the approval: keep it
    assert "currentBuild.keepLog = true" in steps


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
    # the project's own lock: two projects on one controller never wait for each other
    assert 'lock(resource: "${cfg.project}-model-registry")' in text
    assert "'model-registry'" not in text
    assert len(re.findall(r"milestone\(", text)) >= 2
    # the gate check spells the registry vocabulary exactly as ml/registry/tags.py does
    assert f"mv.tags['{tags.GATE_VERDICT}'] != '{tags.GateVerdict.PASSED}'" in text


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_no_secret_is_interpolated_by_groovy(path: Path):
    root, src = parse(path)
    secret_vars = set()
    cred_root, cred_src = parse(CREDENTIALS_STEP)
    for binding in calls(cred_root, cred_src, "usernamePassword"):
        for m in re.finditer(
            r"(usernameVariable|passwordVariable|variable): '(\w+)'",
            Call("", binding.node, cred_src).text(),
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
    ids = set(purpose_ids().values())
    assert set(purpose_ids()) == {"mlflow", "state", "registry", "jenkins"}
    for path in ALL:
        assert "credentialsId" not in path.read_text(), f"{path.name}: use mlciCredentials"
        root, src = parse(path)
        for wc in calls(root, src, "withCredentials"):
            assert set(bound_purposes(wc)) <= set(purpose_ids()), wc.text()[:80]
    known = {
        REGISTRY_CREDENTIALS_ID,
        MLFLOW_CREDENTIALS_ID,
        JENKINS_CREDENTIALS_ID,
        STATE_CREDENTIALS_ID,
    }
    assert ids and ids <= known
    # casc.yaml manages no credentials (a JCasC apply replaces the whole global store);
    # `mlci jenkins credentials apply` creates these ids (tests/jenkins/test_credentials.py).
    assert "credentials" not in yaml.safe_load((REPO / "jenkins" / "casc.yaml").read_text())


def test_job_definitions_point_at_the_jenkinsfiles_and_take_their_parameters(project):
    """One definition (issue 9, item 6): the job files declare no parameters or timers; the
    rendered config.xml carries exactly what Declarative writes from the Jenkinsfile (read here
    by the double's independent tree-sitter reader)."""
    from ml.config import load_settings
    from ml.jenkins.jobs import load_definitions, same_config
    from tests.jenkins.conftest import link_pipelines
    from tests.jenkins.double.declarative import apply_declared

    link_pipelines(project.parent)
    settings = load_settings(project, {"MLCI_JENKINS__SCM_URL": "https://git.example/r.git"})
    defs = {d.name: d.config_xml for d in load_definitions(settings, REPO / "jenkins" / "jobs")}
    # deploy and retrain in their own folders: the credentials scoped to them (jenkins-ctl)
    assert set(defs) == {"ml/train", "ml/release/deploy", "ml/ct/retrain"}
    for name, jenkinsfile in (
        ("ml/train", "Jenkinsfile"),
        ("ml/release/deploy", "jenkins/deploy.Jenkinsfile"),
        ("ml/ct/retrain", "jenkins/retrain.Jenkinsfile"),
    ):
        assert f"<scriptPath>{jenkinsfile}</scriptPath>" in defs[name]
        assert (REPO / jenkinsfile).is_file()
    for path in (REPO / "jenkins" / "jobs").rglob("*.xml"):
        props = ET.fromstring(path.read_bytes()).find("properties")
        assert props is None or len(props) == 0, f"{path.name} defines job properties"
    for name, path in (("ml/release/deploy", DEPLOY), ("ml/ct/retrain", RETRAIN)):
        rendered = defs[name].split("\n", 1)[1].encode()  # without the XML declaration
        after_run = apply_declared(rendered, declared_by(path, {}))
        # a Declarative run changes none of what apply wrote (it may add other properties)
        assert same_config(after_run.decode(), defs[name]), name
        prop = "properties/hudson.model.ParametersDefinitionProperty"
        before, after = ET.fromstring(rendered).find(prop), ET.fromstring(after_run).find(prop)
        assert (before is None) == (after is None)
        if before is not None:
            assert ET.tostring(before) == ET.tostring(after), name
    assert "<spec>H 3 * * *</spec>" in defs["ml/ct/retrain"]
    declared = declared_by(DEPLOY, {})
    assert [args["name"] for _, args in declared.parameters] == [
        "ACTION",
        "MODEL_NAME",
        "MODEL_VERSION",
        "ENVIRONMENT",
    ]
    assert f"<defaultValue>{settings.mlflow.model_name}</defaultValue>" in defs["ml/release/deploy"]


# ---------------------------------------------------------------- issue 9


def declared_by(path: Path, env: dict[str, str]):
    """What a build of the repository's Jenkinsfile that calls this step declares (read by the
    double's independent reader, with the call's options)."""
    from tests.jenkins.double.declarative import OPTIONS, library_call, read_declared

    jenkinsfile = next(j for j, step in JENKINSFILES.items() if step == path)
    call = library_call(jenkinsfile.read_text())
    assert call is not None and call.step == path.stem
    return read_declared(path.read_text(), {**env, OPTIONS: call.options})


def code(path: Path) -> str:
    """The Jenkinsfile without its // comments."""
    return re.sub(r"//[^\n]*", "", path.read_text())


def test_deploy_has_no_disable_concurrent_builds_and_serialises_with_lock_and_milestones():
    """disableConcurrentBuilds + a 3-day input kept every later deploy blocked in the queue."""
    text = DEPLOY.read_text()
    assert "disableConcurrentBuilds" not in code(DEPLOY)
    assert declared_by(DEPLOY, {}).no_concurrent is None
    for title in ("Release", "Rollback"):
        st = stage(DEPLOY, title)
        options = calls(st.closure(), st.src, "options")[0]
        assert re.search(
            r'lock\((resource: )?"\$\{cfg\.project\}-model-registry"\)', st.text(options.node)
        ), title
    ordinals = [int(m) for m in re.findall(r"milestone\(ordinal: (\d+)", text)]
    assert sorted(set(ordinals)) == [10, 20, 30]


def test_deploy_cannot_be_restarted_past_its_approval():
    """Restart from Stage (any user with Job/Build) would start a build after Approval."""
    assert "disableRestartFromStage()" in code(DEPLOY)


def test_scheduled_retraining_happens_only_when_the_ct_check_asks():
    """The training pipeline has no timer (it retrained every night whatever the check said);
    the retrain job's cron runs `mlci ct check --trigger`, which queues training on exit 10."""
    training = code(TRAINING)
    assert "cron(" not in training and "triggers {" not in training
    assert "TimerTrigger" not in training
    assert declared_by(RETRAIN, {}).crons == ["H 3 * * *"]
    check = stage(RETRAIN, "Check")
    body = check.text()
    assert "sh(script: 'mlci ct check --trigger', returnStatus: true)" in body
    assert "if (status == 10)" in body and "error(" in body
    # the queued build trains because the check says so (ml/ct/check.py: FORCE_RETRAIN=true)
    assert "withEnv(datasetEnv() + trainEnv())" in stage(TRAINING, "Train").text()
    assert '"FORCE_RETRAIN=${params.FORCE_RETRAIN}"' in code(TRAINING)  # ml.cache.key
    import inspect

    from ml.ct import check as ct

    assert '"FORCE_RETRAIN": "true"' in inspect.getsource(ct.trigger_training)


@pytest.mark.parametrize(("branch", "aborts"), [("main", False), ("feature/x", True)])
def test_a_main_build_is_never_aborted_by_a_newer_one(branch: str, aborts: bool):
    """abortPrevious on main could kill a build inside Register; evaluated per branch by the
    double's reading of the options (as Declarative evaluates them at run time)."""
    declared = declared_by(TRAINING, {"BRANCH_NAME": branch})
    assert declared.no_concurrent is not None
    assert declared.no_concurrent.get("abortPrevious") is aborts


def test_retrain_reaches_the_controller_at_the_builds_jenkins_url():
    """Inside an agent 127.0.0.1 is the agent: the ct check gets JENKINS_URL (JCasC
    location.url) as jenkins.url through MLCI_JENKINS__URL."""
    check = stage(RETRAIN, "Check")
    (call,) = [c for c, s in sh_calls(RETRAIN) if "ct check" in s]
    envs = ancestors(call, "withEnv")
    assert envs and 'withEnv(["MLCI_JENKINS__URL=${env.JENKINS_URL}"])' in check.text(envs[-1].node)
    creds = ancestors(call, "withCredentials")
    assert creds and "jenkins" in bound_purposes(creds[0])
    from ml.config import load_settings

    assert "127.0.0.1" not in code(RETRAIN)
    settings = load_settings(REPO / "mlci.yaml", {"MLCI_JENKINS__URL": "http://jenkins:8080/"})
    assert settings.jenkins.url == "http://jenkins:8080/"


def test_rollback_is_a_deploy_action_approved_like_a_deploy():
    parameters = declared_by(DEPLOY, {}).parameters
    declared = {args["name"]: (kind, args) for kind, args in parameters}
    assert declared["ACTION"][0] == "choice" and declared["ACTION"][1]["choices"] == [
        "deploy",
        "rollback",
    ]
    assert declared["ENVIRONMENT"][0] == "choice"
    assert set(declared["ENVIRONMENT"][1]["choices"]) <= set(
        yaml.safe_load((REPO / "mlci.yaml").read_text())["environments"]
    )
    text = DEPLOY.read_text()
    order = [
        text.index(f"stage('{s}')") for s in ("Verify gate", "Approval", "Release", "Rollback")
    ]
    assert order == sorted(order)
    for title, action in (("Release", "deploy"), ("Rollback", "rollback")):
        st = stage(DEPLOY, title)
        when = st.text(calls(st.closure(), st.src, "when")[0].node)
        assert f"expression {{ params.ACTION == '{action}' }}" in when
        assert "beforeOptions true" in when  # no lock or node taken when skipped
    roll = stage(DEPLOY, "Roll back")
    assert sh_scripts(DEPLOY, roll.closure()) == [('mlci deploy rollback "$ENVIRONMENT"', True)]
    assert in_stage_image(own_agent(roll))
    assert "-v /var/run/docker.sock:/var/run/docker.sock" in own_agent(roll)


def test_the_approval_input_shows_the_facts_from_mlci():
    """The input's message is what `mlci jenkins approval-message` made of `mlci model show
    --json` (or of `mlci deploy status --json` for a rollback), with the report link."""
    approval = stage(DEPLOY, "Approval")
    block = approval.text(calls(approval.closure(), approval.src, "input")[0].node)
    assert re.search(r'\bmessage "\$\{env\.APPROVAL_MESSAGE\}"', block)
    for title, source in (
        (
            "Check gate",
            'mlci model show "$MODEL_NAME" "$MODEL_VERSION" --json >build/deploy/version.json',
        ),
        ("Check rollback", 'mlci deploy status "$ENVIRONMENT" --json >build/deploy/status.json'),
    ):
        st = stage(DEPLOY, title)
        scripts = [s for s, _ in sh_scripts(DEPLOY, st.closure())]
        assert any(s.endswith(source) for s in scripts), title
        made = [s for s in scripts if "approval-message" in s]
        assert len(made) == 1 and made[0].endswith(">build/deploy/approval.txt")
        assert source.split(">")[-1] in made[0]
        assert "env.APPROVAL_MESSAGE = readFile('build/deploy/approval.txt').trim()" in st.text()
    # the link goes to the page publishHTML makes in the training build
    from ml.jenkins.approval_message import REPORT_PAGE

    assert f"reportName: '{REPORT_PAGE}'" in TRAINING.read_text()
    # `mlci model register` in the Register stage keeps the build's URL (Jenkins sets BUILD_URL)
    from ml.cli.model import register

    (option,) = [p for p in register.params if p.name == "build_url"]
    assert option.envvar == "BUILD_URL"


def test_training_publishes_jenkins_native_results():
    _, src = parse(TRAINING)
    ci_post = Call("always", calls(stage(TRAINING, "CI").closure(), src, "always")[-1].node, src)
    body = ci_post.text()
    publish = calls(ci_post.node, src, "publishHTML")
    assert len(publish) == 1
    target = publish[0].text()
    for needle in (
        "reportDir: 'build/evaluate'",
        "reportFiles: 'report.html'",
        "keepAll: true",
        "allowMissing: true",
    ):
        assert needle in target, needle
    issues = calls(ci_post.node, src, "recordIssues")
    assert len(issues) == 1
    tools = issues[0].text()
    assert "analysisParser(analysisModelId: 'ruff', pattern: 'build/lint/ruff.json')" in tools
    assert "hadoLint(pattern: 'build/lint/hadolint.json')" in tools
    assert "pattern: 'build/lint/shellcheck.xml'" in tools and "checkStyle(" in tools
    assert "junit" in body
    # the lint stage asks scripts/lint.sh for those reports
    lint = stage(TRAINING, "Lint and unit tests")
    assert "withEnv(['LINT_REPORTS=build/lint'])" in lint.text()
    assert 'scripts/lint-reports.sh "$LINT_REPORTS"' in (REPO / "scripts/lint.sh").read_text()
    # the description names the verdict (Evaluate, also on a failed gate) and the version
    evaluate = stage(TRAINING, "Evaluate").text()
    assert "currentBuild.description = gateVerdict()" in evaluate
    assert "always" in evaluate
    register = stage(TRAINING, "Register").text()
    assert (
        "${registered.name} version ${registered.version} registered; ${gateVerdict()}" in register
    )
    verdict = src[
        function(TRAINING, "gateVerdict").start_byte : function(TRAINING, "gateVerdict").end_byte
    ]
    assert b"build/evaluate/metrics.json" in verdict and b".verdict" in verdict


# mlci commands that talk to MLflow (the tracking server or the registry)
MLFLOW_COMMANDS = ("train", "evaluate", "model", "deploy", "ct")


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_mlflow_step_binds_the_mlflow_credential(path: Path):
    helper = CREDENTIALS_STEP.read_text()
    mlflow = helper.split("case 'mlflow':", 1)[1].split("case ", 1)[0]
    assert (
        "return usernamePassword(credentialsId: 'mlci-mlflow',\n"
        "                                    usernameVariable: 'MLFLOW_TRACKING_USERNAME',\n"
        "                                    passwordVariable: 'MLFLOW_TRACKING_PASSWORD')"
    ) in mlflow
    seen = 0
    for call, script in sh_calls(path):
        for args in mlci_invocations(script):
            if args and args[0] in MLFLOW_COMMANDS:
                seen += 1
                bound = [
                    wc
                    for wc in ancestors(call, "withCredentials")
                    if "mlflow" in bound_purposes(wc)
                ]
                assert bound, f"{path.name}: sh '{script}' talks to MLflow without mlci-mlflow"
                assert string_value(call, call.first_arg())[1], (
                    f"{path.name}: '{script}' not single-quoted"
                )
    assert seen
    # the tracking URI is the controller's global env (casc.yaml), never set in a pipeline
    assert "MLCI_MLFLOW__TRACKING_URI" not in code(path)


# mlci commands that move an alias, take a lock or read/write the deploy history (ml/state/):
# with state.url (the team PostgreSQL) they need its password, bound as mlci-state.
STATE_COMMANDS = {
    ("model", "register"),
    ("model", "approve"),
    ("model", "promote"),
    ("deploy", "staging"),
    ("deploy", "production"),
    ("deploy", "rollback"),
    ("deploy", "status"),
}


@pytest.mark.parametrize("path", [TRAINING, DEPLOY], ids=lambda p: p.name)
def test_every_shared_state_step_binds_the_state_credential(path: Path):
    """Without it a team's deploy (history and lock in PostgreSQL) fails on a real controller."""
    assert purpose_ids()["state"] == STATE_CREDENTIALS_ID
    helper = CREDENTIALS_STEP.read_text().split("case 'state':", 1)[1].split("case ", 1)[0]
    assert "usernamePassword(credentialsId: 'mlci-state'" in helper
    assert "passwordVariable: 'PGPASSWORD'" in helper
    seen = 0
    for call, script in sh_calls(path):
        for args in mlci_invocations(script):
            if tuple(args[:2]) in STATE_COMMANDS:
                seen += 1
                bound = [
                    wc for wc in ancestors(call, "withCredentials") if "state" in bound_purposes(wc)
                ]
                assert bound, f"{path.name}: sh '{script}' uses shared state without mlci-state"
    assert seen
