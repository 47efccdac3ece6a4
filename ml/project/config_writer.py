"""Write mlci.yaml for a new project: data, task, estimator, gate; services at their defaults.

The estimator is scikit-learn's HistGradientBoosting (classifier or regressor by task): it
handles numeric and categorical features, missing values and any size, ships with mlci's ONNX
compiler and skops trust list. Its parameters follow the size of the data: fewer, slower,
smaller trees for small tables (under SMALL_ROWS rows), the bundled defaults otherwise.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

import yaml

from ml.project.baseline import FOLDS, POSITION, Baseline
from ml.project.profile import DataProfile
from ml.tasks import PRIMARY_METRIC as PRIMARY

SMALL_ROWS = 2_000
ESTIMATORS = {
    "binary": "sklearn.ensemble.HistGradientBoostingClassifier",
    "multiclass": "sklearn.ensemble.HistGradientBoostingClassifier",
    "regression": "sklearn.ensemble.HistGradientBoostingRegressor",
}


def slug(text: str) -> str:
    """A project name usable in image, container and model names: [a-z0-9-]."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s or "project"


PORT_BASE = 20000
PORT_SLOTS = 2000


def environment_ports(name: str) -> tuple[int, int]:
    """Default published ports (staging, production) of a project: two neighbours in
    20000-23999 picked by a hash of the name (CRC-32), so projects on one Docker host get
    distinct ports unless their names collide in 1 of 2000 slots (then set
    environments.<env>.port by hand)."""
    slot = zlib.crc32(name.encode("utf-8")) % PORT_SLOTS
    return PORT_BASE + 2 * slot, PORT_BASE + 2 * slot + 1


def estimator_params(profile: DataProfile) -> dict[str, Any]:
    if profile.rows < SMALL_ROWS:
        return {
            "max_iter": 100,
            "learning_rate": 0.05,
            "max_leaf_nodes": 15,
            "min_samples_leaf": 5,
            "early_stopping": False,
        }
    return {"max_iter": 200, "learning_rate": 0.1, "max_leaf_nodes": 31, "early_stopping": False}


def tolerance(profile: DataProfile, baseline: Baseline | None) -> float:
    """How far the primary metric may fall behind the champion's (absolute, like the gate).

    Classification metrics live in [0, 1]: 0.01. rmse is in the target's units: 1% of the
    model's cross-validated rmse (2 significant digits). ct.performance.max_drop is twice it.
    """
    if profile.task != "regression" or baseline is None or "rmse" not in baseline.model:
        return 0.01
    return float(f"{max(0.01 * baseline.model['rmse'], 1e-9):.2g}")


def config_doc(
    profile: DataProfile, name: str, version: str, contract: str, baseline: Baseline | None
) -> dict[str, Any]:
    """The settings as a plain dict (validated with ml.config before anything is written)."""
    train: dict[str, Any] = {"seed": 42, "task": profile.task}
    if profile.task == "binary":
        train["positive_class"] = profile.positive_class
    train["estimator"] = ESTIMATORS[profile.task]
    train["params"] = estimator_params(profile)
    evaluate: dict[str, Any] = {"primary_metric": PRIMARY[profile.task]}
    if baseline is not None:
        evaluate["min"] = baseline.bounds("min")
        evaluate["max"] = baseline.bounds("max")
    evaluate["regression_tolerance"] = tolerance(profile, baseline)
    evaluate["compare_to_champion"] = [PRIMARY[profile.task]]
    return {
        "project": name,
        "data": {
            "dir": "data/snapshots",
            "version": version,
            "contract": contract,
            "id_column": profile.id_column,
            "target": profile.target,
            "features": {"numeric": profile.numeric, "categorical": profile.categorical},
            "test_size": 0.2,
        },
        "train": train,
        "evaluate": evaluate,
    }


def _flow(value: Any, indent: int = 6) -> str:
    """A list in flow style, wrapped at about 96 columns, continuation lines indented."""
    text = yaml.safe_dump(value, default_flow_style=True, width=96 - indent).strip()
    return ("\n" + " " * indent).join(line.strip() for line in text.splitlines())


def _dump(value: Any) -> str:
    """A scalar as YAML (strings quoted only when needed)."""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...").strip()


def render_config(
    doc: dict[str, Any], profile: DataProfile, baseline: Baseline | None, source: str
) -> str:
    """mlci.yaml with comments: what init decided and why, then the service sections."""
    d, t, ev = doc["data"], doc["train"], doc["evaluate"]
    name = doc["project"]
    lines = [
        "# mlci project settings, written by `mlci init` from " + source + ".",
        "# Every field can be overridden by an environment variable:",
        "# MLCI_<SECTION>__<FIELD>=value (e.g. MLCI_MLFLOW__TRACKING_URI=http://mlflow:5000).",
        "# Relative paths are resolved against this file's folder.",
        f"project: {_dump(name)}",
        "",
        "data:",
        "  dir: data/snapshots            # one CSV per dataset version: <dir>/<version>.csv",
        f"  version: {_dump(d['version'])}"
        "              # default version; new versions: data/snapshots/<YYYY-MM-DD>.csv",
        f"  contract: {_dump(d['contract'])}",
        f"  id_column: {_dump(d['id_column'])}"
        + (
            "                # null: no ID column"
            if d["id_column"] is None
            else "   # names each row; never a feature"
        ),
        f"  target: {_dump(d['target'])}",
        "  features:                      # numbers -> numeric; text and booleans -> categorical",
        f"    numeric: {_flow(d['features']['numeric'])}",
        f"    categorical: {_flow(d['features']['categorical'])}",
    ]
    ignored = profile.ignored
    if ignored:
        lines.append("    # left out (still in the contract's column set):")
        lines += [f"    #   {c.name}: {c.note}" for c in ignored]
    lines += [
        "  test_size: 0.2",
        "",
        "train:",
        "  seed: 42",
        f"  task: {t['task']}" + " " * max(1, 23 - len(t["task"])) + f"# {profile.task_reason}",
    ]
    if "positive_class" in t:
        counts = ", ".join(f"{k}: {v}" for k, v in profile.class_counts.items())
        lines.append(
            f"  positive_class: {_dump(t['positive_class'])}"
            f"   # the minority class ({counts}); its probability is the score"
        )
    lines += [
        f"  estimator: {t['estimator']}",
        "  params:                        # "
        + (
            "small data: slower, smaller trees" if profile.rows < SMALL_ROWS else "bundled defaults"
        ),
    ]
    lines += [f"    {k}: {_dump(v)}" for k, v in t["params"].items()]
    lines += ["", "evaluate:"]
    if baseline is not None:
        lines += [
            "  # Gate bounds from a baseline (ml/project/baseline.py): on "
            f"{baseline.rows} rows, {FOLDS}-fold",
            "  # cross-validation of this estimator vs the best of scikit-learn's dummy models "
            "(which",
            "  # ignore the features, as a model trained on shuffled labels does). Each bound sits",
            f"  # {POSITION:.0%} of the way from the dummy's score to the model's: the first run "
            "passes,",
            "  # a model that learned nothing fails.",
        ]
        for th in baseline.thresholds:
            lines.append(
                f"  #   {th.metric}: dummy {th.baseline:.4f}, model {th.model:.4f} "
                f"-> {th.side} {th.bound:g}"
            )
        lines += [f"  #   warning: {w}" for w in baseline.warnings]
    lines.append(f"  primary_metric: {ev['primary_metric']}")
    for side, text in (("min", "metric must be >= bound"), ("max", "metric must be <= bound")):
        bounds = ev.get(side) or {}
        lines.append(f"  {side}:" + (" {}" if not bounds else "") + f"   # {text}")
        lines += [f"    {k}: {_dump(v)}" for k, v in bounds.items()]
    lines += [
        f"  regression_tolerance: {_dump(ev['regression_tolerance'])}"
        + (
            "     # may fall this far below the champion"
            if profile.task != "regression"
            else "   # rmse may exceed the champion's by this (1% of the CV rmse)"
        ),
        f"  compare_to_champion: {_flow(ev['compare_to_champion'])}",
        "",
        SERVICES.format(
            name=name,
            staging_port=environment_ports(name)[0],
            production_port=environment_ports(name)[1],
            max_drop=_dump(2 * ev["regression_tolerance"]),
            max_drop_pad=" " * max(1, 17 - len(_dump(2 * ev["regression_tolerance"]))),
        ),
    ]
    return "\n".join(lines).rstrip() + "\n"


SERVICES = """\
mlflow:
  tracking_uri: sqlite:///.mlci/mlflow.db
  artifact_root: .mlci/mlartifacts
  experiment: {name}
  model_name: {name}-model

image:
  base_image: python:3.11-slim
  repository: mlci/{name}-model
  ci_image: mlci/{name}-ci:latest

registry:
  url: 127.0.0.1:5000
  username_env: MLCI_REGISTRY_USER
  password_env: MLCI_REGISTRY_PASSWORD
  insecure: true

jenkins:
  url: http://127.0.0.1:8080
  user_env: JENKINS_USER
  token_env: JENKINS_TOKEN
  folder: {name}                 # this project's jobs and credentials (one folder per project)
  timeout: 30                    # seconds, for every HTTP call
  jobs_dir: jenkins/jobs         # job definitions applied by `mlci jenkins apply`
  scm_url: ""                    # repository the jobs check out ("" = this checkout's origin)
  scm_credentials_id: ""         # Jenkins credential for that repository ("" = public)

paths:
  build: build                   # reports, JUnit XML, plots (archived by Jenkins)
  state: .mlci                   # embedded MLflow store, registry data, locks

environments:                    # deployment targets (docs/deploy.md); each is a Docker host
  staging:
    docker_host: null            # DOCKER_HOST URL; null = the local engine
    port: {staging_port}                  # stable published port (a small front proxy owns it;
                                 # default derived from the project name, docs/adopt.md)
    container: {name}-staging
    ready_timeout: 90            # seconds to wait for /ready
  production:
    docker_host: null
    port: {production_port}
    container: {name}-production
    requires: staging            # a version must have been deployed to staging first
    ready_timeout: 90

ct:                              # continuous training (docs/ct.md)
  signals: [new_data, performance, drift]
  drift:                         # a column drifts on a large shift that is not noise
    psi_max: 0.2                 # large: PSI above this ...
    distance_max: 0.1            # ... or KS statistic / total variation distance above this
    p_value_min: 0.001           # not noise: KS / chi-square p-value on the sample below this
    sample_size: 5000            # rows sampled (seeded) from each snapshot before measuring
    min_features: 1
    bins: 10
  performance:
    metric: null                 # default: evaluate.primary_metric
    min: null                    # default: evaluate.min[metric]
    max_drop: {max_drop}{max_drop_pad}# retrain when it falls this far from its recorded value
  job: train/main                # Jenkins job under jenkins.folder that retrains (main branch)
"""
