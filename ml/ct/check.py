"""`mlci ct check`: should the model be retrained, and why.

Three signals, each compared with a bound from `ct` in mlci.yaml, all reported every time:
- new_data:    the newest dataset's digest differs from the champion's `dataset.digest` tag;
- performance: the champion, scored on the newest labelled snapshot, is below `ct.performance.min`
               (default `evaluate.min[metric]`) or fell more than `max_drop` below the value
               recorded at its evaluation (`test_<metric>` on its run);
- drift:       at least `min_features` features, or the target or the champion's prediction,
               drift between the champion's training snapshot and the newest one: a large
               shift (PSI or KS / total variation above its bound) that is not noise (test
               p-value on a fixed-size sample below its bound); see drift.py.
Any triggered signal means "retrain" (exit code RETRAIN_EXIT_CODE); otherwise "no action" (0).
With live inputs (`--live ENV`, ml/ct/live.py) the current data is the environment's prediction
log: drift is measured on it; new_data and performance are not evaluated (no digest, no labels:
`mlci ct score-live` scores the logged predictions once labels arrive).
Without a champion there is nothing to compare: the decision is "retrain", reason no_champion.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ml.config import Settings
from ml.ct.drift import FeatureDrift, feature_drift, plot_drift
from ml.ct.live import LiveInputs
from ml.data.dataset import DatasetVersion, read_frame, resolve_dataset
from ml.errors import InputError
from ml.registry import tags

# Not an error: a successful check whose answer is "retrain". Distinct from ml.errors' 1-5.
RETRAIN_EXIT_CODE = 10
CT_DIR = "ct"


@dataclass
class Signal:
    name: str
    triggered: bool
    value: Any
    bound: Any
    detail: str
    evaluated: bool = True


@dataclass
class CtReport:
    dataset: dict[str, str]
    champion: dict[str, Any] | None
    signals: list[Signal]
    drift: list[FeatureDrift] = field(default_factory=list)
    plot: str | None = None
    drift_sample: dict[str, int] | None = None
    triggered_build: dict[str, Any] | None = None
    live: dict[str, Any] | None = None

    @property
    def reasons(self) -> list[str]:
        out = [s.name for s in self.signals if s.triggered]
        return out if self.champion is not None else ["no_champion", *out]

    @property
    def retrain(self) -> bool:
        return bool(self.reasons)

    @property
    def decision(self) -> str:
        return "retrain" if self.retrain else "no_action"

    @property
    def exit_code(self) -> int:
        return RETRAIN_EXIT_CODE if self.retrain else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "exit_code": self.exit_code,
            "reasons": self.reasons,
            "dataset": self.dataset,
            "champion": self.champion,
            "signals": [asdict(s) for s in self.signals],
            "drift": {
                "features": [d.to_dict() for d in self.drift],
                "plot": self.plot,
                "sample": self.drift_sample,
            },
            "triggered_build": self.triggered_build,
            "live": self.live,
        }


def latest_dataset(settings: Settings) -> DatasetVersion:
    """The newest snapshot: the greatest version name in data.dir (2025Q2 > 2025Q1)."""
    folder = settings.path(settings.data.dir)
    # A DVC-tracked version may not be checked out yet: its .dvc record names it.
    found = sorted({p.name.removesuffix(".dvc") for p in folder.glob("*.csv*")} - {""})
    found = [name for name in found if name.endswith(".csv")]
    if not found:
        raise InputError(f"{folder}: no dataset snapshots (*.csv); check data.dir in mlci.yaml")
    return resolve_dataset(settings, folder / found[-1])


def _finite(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, 6)


def _new_data_signal(dataset: DatasetVersion, champ: Any) -> Signal:
    if champ is None:
        return Signal(
            "new_data", False, dataset.digest, None, "no champion to compare with", evaluated=False
        )
    trained = champ.tags.get(tags.DATASET_DIGEST)
    changed = trained != dataset.digest
    detail = (
        f"{dataset.version} ({dataset.digest}) differs from the champion's training data "
        f"{champ.tags.get(tags.DATASET_VERSION, '?')} ({trained})"
        if changed
        else f"{dataset.version} is the champion's training data"
    )
    return Signal("new_data", changed, dataset.digest, trained, detail)


def _performance_signal(
    settings: Settings, registry: Any, champ: Any, dataset: DatasetVersion, frame: Any
) -> Signal:
    from ml.tasks import DIRECTION, Predictions
    from ml.train.data import features, labels

    cfg = settings.ct.performance
    metric = cfg.metric or settings.evaluate.primary_metric or ""
    if champ is None:
        return Signal("performance", False, None, None, "no champion to score", evaluated=False)
    direction = DIRECTION.get(metric, 1)
    bounds = settings.evaluate.min if direction > 0 else settings.evaluate.max
    floor = cfg.min if cfg.min is not None else bounds.get(metric)
    y = labels(frame, settings, dataset.path)
    model = registry.load_model(champ.name, champ.version)
    # The champion's own positive class (recorded at training), else the configured one.
    pos = settings.train.positive_class
    if settings.train.task == "binary" and champ.run_id:
        run_tags = registry.client.get_run(champ.run_id).data.tags
        recorded_pos = json.loads(run_tags.get(tags.RUN_LABELS) or "{}").get("positive_class")
        pos = recorded_pos if recorded_pos is not None else (1 if pos is None else pos)
    pred = Predictions(model, features(frame, settings), settings.train.task, pos)
    value = pred.metrics(y, pos)[metric]
    recorded = None
    if champ.run_id:
        run = registry.client.get_run(champ.run_id)
        recorded = run.data.metrics.get(f"test_{metric}")
    problems = []
    if floor is not None and (value - floor) * direction < 0:
        problems.append(
            f"{metric} {value:.4f} is {'below' if direction > 0 else 'above'} the bound {floor:.4f}"
        )
    drop = None if recorded is None else (recorded - value) * direction
    if drop is not None and drop > cfg.max_drop:
        problems.append(
            f"{metric} fell {drop:.4f} from its recorded {recorded:.4f} "
            f"(more than {cfg.max_drop:g})"
        )
    detail = "; ".join(problems) or (
        f"{metric} {value:.4f} on {dataset.version} (recorded "
        f"{'n/a' if recorded is None else f'{recorded:.4f}'}, bound "
        f"{'n/a' if floor is None else f'{floor:.4f}'}, max drop {cfg.max_drop:g})"
    )
    return Signal(
        "performance",
        bool(problems),
        {metric: _finite(value), "recorded": recorded, "drop": _finite(drop)},
        {"min" if direction > 0 else "max": floor, "max_drop": cfg.max_drop},
        detail,
    )


def _predictions(model: Any, frame: Any, settings: Settings) -> Any:
    """The champion's predictions on `frame`: labels (classification) or numbers (regression)."""
    import pandas as pd

    from ml.train.model import feature_frame

    return pd.Series(model.predict(feature_frame(frame, settings)), index=frame.index)


def _drift_signal(
    settings: Settings,
    champ: Any,
    dataset: DatasetVersion,
    frame: Any,
    out_dir: Path,
    load_champion: Any = None,
) -> tuple[Signal, list[FeatureDrift], str | None, dict[str, int] | None]:
    """Drift of every feature, of the target and of the champion's prediction, measured on a
    seeded sample of at most ct.drift.sample_size rows of each snapshot (drift.py)."""
    from ml.ct.drift import (
        CATEGORICAL,
        NUMERIC,
        PREDICTION,
        column_drift,
        sample_rows,
    )

    cfg = settings.ct.drift
    if champ is None:
        return (
            Signal("drift", False, None, None, "no champion: no reference data", evaluated=False),
            [],
            None,
            None,
        )
    ref_version = champ.tags.get(tags.DATASET_VERSION)
    ref_path = settings.dataset_path(ref_version) if ref_version else None
    if ref_path is None or not ref_path.exists():
        return (
            Signal(
                "drift",
                False,
                None,
                cfg.min_features,
                f"reference snapshot {ref_version!r} of the champion not found "
                f"({ref_path}); drift not evaluated",
                evaluated=False,
            ),
            [],
            None,
            None,
        )
    reference = resolve_dataset(settings, ref_path)
    ref_all = read_frame(reference, settings)
    seed = settings.train.seed
    ref = sample_rows(ref_all, cfg.sample_size, seed)
    cur = sample_rows(frame, cfg.sample_size, seed + 1)
    results = feature_drift(ref, cur, settings.data.features, cfg)
    features_drifted = [d.feature for d in results if d.drifted]
    kind = NUMERIC if settings.train.task == "regression" else CATEGORICAL
    target = settings.data.target
    extra: list[FeatureDrift] = []
    if target in ref.columns and target in cur.columns:
        extra.append(column_drift(ref[target], cur[target], target, kind, cfg, "target"))
    if load_champion is not None:
        model = load_champion()
        ref = ref.assign(**{PREDICTION: _predictions(model, ref, settings)})
        cur = cur.assign(**{PREDICTION: _predictions(model, cur, settings)})
        extra.append(
            column_drift(ref[PREDICTION], cur[PREDICTION], target, kind, cfg, "prediction")
        )
    results += extra
    plot = plot_drift(
        ref, cur, results, out_dir / "drift.png", (reference.version, dataset.version), cfg.bins
    )
    others = [d.role for d in extra if d.drifted]
    triggered = len(features_drifted) >= cfg.min_features or bool(others)
    sample = (
        f"sample {len(ref)} of {len(ref_all)} / {len(cur)} of {len(frame)} rows "
        f"(ct.drift.sample_size {cfg.sample_size})"
    )
    detail = (
        f"{len(features_drifted)} of {len(results) - len(extra)} features drift from "
        f"{reference.version}"
        + (f": {', '.join(features_drifted)}" if features_drifted else "")
        + "".join(f"; {role} drifts" for role in others)
        + f"; {sample}"
    )
    value = {"features": len(features_drifted)}
    value.update({d.role: d.drifted for d in extra})
    bound = {"min_features": cfg.min_features}
    sizes = {
        "sample_size": cfg.sample_size,
        "reference": len(ref),
        "reference_rows": len(ref_all),
        "current": len(cur),
        "current_rows": len(frame),
    }
    return (Signal("drift", triggered, value, bound, detail), results, str(plot), sizes)


def _once(fn: Any, *args: Any) -> Any:
    """A call of `fn(*args)` made on first use and remembered for this check only."""
    box: list[Any] = []

    def call() -> Any:
        if not box:
            box.append(fn(*args))
        return box[0]

    return call


def run_check(
    settings: Settings, dataset: str | None = None, live: LiveInputs | None = None
) -> CtReport:
    """Evaluate every configured signal for `dataset` (default: the newest snapshot), or for
    the logged inputs of an environment (`live`)."""
    from ml.registry import ModelRegistry

    if live is not None:
        if dataset:
            raise InputError("--dataset and --live are exclusive: check one source of data")
        ds = live.dataset
        frame = live.frame(settings)
    else:
        ds = resolve_dataset(settings, dataset) if dataset else latest_dataset(settings)
        frame = read_frame(ds, settings)
    registry = ModelRegistry(settings)
    champ = registry.champion()
    out_dir = settings.build_dir / CT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    enabled = set(settings.ct.signals)
    signals: list[Signal] = []
    drift: list[FeatureDrift] = []
    plot = None
    drift_sample = None
    if "new_data" in enabled and live is not None:
        signals.append(
            Signal("new_data", False, None, None, "live inputs: no snapshot", evaluated=False)
        )
    elif "new_data" in enabled:
        signals.append(_new_data_signal(ds, champ))
    if "performance" in enabled and live is not None:
        signals.append(
            Signal(
                "performance",
                False,
                None,
                None,
                "live inputs have no labels; score them with `mlci ct score-live`",
                evaluated=False,
            )
        )
    elif "performance" in enabled:
        signals.append(_performance_signal(settings, registry, champ, ds, frame))
    if "drift" in enabled:
        loader = None if champ is None else _once(registry.load_model, champ.name, champ.version)
        sig, drift, plot, drift_sample = _drift_signal(settings, champ, ds, frame, out_dir, loader)
        signals.append(sig)
    champion = (
        None
        if champ is None
        else {
            "name": champ.name,
            "version": champ.version,
            "dataset_version": champ.tags.get(tags.DATASET_VERSION),
            "dataset_digest": champ.tags.get(tags.DATASET_DIGEST),
        }
    )
    report = CtReport(
        dataset={"version": ds.version, "digest": ds.digest, "path": str(ds.path)},
        champion=champion,
        signals=signals,
        drift=drift,
        plot=plot,
        drift_sample=drift_sample,
        live=live.describe() if live is not None else None,
    )
    write_report(settings, report)
    return report


def write_report(settings: Settings, report: CtReport) -> Path:
    path = settings.build_dir / CT_DIR / "report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), indent=2, sort_keys=True, default=str) + "\n")
    return path


def trigger_training(settings: Settings, report: CtReport) -> dict[str, Any]:
    """Queue the training job (ct.job under jenkins.folder) with the reasons and dataset."""
    from ml.jenkins.builds import full_job_name, start
    from ml.jenkins.client import JenkinsClient

    client = JenkinsClient.from_settings(settings)
    job = full_job_name(settings, settings.ct.job)
    params = {
        "DATASET_VERSION": report.dataset["version"],
        "RETRAIN_REASON": ",".join(report.reasons),
        "FORCE_RETRAIN": "true",
    }
    queued = start(client, job, params, wait=False)
    report.triggered_build = {
        "job": job,
        "queue_id": queued.queue_id,
        "parameters": params,
        "url": f"{settings.jenkins.url.rstrip('/')}/queue/item/{queued.queue_id}/"
        if queued.queue_id
        else None,
    }
    write_report(settings, report)
    return report.triggered_build
