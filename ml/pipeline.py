"""The local pipeline runner: validate -> train -> evaluate -> register, in order.

A stage is just an `mlci` argv list, the same command a Jenkins stage runs. An executor turns
an argv into an exit code:

- `InProcessExecutor` (the default, `--executor local`) runs every stage in this process through
  a callable the CLI layer provides. One process means MLflow, pandas and scikit-learn are
  imported once, the dataset CSV is parsed once, and the model just fitted is evaluated without
  a round trip through the artifact store: on the 1M-row benchmark that is the difference
  between about 1.1x and 1.6x the cost of a bare scikit-learn fit (see benchmarks/README.md).
- `SubprocessExecutor` runs `python -m ml <argv>` per stage, isolating stages at the cost of
  re-imports; a `DockerExecutor` can wrap the same argv in `docker run IMAGE mlci ...`, which is
  all a container executor needs to add.

The runner stops at the first failing stage and reports its exit code.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ml.config import Settings
from ml.errors import InputError
from ml.session import Session
from ml.stages import local_names, local_stages

# The stages and their order come from ml/stages.py, the one list every CI engine follows
# (`test`, the project's own model tests, runs only when evaluate.tests is set).
STAGES = local_names()


@dataclass(frozen=True)
class Stage:
    name: str
    argv: tuple[str, ...]


@dataclass
class StageResult:
    name: str
    status: str  # "passed" | "failed" | "skipped" | "not run" | "cached"
    exit_code: int | None = None
    seconds: float = 0.0


@dataclass
class PipelineResult:
    stages: list[StageResult] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return next((s.exit_code or 0 for s in self.stages if s.status == "failed"), 0)

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.stages)

    def table(self) -> str:
        """A fixed-width summary: stage, status, exit code, seconds."""
        rows = [("stage", "status", "exit", "seconds")]
        for s in self.stages:
            rows.append(
                (
                    s.name,
                    s.status,
                    "" if s.exit_code is None else str(s.exit_code),
                    f"{s.seconds:.1f}" if s.status in ("passed", "failed") else "",
                )
            )
        rows.append(
            (
                "total",
                "passed" if self.passed else "failed",
                str(self.exit_code),
                f"{self.seconds:.1f}",
            )
        )
        from ml.common import format_table

        return format_table(rows, rule_after_header=True)

    def to_dict(self) -> dict:
        return {
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
            "stages": [s.__dict__ for s in self.stages],
        }


class Executor(Protocol):
    def run(self, stage: Stage) -> int:
        """Run the stage's mlci argv and return its exit code."""


class InProcessExecutor:
    """Runs stages in this process via `invoke(argv) -> exit code` (given by the CLI layer).

    `start` runs a stage in a child process instead, so the runner can prepare the next stage
    here meanwhile (see `run_pipeline`).
    """

    def __init__(
        self,
        invoke: Callable[[list[str], Session], int],
        config_path: str | None = None,
        session: Session | None = None,
    ):
        self.invoke = invoke
        self.config_path = config_path
        self.session = session or Session()

    def run(self, stage: Stage) -> int:
        prefix = ["--config", self.config_path] if self.config_path else []
        return self.invoke([*prefix, *stage.argv], self.session)

    def start(self, stage: Stage) -> subprocess.Popen:
        prefix = ["--config", self.config_path] if self.config_path else []
        return subprocess.Popen([sys.executable, "-m", "ml", *prefix, *stage.argv])


class SubprocessExecutor:
    """Runs each stage as `python -m ml <argv>`: isolated, slower (imports repeat per stage)."""

    def __init__(self, config_path: str | None = None):
        self.config_path = config_path

    def run(self, stage: Stage) -> int:
        prefix = ["--config", self.config_path] if self.config_path else []
        return subprocess.run([sys.executable, "-m", "ml", *prefix, *stage.argv]).returncode


def plan(
    settings: Settings,
    dataset: str | None = None,
    start: str | None = None,
    stop: str | None = None,
) -> tuple[list[Stage], list[str]]:
    """The stages from `start` to `stop` (inclusive) and the names of those left out.

    A stage of ml/stages.py with an `optional` setting (the model tests: evaluate.tests) is
    one only when that setting is set."""
    present = [s.local for s in local_stages() if s.local and _is_set(settings, s.optional)]
    for label, value in (("--from", start), ("--to", stop)):
        if value is not None and value not in present:
            raise InputError(f"{label} {value}: unknown stage (stages: {', '.join(present)})")
    i = present.index(start) if start else 0
    j = present.index(stop) if stop else len(present) - 1
    if i > j:
        raise InputError(f"--from {start} comes after --to {stop} (order: {' -> '.join(present)})")
    data_args: tuple[str, ...] = ()
    if dataset:
        from ml.data.dataset import resolve_dataset

        data_args = (str(resolve_dataset(settings, dataset).path),)
    argv = {s.local: s.commands[0] for s in local_stages() if s.local}
    argv["validate"] = (*argv["validate"], *data_args)
    argv["train"] = (*argv["train"], *(("--dataset", *data_args) if data_args else ()))
    chosen = [Stage(n, argv[n]) for n in present[i : j + 1]]
    return chosen, [n for n in present if n not in present[i : j + 1]]


def _is_set(settings: Settings, dotted: str | None) -> bool:
    """Whether the setting a stage needs (ml/stages.py `optional`, e.g. evaluate.tests) is set."""
    node: object = settings
    for part in (dotted or "").split(".") if dotted else ():
        node = getattr(node, part, None)
    return node is not None


def _quietly(fn: Callable[[], object]) -> None:
    with contextlib.suppress(Exception):  # the stage meets the same error and reports it
        fn()


def run_pipeline(
    stages: Sequence[Stage],
    executor: Executor,
    skipped: Sequence[str] = (),
    say: Callable[[str], None] = lambda _m: None,
    prepare: dict[str, Sequence[Callable[[], object]]] | None = None,
) -> PipelineResult:
    """Run `stages` in order, stopping at the first non-zero exit code.

    `prepare[name]` is work for stage `name` (callables run in parallel threads) that records
    nothing (imports, connecting, reading
    and splitting data, fitting in memory). When the executor can `start` the stage before it in
    a child process, the runner does that work in a thread here while the child runs, using the
    machine's other core(s). The stage itself (its MLflow run, artifacts, outputs) still starts
    only after its predecessor passed; if the predecessor fails the runner reports at once and
    the prepared work is dropped. Preparation errors are ignored: the stage meets them again
    and reports them itself.
    """
    prepare = prepare or {}
    result = PipelineResult()
    by_name = {s.name: s for s in stages}
    failed = False
    for name in STAGES:
        if name in skipped:
            result.stages.append(StageResult(name, "skipped"))
            continue
        stage = by_name.get(name)
        if stage is None:
            continue
        if failed:
            result.stages.append(StageResult(name, "not run"))
            continue
        say(f"==> {name}: mlci {' '.join(stage.argv)}")
        t0 = time.perf_counter()
        following = STAGES[STAGES.index(name) + 1] if name != STAGES[-1] else None
        warm = prepare.get(following) if following in by_name else None
        if warm is not None and hasattr(executor, "start"):
            child = executor.start(stage)
            helpers = [threading.Thread(target=_quietly, args=(fn,), daemon=True) for fn in warm]
            for helper in helpers:
                helper.start()
            code = child.wait()
            if code == 0:
                for helper in helpers:  # on failure, report now; daemon threads die with us
                    helper.join()
        else:
            code = executor.run(stage)
        seconds = time.perf_counter() - t0
        status = "passed" if code == 0 else "failed"
        say(f"<== {name}: {status} in {seconds:.1f}s" + (f" (exit {code})" if code else ""))
        result.stages.append(StageResult(name, status, code, seconds))
        failed = code != 0
    return result


def run_local(
    settings: Settings,
    config_path: str | None,
    invoke: Callable[[list[str], Session], int],
    dataset: str | None = None,
    start: str | None = None,
    stop: str | None = None,
    executor: str = "local",
    speculate: bool = True,
    say: Callable[[str], None] = lambda _m: None,
    use_cache: bool = True,
) -> PipelineResult:
    """`mlci pipeline run`: plan the stages, pick the executor, run, write the summary.

    First the training cache (ml.cache.plan): when the key is on a registered version, the
    model stages are reported `cached` and not run (validation too when already passed on this
    input); `use_cache=False` adds --no-cache to the train stage.

    `invoke(argv, session)` runs one `mlci` command in this process (the CLI layer provides
    it). With the local executor, one `Session` carries the dataset, split, connection and
    fitted model from stage to stage; while validation runs in its child process, a thread
    here reads, splits and fits (the speculative fit) and another connects to the store.
    """
    from ml.evaluate.report import write_json

    stages, skipped = plan(settings, dataset, start, stop)
    cached = None
    if not use_cache:
        stages = [
            Stage(s.name, (*s.argv, "--no-cache")) if s.name == "train" else s for s in stages
        ]
    elif executor != "docker" and any(s.name == "train" for s in stages):
        # In the stage image the platform part of the key differs: its train stage decides.
        from ml.cache.key import cache_disabled
        from ml.cache.plan import check_pipeline_cache

        if not cache_disabled():
            cached = check_pipeline_cache(settings, dataset)
            say(cached.describe())
            speculate = speculate and cached.hit is None  # a hit trains nothing
    runner: Executor
    prepare: dict[str, Sequence[Callable[[], object]]] = {}
    if executor == "docker":
        from ml.image.stage import DockerExecutor

        docker = DockerExecutor(settings, config_path)
        docker.check_image()
        runner = docker
    elif executor == "subprocess":
        runner = SubprocessExecutor(config_path)
    else:
        session = Session()
        runner = InProcessExecutor(invoke, config_path, session)
    if executor == "local" and not (cached is not None and cached.registered):
        from ml.registry.tracking import connect
        from ml.train.run import prepare_training, warm_imports

        prepare["train"] = [
            lambda: prepare_training(settings, dataset, fit=speculate, session=session),
            lambda: connect(settings, session),
            warm_imports,
        ]
    if cached is not None and cached.registered:
        # Only the user's model tests (not keyed) and validation may be left to do; the model
        # stages are reported as cached.
        keep = [
            s for s in stages if s.name == "test" or (s.name == "validate" and not cached.validated)
        ]
        result = run_pipeline(keep, runner, say=say)
        if result.passed:
            done = {s.name for s in result.stages}
            result.stages += [StageResult(s.name, "cached") for s in stages if s.name not in done]
    else:
        result = run_pipeline(stages, runner, skipped, say=say, prepare=prepare)
    out = settings.build_dir / "pipeline"
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "summary.json", result.to_dict())
    return result
