"""Continuous training on real traffic: the prediction log (ml/deploy/predictions.py) as data.

- `live_inputs`: the logged inputs of an environment as a frame, so `mlci ct check --live ENV`
  measures drift against the champion's training snapshot through the same rule (drift.py);
- `score_live`: labels that arrive later (a CSV) joined to the logged predictions, by the
  request id the server returned (`x-request-id`, with `row` for batch requests) or by the data
  id column (`data.id_column`, when clients send it), scoring the version that answered on the
  requests it answered.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ml.config import Settings
from ml.data.dataset import DatasetVersion
from ml.errors import InputError

REQUEST_ID = "request_id"
ROW = "row"


@dataclass
class LiveInputs:
    """Logged requests of one environment, ready for the drift rule."""

    env: str
    since: str | None
    records: list[dict[str, Any]]

    @property
    def dataset(self) -> DatasetVersion:
        ids = "\n".join(sorted(str(r.get("id")) for r in self.records))
        digest = hashlib.md5(ids.encode(), usedforsecurity=False).hexdigest()
        label = f"live:{self.env}" + (f" since {self.since}" if self.since else "")
        return DatasetVersion(version=label, path=Path(f"prediction-log/{self.env}"), digest=digest)

    def frame(self, settings: Settings) -> Any:
        """One row per logged prediction, one column per feature (missing -> NaN)."""
        import pandas as pd

        if not self.records:
            raise InputError(
                f"no logged requests in environment {self.env!r}"
                + (f" since {self.since}" if self.since else "")
                + "; is environments."
                + self.env
                + ".prediction_log.enabled true and has the environment served requests?"
            )
        columns = settings.data.features.all
        rows = [{c: r.get("inputs", {}).get(c) for c in columns} for r in self.records]
        frame = pd.DataFrame(rows, columns=columns)
        for c in settings.data.features.numeric:
            frame[c] = pd.to_numeric(frame[c], errors="coerce")
        return frame

    def describe(self) -> dict[str, Any]:
        versions: dict[str, int] = {}
        for r in self.records:
            versions[str(r.get("version"))] = versions.get(str(r.get("version")), 0) + 1
        return {
            "env": self.env,
            "since": self.since,
            "records": len(self.records),
            "first": self.records[0]["ts"] if self.records else None,
            "last": self.records[-1]["ts"] if self.records else None,
            "versions": versions,
        }


def live_inputs(settings: Settings, env_name: str, since: str | None = None) -> LiveInputs:
    """The logged inputs of `env_name` (shipped to state.url first when it is set)."""
    from ml.deploy.predictions import read_predictions

    records = [
        r for r in read_predictions(settings, env_name, since=since) if r.get("status") == 200
    ]
    return LiveInputs(env_name, since, records)


@dataclass
class LiveScore:
    """A version scored on the logged requests that labels arrived for."""

    env: str
    model: str | None
    version: str
    metric: str
    value: float | None
    metrics: dict[str, float | None]
    matched: int
    labels: int
    logged: int
    join: str
    bound: dict[str, float | None] = field(default_factory=dict)
    recorded: float | None = None
    below: bool = False
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _key(value: Any) -> str:
    """Join keys compare as text: a CSV reads 17 as an int, a JSON log may hold "17"."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _finite(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 6)


def score_live(
    settings: Settings,
    env_name: str,
    labels_csv: Path,
    *,
    version: str | None = None,
    since: str | None = None,
    records: list[dict[str, Any]] | None = None,
    recorded: float | None = None,
) -> LiveScore:
    """Join `labels_csv` to the logged predictions and compute the task's metrics.

    The CSV holds the target column (`data.target`) and either `request_id` (plus `row` for
    batch requests; default 0) or the data id column (`data.id_column`). `version` picks the
    version scored (default: the one with the most matched records). `recorded` is the value
    the version had at evaluation; the result says whether it is below `ct.performance` bounds.
    """
    import pandas as pd

    from ml.tasks import DIRECTION, compute_metrics

    target = settings.data.target
    try:
        labels = pd.read_csv(labels_csv)
    except FileNotFoundError:
        raise InputError(f"{labels_csv}: labels file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(f"{labels_csv}: not a readable CSV ({e})") from None
    if target not in labels.columns:
        raise InputError(
            f"{labels_csv}: no column {target!r} (data.target); columns are "
            f"{', '.join(map(str, labels.columns))}"
        )
    id_col = settings.data.id_column
    if REQUEST_ID in labels.columns:
        join = REQUEST_ID
        rows = labels[ROW] if ROW in labels.columns else pd.Series(0, index=labels.index)
        keys = [f"{_key(r)}#{_key(n)}" for r, n in zip(labels[REQUEST_ID], rows, strict=True)]
    elif id_col and id_col in labels.columns:
        join = id_col
        keys = [_key(v) for v in labels[id_col]]
    else:
        raise InputError(
            f"{labels_csv}: needs a {REQUEST_ID!r} column (the x-request-id the server returned"
            f", with {ROW!r} for batch requests)"
            + (f" or the data id column {id_col!r} (data.id_column)" if id_col else "")
            + f" to join the labels to the logged predictions of {env_name!r}"
        )
    truth = dict(zip(keys, labels[target], strict=True))
    if records is None:
        from ml.deploy.predictions import read_predictions

        records = read_predictions(settings, env_name, since=since)
    logged = [r for r in records if r.get("status", 200) == 200]

    def key(r: dict[str, Any]) -> str | None:
        if join == REQUEST_ID:
            return f"{_key(r.get('request_id'))}#{_key(r.get('row', 0))}"
        return None if r.get("data_id") is None else _key(r.get("data_id"))

    matched_by_version: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    for r in logged:
        k = key(r)
        if k is not None and k in truth:
            matched_by_version.setdefault(str(r.get("version")), []).append((r, truth[k]))
    if not matched_by_version:
        hint = (
            " (the log has no data_id: do clients send the id column, and is data.id_column set "
            "when the container started?)"
            if join != REQUEST_ID
            else ""
        )
        raise InputError(
            f"{labels_csv}: none of its {len(labels)} labels matches one of the {len(logged)} "
            f"logged predictions of {env_name!r} by {join}{hint}"
        )
    if version is None:
        version = max(matched_by_version, key=lambda v: len(matched_by_version[v]))
    pairs = matched_by_version.get(str(version), [])
    if not pairs:
        raise InputError(
            f"no labelled request was answered by version {version} in {env_name!r} "
            f"(versions with labels: {', '.join(sorted(matched_by_version))})"
        )
    task = settings.train.task
    y_true = [t for _, t in pairs]
    y_pred = [r["prediction"] for r, _ in pairs]
    # Labels read from a CSV come back as numbers or strings; the log keeps the user's values.
    if task != "regression":
        y_true = [_key(v) for v in y_true]
        y_pred = [_key(v) for v in y_pred]
    scores = None
    classes = None
    positive = settings.train.positive_class
    probas = [r.get("probabilities") for r, _ in pairs]
    meta_classes = _classes(pairs)
    if task != "regression" and all(p is not None for p in probas) and meta_classes:
        classes = [_key(c) for c in meta_classes]
        import numpy as np

        matrix = np.asarray(probas, dtype=float)
        if task == "binary":
            pos = _key(positive) if positive is not None else classes[-1]
            scores = matrix[:, classes.index(pos)] if pos in classes else None
            positive = pos
        else:
            scores = matrix
    elif task == "binary":
        positive = _key(positive) if positive is not None else None
    metrics = compute_metrics(task, y_true, y_pred, scores, classes, positive)
    cfg = settings.ct.performance
    metric = cfg.metric or settings.evaluate.primary_metric or next(iter(metrics))
    value = metrics.get(metric)
    model = pairs[0][0].get("model")
    if recorded is None and model:
        recorded = recorded_metric(settings, model, str(version), metric)
    direction = DIRECTION.get(metric, 1)
    bounds = settings.evaluate.min if direction > 0 else settings.evaluate.max
    floor = cfg.min if cfg.min is not None else bounds.get(metric)
    problems = []
    if value is not None and not math.isnan(value):
        if floor is not None and (value - floor) * direction < 0:
            problems.append(f"{metric} {value:.4f} is past the bound {floor:.4f}")
        if recorded is not None and (recorded - value) * direction > cfg.max_drop:
            problems.append(
                f"{metric} fell {(recorded - value) * direction:.4f} from its recorded "
                f"{recorded:.4f} (more than {cfg.max_drop:g})"
            )
    detail = "; ".join(problems) or (
        f"{metric} {value:.4f} on {len(pairs)} labelled live requests"
        if value is not None and not math.isnan(value)
        else f"{metric} cannot be computed on {len(pairs)} labelled requests"
    )
    return LiveScore(
        env=env_name,
        model=model,
        version=str(version),
        metric=metric,
        value=_finite(value) if value is not None else None,
        metrics={k: _finite(v) for k, v in metrics.items()},
        matched=len(pairs),
        labels=len(labels),
        logged=len(logged),
        join=join,
        bound={"min" if direction > 0 else "max": floor, "max_drop": cfg.max_drop},
        recorded=recorded,
        below=bool(problems),
        detail=detail,
    )


def _classes(pairs: list[tuple[dict[str, Any], Any]]) -> list[Any] | None:
    """The class order of the logged probabilities: records carry it when the server knew it."""
    for r, _ in pairs:
        if r.get("classes"):
            return list(r["classes"])
    return None


def recorded_metric(settings: Settings, model: str, version: str, metric: str) -> float | None:
    """`test_<metric>` recorded on the version's training run, when the registry knows it."""
    from ml.errors import MlciError
    from ml.registry import ModelRegistry

    try:
        registry = ModelRegistry(settings)
        info = registry.get_version(model, version)
        if not info.run_id:
            return None
        return registry.client.get_run(info.run_id).data.metrics.get(f"test_{metric}")
    except MlciError:
        return None
    except Exception:  # an MLflow client error (unknown version): nothing recorded to compare
        return None
