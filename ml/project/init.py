"""`mlci init`: start a project from one CSV, in an empty folder or an existing project.

Order of work, so that a refusal or a failure leaves the folder as it was:
1. profile the CSV (ml.project.profile) and decide task, ID, features, positive class;
2. refuse when a file it would write exists (unless `force`), naming every such file;
3. derive the gate from a baseline (ml.project.baseline) with the pipeline `mlci train` fits;
4. render mlci.yaml and the contract, load both back with ml.config / ml.validate.contract,
   and validate the CSV against the new contract (it must pass its own first version);
5. only then write: each file goes to a temporary name beside its destination and is renamed
   into place at the end.

Files: `mlci.yaml`, `data/contract/<name>.yaml`, `data/snapshots/<version>.csv` (a copy of the
CSV) and its DVC record `<version>.csv.dvc`; the three-line Jenkinsfiles that call the mlci
Jenkins shared library (`Jenkinsfile`, `jenkins/deploy.Jenkinsfile`,
`jenkins/retrain.Jenkinsfile`, ml/project/jenkinsfiles.py); `.gitignore` (`.mlci/`, `build/`)
only when there is none; `requirements.txt` for the stage image (ml.project.stage_image) when
there is none. The first version is named by the UTC date (`2026-12-01`), so later versions
sort after it (`mlci ct check` takes the greatest name as the newest).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ml.errors import InputError
from ml.project.baseline import Baseline, derive_thresholds
from ml.project.config_writer import config_doc, render_config, slug
from ml.project.contract_writer import build_contract, render_contract
from ml.project.jenkinsfiles import jenkinsfiles
from ml.project.profile import DataProfile, profile_csv

CONFIG = "mlci.yaml"
GITIGNORE = ".gitignore\n"


@dataclass
class InitResult:
    root: Path
    name: str
    version: str
    profile: DataProfile
    baseline: Baseline
    written: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    validation_failures: list[str] = field(default_factory=list)


def version_name(today: dt.date | None = None) -> str:
    return (today or dt.datetime.now(dt.UTC).date()).isoformat()


def planned_files(root: Path, name: str, version: str) -> dict[str, Path]:
    return {
        "config": root / CONFIG,
        "contract": root / "data" / "contract" / f"{name}.yaml",
        "snapshot": root / "data" / "snapshots" / f"{version}.csv",
        "dvc": root / "data" / "snapshots" / f"{version}.csv.dvc",
        **{rel: root / rel for rel in jenkinsfiles(name, name)},
    }


def _settings(doc: dict[str, Any], root: Path, what: str) -> Any:
    from pydantic import ValidationError

    from ml.config import Settings

    try:
        return Settings.model_validate({**doc, "root": root})
    except ValidationError as e:  # a bug in init, not bad input: say so plainly
        raise InputError(f"mlci init produced an invalid {what}: {e}") from None


def init_project(
    root: Path,
    data: Path,
    target: str,
    task: str = "auto",
    id_column: str | None = None,
    name: str | None = None,
    force: bool = False,
    today: dt.date | None = None,
    on_progress: Any = None,
) -> InitResult:
    """Create (or with `force` rewrite) the project in `root` from the CSV `data`."""
    say = on_progress or (lambda _msg: None)
    root = root.resolve()
    data = Path(data)
    if not data.is_absolute():
        data = (Path.cwd() / data).resolve()
    times: dict[str, float] = {}

    t0 = time.perf_counter()
    profile = profile_csv(data, target, task, id_column)
    times["profile"] = time.perf_counter() - t0
    say(
        f"init: profiled {data} ({profile.rows} rows, {len(profile.columns)} columns) in "
        f"{times['profile']:.2f}s"
    )

    name = slug(name or root.name)
    version = version_name(today)
    files = planned_files(root, name, version)
    same_file = files["snapshot"].exists() and files["snapshot"].resolve() == data
    existing = [p for k, p in files.items() if p.exists() and not (same_file and k == "snapshot")]
    if existing and not force:
        raise InputError(
            "refusing to overwrite existing file(s): "
            + ", ".join(str(p) for p in existing)
            + " (pass --force to replace them)"
        )

    contract_rel = files["contract"].relative_to(root).as_posix()
    doc = config_doc(profile, name, version, contract_rel, None)
    settings = _settings(doc, root, CONFIG)

    t0 = time.perf_counter()
    from ml.train.model import build_pipeline, feature_frame

    baseline = derive_thresholds(
        profile.task,
        profile.frame,
        profile.target,
        profile.positive_class,
        lambda: build_pipeline(settings),
        lambda f: feature_frame(f, settings),
        settings.train.seed,
    )
    times["baseline"] = time.perf_counter() - t0
    say(
        f"init: baseline on {baseline.rows} rows ({baseline.folds}-fold CV) in "
        f"{times['baseline']:.2f}s"
    )

    doc = config_doc(profile, name, version, contract_rel, baseline)
    config_text = render_config(doc, profile, baseline, data.name)
    contract_text = render_contract(
        build_contract(profile, name), f"{data.name}, as {version}", profile.rows
    )
    parsed = yaml.safe_load(config_text)
    differ = sorted(
        f"{k}.{j}"
        for k in doc
        for j in (doc[k] if isinstance(doc[k], dict) else {"": 0})
        if (doc[k].get(j) if isinstance(doc[k], dict) else doc[k])
        != ((parsed.get(k) or {}).get(j) if isinstance(doc[k], dict) else parsed.get(k))
    )
    if differ:
        raise InputError(
            f"mlci init: the rendered {CONFIG} does not read back as written ({', '.join(differ)})"
        )
    settings = _settings(parsed, root, CONFIG)

    t0 = time.perf_counter()
    failures = _check_contract(settings, contract_text, data, name)
    times["validate"] = time.perf_counter() - t0
    if failures:
        raise InputError(
            f"mlci init: the generated contract rejects its own first version {data}: "
            + "; ".join(failures)
        )
    say(f"init: the new contract passes on {data.name} ({times['validate']:.2f}s)")

    t0 = time.perf_counter()
    texts = {"config": config_text, "contract": contract_text}
    texts.update(jenkinsfiles(name, settings.mlflow.model_name))
    written = _write_all(files, texts, data, same_file)
    # The first version is a DVC-tracked version like any other (docs/data.md): a new project
    # gets a DVC project with a local remote in data/remote/ when it is in none.
    from ml.data.dvc import track_version

    _, tracked = track_version(files["snapshot"], root)
    written += [p for p in tracked if p not in written]
    ignore = root / ".gitignore"
    if not ignore.exists():
        ignore.write_text(".mlci/\nbuild/\n", encoding="utf-8")
        written.append(ignore)
    from ml.project.stage_image import write_stage_image_files

    written += write_stage_image_files(root)
    times["write"] = time.perf_counter() - t0
    return InitResult(root, name, version, profile, baseline, written, times)


def _check_contract(settings: Any, contract_text: str, data: Path, name: str) -> list[str]:
    """Validate the CSV against the rendered contract; the failure messages (empty: passed)."""
    from ml.data.dataset import resolve_dataset
    from ml.validate.contract import load_contract
    from ml.validate.validation import check_dataset

    with tempfile.TemporaryDirectory(prefix="mlci-init-") as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(contract_text, encoding="utf-8")
        contract = load_contract(path)
        report = check_dataset(settings, resolve_dataset(settings, data), contract)
    return [r.message for r in report.results if not r.success]


def _write_all(
    files: dict[str, Path], texts: dict[str, str], data: Path, same_file: bool
) -> list[Path]:
    """Stage every file beside its destination, then rename them all into place."""
    from ml.data.dataset import file_digest

    staged: list[tuple[Path, Path]] = []
    try:
        for key, text in texts.items():
            dest = files[key]
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.mlci-init")
            tmp.write_text(text, encoding="utf-8")
            staged.append((tmp, dest))
        snap = files["snapshot"]
        if not same_file:
            snap.parent.mkdir(parents=True, exist_ok=True)
            tmp = snap.with_name(f".{snap.name}.mlci-init")
            shutil.copyfile(data, tmp)
            staged.append((tmp, snap))
        md5 = file_digest(data)
        size = data.stat().st_size
        dvc = files["dvc"]
        tmp = dvc.with_name(f".{dvc.name}.mlci-init")
        tmp.write_text(
            f"outs:\n- md5: {md5}\n  size: {size}\n  hash: md5\n  path: {snap.name}\n",
            encoding="utf-8",
        )
        staged.append((tmp, dvc))
    except OSError as e:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise InputError(f"{e.filename}: cannot write: {e.strerror}") from None
    for tmp, dest in staged:
        os.replace(tmp, dest)
    return [dest for _, dest in staged]
