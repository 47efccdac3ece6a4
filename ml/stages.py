"""The one list of pipeline stages every engine follows.

`mlci pipeline run` (ml/pipeline.py), the Jenkinsfiles (Jenkinsfile, jenkins/*.Jenkinsfile),
`.gitlab-ci.yml` and `.github/workflows/*.yml` all run these stages, in this order, with these
`mlci` commands; tests/ci/test_drift.py fails when any of them has a stage this list lacks or
lacks one it has (docs/other-ci.md).

A stage is one GitLab job and one GitHub Actions job, named `name`. Jenkins splits some of them
into several stages (one per command, so its stage view shows each): `jenkins` lists their
titles. A stage's `engines` says where it exists: the local runner has only the model stages
(no lint, no deploy); Jenkins alone has the rollback job (the other engines roll back with
`mlci deploy rollback` by hand, see docs/other-ci.md); the model tests (`mlci model test`) run
only locally, where `evaluate.tests` can be read before deciding to run them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ENGINES = ("local", "jenkins", "gitlab", "github")
# The GitLab `stages:` order (a stage's `group`); GitHub orders its jobs by `needs:` the same way.
GROUPS = ("test", "build", "validate", "train", "evaluate", "register", "deploy", "retrain")
ALL = frozenset(ENGINES)
CI = frozenset({"jenkins", "gitlab", "github"})


@dataclass(frozen=True)
class StageDef:
    """One stage: where it runs, what it runs, and its gates."""

    name: str  # GitLab job name and GitHub job id
    group: str  # GitLab stage (one of GROUPS)
    pipeline: str  # "train" (every push/MR), "deploy" (after register), "retrain" (schedule)
    commands: tuple[tuple[str, ...], ...] = ()  # the mlci argv lists it runs, in order
    jenkins: tuple[str, ...] = ()  # its Jenkins stage titles
    local: str | None = None  # its name in `mlci pipeline run` (--from/--to), if it is there
    engines: frozenset[str] = field(default=CI)
    main_only: bool = False  # only on the main branch, never on a merge/pull request
    manual: bool = False  # waits for an approver (Jenkins input, GitLab when: manual, GitHub
    #                       environment reviewers)
    environment: str | None = None  # the deployment environment it is bound to
    in_image: bool = True  # runs inside the stage image (else on the Docker-capable host)
    optional: str | None = None  # a setting that must be set for the stage to run

    def runs_on(self, engine: str) -> bool:
        return engine in self.engines


STAGES: tuple[StageDef, ...] = (
    StageDef(
        "lint",
        "test",
        "train",
        jenkins=("Lint and unit tests",),
        in_image=False,  # dev tools (.venv from locks/dev.txt), not the runtime image
    ),
    StageDef(
        "model-test",
        "test",
        "train",
        commands=(("model", "test"),),
        local="test",
        engines=frozenset({"local"}),
        optional="evaluate.tests",
    ),
    StageDef(
        "stage-image",
        "build",
        "train",
        commands=(("pipeline", "ci-image"),),
        jenkins=(
            "Stage image",
            "Stage image (gate)",
            "Stage image (approval)",
            "Stage image (release)",
            "Stage image (rollback)",
        ),
        in_image=False,  # it builds the image
    ),
    StageDef(
        "validate",
        "validate",
        "train",
        commands=(("data", "validate"),),
        jenkins=("Validate data",),
        local="validate",
        engines=ALL,
    ),
    StageDef(
        "train",
        "train",
        "train",
        commands=(("train",),),
        jenkins=("Train",),
        local="train",
        engines=ALL,
    ),
    StageDef(
        "evaluate",
        "evaluate",
        "train",
        commands=(("evaluate",),),
        jenkins=("Evaluate",),
        local="evaluate",
        engines=ALL,
    ),
    StageDef(
        "register",
        "register",
        "train",
        commands=(("model", "register"),),
        jenkins=("Register",),
        local="register",
        engines=ALL,
        main_only=True,
    ),
    StageDef(
        "deploy-staging",
        "deploy",
        "deploy",
        commands=(
            ("model", "show"),
            ("model", "build"),
            ("model", "push"),
            ("deploy", "staging"),
            ("deploy", "status", "staging"),
        ),
        jenkins=(
            "Check gate",
            "Record approval",
            "Build image",
            "Push image",
            "Deploy staging",
            "Smoke test",
        ),
        main_only=True,
        manual=True,
        environment="staging",
    ),
    StageDef(
        "deploy-production",
        "deploy",
        "deploy",
        commands=(("deploy", "production"),),
        jenkins=("Promote",),
        main_only=True,
        manual=True,
        environment="production",
    ),
    StageDef(
        "rollback",
        "deploy",
        "deploy",
        commands=(("deploy", "status"), ("deploy", "rollback")),
        jenkins=("Check rollback", "Roll back"),
        engines=frozenset({"jenkins"}),
        main_only=True,
        manual=True,
    ),
    StageDef(
        "retrain-check",
        "retrain",
        "retrain",
        commands=(("ct", "check"),),
        jenkins=("Check",),
    ),
)


def stages_for(engine: str) -> tuple[StageDef, ...]:
    """The stages `engine` has, in order."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r} (engines: {', '.join(ENGINES)})")
    return tuple(s for s in STAGES if s.runs_on(engine))


def local_stages() -> tuple[StageDef, ...]:
    """The stages of `mlci pipeline run`, in order."""
    return stages_for("local")


def local_names() -> tuple[str, ...]:
    """Their names as `mlci pipeline run --from/--to` spells them."""
    return tuple(s.local for s in local_stages() if s.local)
