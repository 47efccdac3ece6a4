"""`mlci reproduce`: rebuild a registered model version from what it recorded, and compare.

From the version's tags and its run: the git commit (checked out in a temporary worktree, not
the working tree), the dataset by digest from the DVC remote, the recorded lock, the effective
settings (params, seed: the run's `mlci/train_settings.json`). Where it trains follows where the
version was trained: a version trained in the stage image (tag `env.stage_image`) is retrained
in the stage image built from that commit (its own docker/ci.Dockerfile, lock and code); any
other in this interpreter when its installed packages are exactly the lock's pins and the
Python version is the recorded one, else in a venv built from the lock with uv. The commit's
own `mlci train` runs in a child process against a throwaway MLflow store, then both models
are compared:

- predictions on the recorded held-out rows (the split is recomputed and checked against the
  recorded digest of the held-out IDs): exact by default, `tolerance` for estimators that are
  not deterministic;
- held-out metrics of both models; the training metrics both runs logged;
- a canonical hash of each fitted model (ml.reproduce.fingerprint);
- the recorded key parts (code, user code, config, params, seed, data, lock) and the platform.

Nothing is written to the project's store or registry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from ml.config import Settings
from ml.errors import CheckFailed, InputError, ServiceError
from ml.registry import tags as T

SETTINGS_ARTIFACT = "mlci/train_settings.json"  # written by ml.train.run at training time
LOCK_FILE = Path("locks/requirements.txt")
# Parts whose difference makes a reproduction fail (platform is reported, see `verdict`).
REQUIRED = (T.GIT_COMMIT, T.DATASET_DIGEST, T.DATASET_VERSION, T.LOCK_HASH, T.CACHE_KEY)


class RecordMissing(InputError):
    """Something the version recorded is missing: the commit, the data, the lock, the record."""


class ReproductionDiffers(CheckFailed):
    """The rebuilt model is not the registered one; the message names what differs."""


@dataclass
class Check:
    name: str  # code | user_code | config | params | seed | data | lock | platform | ...
    status: str  # "same" | "differs" | "note"
    recorded: Any = None
    reproduced: Any = None
    detail: str = ""


@dataclass
class ReproductionReport:
    model: str
    version: str
    run_id: str
    commit: str
    dataset: dict[str, str]
    environment: dict[str, Any]
    checks: list[Check] = field(default_factory=list)
    tolerance: float = 0.0
    seconds: float = 0.0
    original_fit_seconds: float | None = None
    reproduced_run_id: str = ""

    @property
    def differs(self) -> list[str]:
        return [c.name for c in self.checks if c.status == "differs"]

    @property
    def identical(self) -> bool:
        return not self.differs

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["identical"] = self.identical
        doc["differs"] = self.differs
        return doc


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    except OSError as e:
        raise InputError(f"git is needed to reproduce a version: {e}") from None
    if check and out.returncode != 0:
        raise InputError(f"git {' '.join(args)} in {repo} failed: {out.stderr.strip()}")
    return out


def _sha256(path: Path) -> str | None:
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _lock_pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, _, ver = line.partition("==")
            pins[name.split("[")[0].strip().lower().replace("_", "-")] = ver.split(";")[0].strip()
    return pins


def _installed_matches(lock: Path) -> list[str]:
    """Packages whose installed version is not the lock's pin (empty: this env is the lock)."""
    wrong = []
    for name, want in _lock_pins(lock).items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{name} (not installed, lock {want})")
            continue
        if have != want:
            wrong.append(f"{name} {have} (lock {want})")
    return wrong


def _venv_from_lock(lock: Path, python: str, cache: Path, say: Callable[[str], None]) -> Path:
    """A venv holding exactly the lock (uv), cached per lock hash under `cache`."""
    uv = shutil.which("uv")
    if uv is None:
        raise RecordMissing(
            f"this environment is not the recorded lock and uv is not installed to build a "
            f"venv from {lock}; install uv or run mlci reproduce from an environment made "
            f"from that lock"
        )
    target = cache / f"venv-{_sha256(lock)[:16]}"
    py = target / "bin" / "python"
    if py.exists():
        return py
    say(f"reproduce: building a venv from {lock} (Python {python}) in {target}")
    version = python.split()[-1] if python else ""
    for cmd in (
        [uv, "venv", "-q", str(target), *(["--python", version] if version else [])],
        [uv, "pip", "install", "-q", "--python", str(py), "-r", str(lock)],
    ):
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            raise ServiceError(f"{' '.join(cmd[:3])} failed: {out.stderr.strip()[:500]}")
    return py


def _run_facts(settings: Settings, run_id: str) -> tuple[dict, dict, dict, dict | None]:
    """Tags, params and metrics of a run, and its recorded settings (None when absent)."""
    import mlflow

    from ml.registry.tracking import connect, mlflow_errors

    connect(settings)
    client = mlflow.MlflowClient()
    with mlflow_errors(settings.tracking_uri, f"run {run_id}"):
        run = client.get_run(run_id)
    recorded = None
    with tempfile.TemporaryDirectory(prefix="mlci-repro-") as tmp:
        try:
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=SETTINGS_ARTIFACT, dst_path=tmp
            )
            recorded = json.loads(Path(local).read_text(encoding="utf-8"))
        except Exception:
            recorded = None
    return dict(run.data.tags), dict(run.data.params), dict(run.data.metrics), recorded


def _check_recorded(name: str, version: str, tags: dict, recorded: dict | None) -> None:
    missing = [k for k in REQUIRED if tags.get(k) in (None, "", "unknown")]
    if recorded is None:
        missing.append(f"artifact {SETTINGS_ARTIFACT}")
    if missing:
        raise RecordMissing(
            f"model {name!r} version {version} did not record {', '.join(missing)}: it was "
            f"registered before mlci recorded what reproduction needs (or trained outside a "
            f"git checkout); retrain and register it to make it reproducible"
        )


def _project_config(worktree_project: Path, recorded: dict, tmp: Path, dataset_path: Path) -> Path:
    """The commit's mlci.yaml with the recorded data/train sections and a throwaway store."""
    source = worktree_project / "mlci.yaml"
    try:
        doc = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise RecordMissing(f"{source}: no mlci.yaml at the recorded commit ({e})") from None
    doc["data"] = {**recorded["data"], "dir": str(dataset_path.parent)}
    doc["data"]["version"] = dataset_path.stem
    doc["train"] = recorded["train"]
    doc.setdefault("mlflow", {})
    doc["mlflow"]["tracking_uri"] = f"sqlite:///{tmp / 'store' / 'mlflow.db'}"
    doc["mlflow"]["artifact_root"] = str(tmp / "store" / "artifacts")
    doc["paths"] = {**doc.get("paths", {}), "build": str(tmp / "build"), "state": str(tmp)}
    doc.pop("dvc", None)  # the dataset is already in place: no remote needed
    path = worktree_project / "mlci.reproduce.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _compare_models(
    settings: Settings,
    recorded: dict,
    dataset_path: Path,
    original: Any,
    rebuilt: Any,
    split_digest: str,
    tolerance: float,
) -> list[Check]:
    """Predictions and metrics on the recorded held-out rows, and the models' fingerprints."""
    import numpy as np

    from ml.config import DataSettings, TrainSettings
    from ml.data.dataset import DatasetVersion, file_digest
    from ml.reproduce.fingerprint import model_fingerprint
    from ml.tasks import Predictions
    from ml.train.data import features, labels, load_frame, positive_class, split_rows

    checks = []
    fp_a, fp_b = model_fingerprint(original), model_fingerprint(rebuilt)
    checks.append(Check("model_hash", "same" if fp_a == fp_b else "differs", fp_a, fp_b))
    try:
        data = DataSettings(**{**recorded["data"], "dir": dataset_path.parent})
        train = TrainSettings(**recorded["train"])
        s = settings.model_copy(update={"data": data, "train": train})
    except Exception as e:
        checks.append(Check("predictions", "note", detail=f"recorded settings unreadable: {e}"))
        return checks
    ds = DatasetVersion(dataset_path.stem, dataset_path, file_digest(dataset_path))
    frame = load_frame(s, ds)
    y = labels(frame, s, ds.path)
    split = split_rows(frame, y, s)
    rows = split.test_idx
    where = "the recorded held-out rows"
    if split.test_ids_sha256 != split_digest:
        rows = np.arange(len(frame))
        where = "every row (this mlci's split does not find the recorded held-out rows)"
    X = features(frame, s, rows)
    pos = positive_class(s, y[split.train_idx]) if s.train.task == "binary" else None
    pa = Predictions(original, X, s.train.task, pos)
    pb = Predictions(rebuilt, X, s.train.task, pos)
    out_a = pa.proba if pa.proba is not None else pa.labels
    out_b = pb.proba if pb.proba is not None else pb.labels
    if out_a.dtype.kind in "fc":
        diff = float(np.max(np.abs(out_a - out_b))) if out_a.size else 0.0
        same = out_a.shape == out_b.shape and diff <= tolerance
        detail = f"{len(rows)} rows ({where}); max |difference| {diff:.3g}"
    else:
        same = bool(np.array_equal(out_a, out_b))
        detail = f"{len(rows)} rows ({where}); {int(np.sum(out_a != out_b))} labels differ"
    checks.append(Check("predictions", "same" if same else "differs", detail=detail))
    ma, mb = pa.metrics(y[rows], pos), pb.metrics(y[rows], pos)
    worst = max((abs(ma[k] - mb[k]) for k in ma if k in mb), default=0.0)
    checks.append(
        Check(
            "metrics",
            "same" if worst <= tolerance else "differs",
            {k: round(v, 6) for k, v in ma.items()},
            {k: round(v, 6) for k, v in mb.items()},
            f"held-out metrics; max |difference| {worst:.3g}",
        )
    )
    return checks


WHERE = ("auto", "image", "venv")


def image_tag_for(commit: str) -> str:
    return f"mlci-reproduce:{commit[:12]}"


def _seed_wheelhouse(settings: Settings, worktree: Path, lock: Path) -> None:
    """Link this checkout's wheelhouse into the worktree when it was built for the same lock
    (build-wheelhouse.sh trusts its .lock.sha256 stamp), so a rebuild downloads nothing."""
    ours = settings.state_dir / "cache" / "wheelhouse" / "requirements"
    top = _git(settings.root, "rev-parse", "--show-toplevel", check=False).stdout.strip()
    candidates = [ours, *([Path(top) / ".mlci/cache/wheelhouse/requirements"] if top else [])]
    want = _sha256(lock)
    for src in candidates:
        stamp = src / ".lock.sha256"
        if stamp.is_file() and stamp.read_text().strip() == want:
            from ml.image.build import link_tree

            dst = worktree / ".mlci/cache/wheelhouse/requirements"
            link_tree(src, dst)
            shutil.copy2(stamp, dst / stamp.name)  # the stamp is what marks it complete
            return


def _stage_image_train(
    settings: Settings,
    worktree: Path,
    project: Path,
    config: Path,
    tmp: Path,
    commit: str,
    python: str,
    env: dict[str, str],
    say: Callable[[str], None],
) -> tuple[subprocess.CompletedProcess, str]:
    """Build the commit's stage image with the commit's own `mlci pipeline ci-image`, then run
    the commit's `mlci train` in it: the worktree and scratch folder mounted at their own paths,
    this user's uid, host networking, the image id recorded as MLCI_STAGE_IMAGE."""
    if shutil.which("docker") is None:
        raise ServiceError(
            "this version was trained in the stage image, so reproducing it needs a Docker "
            "Engine and the docker CLI (not found on PATH); or pass --in venv"
        )
    tag = image_tag_for(commit)
    say(f"reproduce: building the stage image of {commit[:12]} ({tag})")
    _seed_wheelhouse(settings, worktree, worktree / LOCK_FILE)
    build = subprocess.run(
        [python, "-m", "ml", "pipeline", "ci-image", "--tag", tag, "--json"],
        cwd=worktree,
        env=env,
        capture_output=True,
        text=True,
    )
    if build.returncode != 0:
        last = build.stderr.strip().splitlines()[-1:] or [""]
        if build.returncode == 4:  # a service (Docker, the package index) is down: not a diff
            raise ServiceError(f"building the stage image of {commit[:12]} failed: {last[0]}")
        raise ReproductionDiffers(
            f"the stage image of commit {commit[:12]} failed to build (exit "
            f"{build.returncode}): {last[0]}"
        )
    image_id = json.loads(build.stdout)["image_id"]
    cmd = [
        "docker", "run", "--rm", "--network", "host", "--init",
        "--user", f"{os.getuid()}:{os.getgid()}",
        "-e", "HOME=/tmp", "-e", f"GIT_COMMIT={commit}", "-e", f"MLCI_STAGE_IMAGE={image_id}",
        "-v", f"{tmp}:{tmp}", "-w", str(project),
        image_id, "mlci", "--config", str(config), "train", "--json",
    ]  # fmt: skip
    say(f"reproduce: training in {tag} ({image_id[:19]})")
    return subprocess.run(cmd, capture_output=True, text=True), image_id


def platform_check(recorded: dict[str, str], reproduced: dict[str, str]) -> Check:
    """`env.python`, `env.platform` and whether both trained in a stage image. An image id
    changes with every rebuild (build time, layer ids) even from the same commit and lock, so
    only "in an image or not" is compared; both ids are reported. A difference is a note."""
    image = T.ENV_STAGE_IMAGE
    in_a, in_b = bool(recorded.get(image)), bool(reproduced.get(image))
    rest_a = {k: v for k, v in recorded.items() if k != image}
    rest_b = {k: v for k, v in reproduced.items() if k != image}
    if rest_a == rest_b and in_a == in_b:
        return Check("platform", "same", recorded, reproduced)
    if in_a != in_b:
        detail = (
            "trained in the stage image, reproduced outside it (--in venv)"
            if in_a
            else "trained outside the stage image, reproduced in it (--in image)"
        )
    else:
        detail = "trained on another platform than this one"
    return Check("platform", "note", recorded, reproduced, detail)


def reproduce_version(
    settings: Settings,
    name: str | None,
    version: str,
    tolerance: float = 0.0,
    keep: bool = False,
    say: Callable[[str], None] = lambda _m: None,
    where: str = "auto",
) -> ReproductionReport:
    """Rebuild `version` and compare; raises RecordMissing (2) or ReproductionDiffers (1).

    `where`: "image" retrains in the stage image built from the commit, "venv" in this
    interpreter or a venv from the lock, "auto" where the version was trained."""
    if where not in WHERE:
        raise InputError(f"where={where!r}: expected one of {', '.join(WHERE)}")
    from ml.data.dvc import open_remote
    from ml.registry.client import ModelRegistry, load_logged_model
    from ml.registry.tracking import connect

    start = time.perf_counter()
    registry = ModelRegistry(settings)
    info = registry.resolve(name, version)  # a number or an alias (champion, challenger)
    tags, params, metrics, recorded = _run_facts(settings, info.run_id)
    tags = {**tags, **{k: v for k, v in info.tags.items() if k in REQUIRED}}
    _check_recorded(info.name, info.version, tags, recorded)
    assert recorded is not None
    commit, digest = tags[T.GIT_COMMIT], tags[T.DATASET_DIGEST]
    ds_version = tags[T.DATASET_VERSION]

    top = _git(settings.root, "rev-parse", "--show-toplevel", check=False)
    if top.returncode != 0:
        raise RecordMissing(f"{settings.root}: not a git checkout; cannot check out {commit}")
    repo = Path(top.stdout.strip())
    if _git(repo, "cat-file", "-e", f"{commit}^{{commit}}", check=False).returncode != 0:
        raise RecordMissing(
            f"commit {commit} (recorded by {info.name} version {info.version}) is not in the "
            f"repository at {repo}; fetch it (git fetch --all) and retry"
        )
    remote = open_remote(settings.path(settings.data.dir), settings)
    if not remote.has(digest):
        remote.probe()
        raise RecordMissing(
            f"dataset {ds_version} (md5 {digest}, recorded by {info.name} version "
            f"{info.version}) is not in DVC remote {remote.name!r} ({remote.url})"
        )
    report = ReproductionReport(
        model=info.name,
        version=info.version,
        run_id=info.run_id,
        commit=commit,
        dataset={"version": ds_version, "digest": digest, "remote": remote.url},
        environment={},
        tolerance=tolerance,
        original_fit_seconds=metrics.get("fit_seconds"),
    )
    tmp = Path(tempfile.mkdtemp(prefix="mlci-reproduce-"))
    worktree = tmp / "src"
    image_tag = ""
    try:
        say(f"reproduce: {info.name} version {info.version}: commit {commit[:12]} -> {worktree}")
        _git(repo, "worktree", "add", "--detach", "--force", str(worktree), commit)
        rel = settings.root.resolve().relative_to(repo.resolve())
        project = worktree / rel

        # Data: the object with the recorded digest, from the remote, checked.
        say(f"reproduce: dataset {ds_version} md5 {digest} from DVC remote {remote.name}")
        data_path = tmp / "data" / f"{ds_version}.csv"
        fetched = remote.fetch(digest, data_path, verify=False)
        from ml.data.dataset import file_digest

        got = file_digest(fetched)
        report.checks.append(
            Check(
                "data",
                "same" if got == digest else "differs",
                digest,
                got,
                "" if got == digest else f"the remote's object for md5 {digest} now has md5 {got}",
            )
        )

        # Environment: the recorded lock, as the commit holds it.
        lock = project / LOCK_FILE
        if not lock.is_file():
            lock = worktree / LOCK_FILE
        lock_sha = _sha256(lock)
        report.checks.append(
            Check(
                "lock",
                "same" if lock_sha == tags[T.LOCK_HASH] else "differs",
                tags[T.LOCK_HASH],
                lock_sha,
                f"{lock.relative_to(worktree)} at {commit[:12]}"
                + ("" if lock_sha == tags[T.LOCK_HASH] else ": not the lock trained with"),
            )
        )
        here_python = f"{sys.implementation.name} {'.'.join(map(str, sys.version_info[:3]))}"
        wrong = _installed_matches(lock) if lock_sha else ["no lock"]
        recorded_py = tags.get(T.ENV_PYTHON, "")
        same_python = recorded_py.split()[-1:] == [sys.version.split()[0]]
        recorded_image = tags.get(T.ENV_STAGE_IMAGE, "")
        in_image = where == "image" or (where == "auto" and bool(recorded_image))
        if not wrong and same_python:
            python, strategy = sys.executable, "this interpreter (its packages are the lock's pins)"
        elif in_image:  # the host only builds the image: its own interpreter is enough
            python, strategy = sys.executable, ""
        else:
            python = str(_venv_from_lock(lock, recorded_py, settings.state_dir / "cache", say))
            strategy = f"a venv built from the lock ({len(wrong)} package(s) differ here)"
        report.environment = {
            "strategy": strategy,
            "python": python,
            "lock": str(lock.relative_to(worktree)),
            "lock_sha256": lock_sha,
            "recorded_stage_image": recorded_image,
            "here": here_python,
        }

        # Retrain with the commit's code, the recorded settings, into a throwaway store.
        config = _project_config(project, recorded, tmp, fetched)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLCI_")}
        for var in ("FORCE_RETRAIN", "GIT_COMMIT", "BRANCH_NAME", "GIT_BRANCH", "PYTHONPATH"):
            env.pop(var, None)
        env["PYTHONPATH"] = str(worktree)
        image_id = ""
        if in_image:
            child, image_id = _stage_image_train(
                settings, worktree, project, config, tmp, commit, python, env, say
            )
            image_tag = image_tag_for(commit)
            strategy = f"the stage image built from commit {commit[:12]} ({image_id[:19]})"
            report.environment.update({"strategy": strategy, "stage_image": image_id})
        else:
            say(f"reproduce: training with the code of {commit[:12]} ({strategy})")
            child = subprocess.run(
                [python, "-m", "ml", "--config", str(config), "train", "--json"],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
            )
        if child.returncode != 0:
            raise ReproductionDiffers(
                f"the code of commit {commit[:12]} failed to train (exit {child.returncode}): "
                f"{child.stderr.strip().splitlines()[-1] if child.stderr.strip() else ''}"
            )
        rebuilt_run = json.loads(child.stdout)
        report.reproduced_run_id = rebuilt_run["run_id"]

        scratch = settings.model_copy(
            update={
                "mlflow": settings.mlflow.model_copy(
                    update={"tracking_uri": f"sqlite:///{tmp / 'store' / 'mlflow.db'}"}
                )
            }
        )
        new_tags, new_params, _, _ = _run_facts(scratch, rebuilt_run["run_id"])
        for part in ("code", "user_code", "config", "params", "seed"):
            a = tags.get(f"{T.CACHE_PART}{part}")
            b = new_tags.get(f"{T.CACHE_PART}{part}")
            report.checks.append(Check(part, "same" if a == b else "differs", a, b))
        changed = sorted(
            k for k in set(params) | set(new_params) if params.get(k) != new_params.get(k)
        )
        if changed:
            report.checks.append(
                Check(
                    "run_params",
                    "differs",
                    {k: params.get(k) for k in changed},
                    {k: new_params.get(k) for k in changed},
                )
            )
        plat_a = {k: tags.get(k, "") for k in (T.ENV_PYTHON, T.ENV_PLATFORM, T.ENV_STAGE_IMAGE)}
        report.checks.append(platform_check(plat_a, {k: new_tags.get(k, "") for k in plat_a}))

        # The models themselves.
        say("reproduce: comparing predictions, metrics and the fitted models")
        connect(settings)
        original = registry.load_model(info.name, info.version)
        rebuilt = load_logged_model(scratch, rebuilt_run["model_uri"])
        connect(settings)  # back to the project's store for any later call
        report.checks += _compare_models(
            settings,
            recorded,
            fetched,
            original,
            rebuilt,
            tags.get(T.RUN_SPLIT_TEST_IDS, ""),
            tolerance,
        )
    finally:
        if not keep:
            if image_tag:  # the id stays in the report; the tag would pile up per commit
                subprocess.run(["docker", "image", "rm", image_tag], capture_output=True)
            _git(repo, "worktree", "remove", "--force", str(worktree), check=False)
            _git(repo, "worktree", "prune", check=False)
            shutil.rmtree(tmp, ignore_errors=True)
    report.seconds = time.perf_counter() - start
    return report


def verdict(report: ReproductionReport) -> None:
    """Raise ReproductionDiffers naming what differs; platform notes are named as a cause."""
    if report.identical:
        return
    parts = ", ".join(report.differs)
    platform = next((c for c in report.checks if c.name == "platform"), None)
    hint = ""
    if platform is not None and platform.status == "note":
        hint = f"; the platform differs too ({platform.recorded} vs {platform.reproduced})"
    raise ReproductionDiffers(
        f"{report.model} version {report.version} was not reproduced: {parts} differ{hint}"
    )
