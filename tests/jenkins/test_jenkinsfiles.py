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
    from tests.jenkins.double.declarative import apply_declared, read_declared

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
        after_run = apply_declared(rendered, read_declared(path.read_text(), {}))
        # a Declarative run changes none of what apply wrote (it may add other properties)
        assert same_config(after_run.decode(), defs[name]), name
        prop = "properties/hudson.model.ParametersDefinitionProperty"
        before, after = ET.fromstring(rendered).find(prop), ET.fromstring(after_run).find(prop)
        assert (before is None) == (after is None)
        if before is not None:
            assert ET.tostring(before) == ET.tostring(after), name
    assert "<spec>H 3 * * *</spec>" in defs["ml/ct/retrain"]
    declared = read_declared(DEPLOY.read_text(), {})
    assert [args["name"] for _, args in declared.parameters] == [
        "ACTION",
        "MODEL_NAME",
        "MODEL_VERSION",
        "ENVIRONMENT",
    ]
    assert f"<defaultValue>{settings.mlflow.model_name}</defaultValue>" in defs["ml/release/deploy"]


# ---------------------------------------------------------------- issue 9


def code(path: Path) -> str:
    """The Jenkinsfile without its // comments."""
    return re.sub(r"//[^\n]*", "", path.read_text())


def test_deploy_has_no_disable_concurrent_builds_and_serialises_with_lock_and_milestones():
    """disableConcurrentBuilds + a 3-day input kept every later deploy blocked in the queue."""
    text = DEPLOY.read_text()
    assert "disableConcurrentBuilds" not in code(DEPLOY)
    from tests.jenkins.double.declarative import read_declared

    assert read_declared(text, {}).no_concurrent is None
    for title in ("Release", "Rollback"):
        st = stage(DEPLOY, title)
        options = calls(st.closure(), st.src, "options")[0]
        assert re.search(r"lock\((resource: )?'model-registry'\)", st.text(options.node)), title
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
    from tests.jenkins.double.declarative import read_declared

    assert read_declared(RETRAIN.read_text(), {}).crons == ["H 3 * * *"]
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
    from tests.jenkins.double.declarative import read_declared

    declared = read_declared(TRAINING.read_text(), {"BRANCH_NAME": branch})
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
    assert creds and "jenkinsCredentials()" in check.text(creds[0].node)
    from ml.config import load_settings

    assert "127.0.0.1" not in code(RETRAIN)
    settings = load_settings(REPO / "mlci.yaml", {"MLCI_JENKINS__URL": "http://jenkins:8080/"})
    assert settings.jenkins.url == "http://jenkins:8080/"


def test_rollback_is_a_deploy_action_approved_like_a_deploy():
    from tests.jenkins.double.declarative import read_declared

    parameters = read_declared(DEPLOY.read_text(), {}).parameters
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
    _, src = parse(path)
    helper = src[
        function(path, "mlflowCredentials").start_byte : function(
            path, "mlflowCredentials"
        ).end_byte
    ]
    assert (
        b"usernamePassword(credentialsId: 'mlci-mlflow',\n"
        b"                             usernameVariable: 'MLFLOW_TRACKING_USERNAME',\n"
        b"                             passwordVariable: 'MLFLOW_TRACKING_PASSWORD')"
    ) in helper
    seen = 0
    for call, script in sh_calls(path):
        for args in mlci_invocations(script):
            if args and args[0] in MLFLOW_COMMANDS:
                seen += 1
                bound = [
                    wc
                    for wc in ancestors(call, "withCredentials")
                    if "mlflowCredentials()" in wc.text()[:80]
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
    _, src = parse(path)
    fn = function(path, "stateCredentials")
    helper = src[fn.start_byte : fn.end_byte]
    assert b"usernamePassword(credentialsId: 'mlci-state'" in helper
    assert b"passwordVariable: 'PGPASSWORD'" in helper
    seen = 0
    for call, script in sh_calls(path):
        for args in mlci_invocations(script):
            if tuple(args[:2]) in STATE_COMMANDS:
                seen += 1
                bound = [
                    wc
                    for wc in ancestors(call, "withCredentials")
                    if "stateCredentials()" in wc.text()[:200]
                ]
                assert bound, f"{path.name}: sh '{script}' uses shared state without mlci-state"
    assert seen
