"""One typed settings object, read from mlci.yaml and overridden by MLCI_* environment variables.

Every relative path in the file is resolved against the folder that holds the file (the project
root), so `mlci` behaves the same from any working directory. Overrides use a double underscore
between levels and YAML syntax for values:

    MLCI_MLFLOW__TRACKING_URI=http://mlflow:5000
    MLCI_TRAIN__PARAMS__MAX_ITER=50
    MLCI_EVALUATE__MIN__ROC_AUC=0.9

Nothing here runs at import time: `load_settings()` does the reading.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ml.errors import ConfigError, InputError
from ml.tasks import METRICS, NEEDS_PROBA, PRIMARY_METRIC

CONFIG_FILENAME = "mlci.yaml"
ENV_PREFIX = "MLCI_"
# Variables that configure mlci itself rather than a settings field.
_NON_FIELD_VARS = {
    "MLCI_CONFIG",
    "MLCI_LIVE_JENKINS_URL",
    "MLCI_LIVE_JENKINS_USER",
    "MLCI_LIVE_JENKINS_TOKEN",
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureSchema(_Section):
    numeric: list[str]
    categorical: list[str]

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]


class DataSettings(_Section):
    dir: Path = Path("data/snapshots")
    version: str = Field(description="dataset version (snapshot name) used by default")
    contract: Path = Path("data/contract/churn.yaml")
    id_column: str | None = Field(
        None, description="optional column naming each row (kept out of the features)"
    )
    target: str
    features: FeatureSchema
    test_size: float = Field(0.2, gt=0, lt=1)

    def path_for(self, version: str | None = None) -> Path:
        return self.dir / f"{version or self.version}.csv"


Label = str | bool | int | float


class TrainSettings(_Section):
    seed: int = 42
    task: Literal["binary", "multiclass", "regression"] = Field(
        "binary", description="what the target is: two classes, more classes, or a number"
    )
    positive_class: Label | None = Field(
        None,
        description="binary only: the label whose probability is the score (roc_auc, precision, "
        "recall); default: the minority class of the training data",
    )
    estimator: str = Field(
        description="a class (package.module.Class) or a factory (package.module:function), "
        "importable from the project root"
    )
    params: dict[str, Any] = Field(default_factory=dict)
    trusted_types: list[str] = Field(
        default_factory=list,
        description="extra types skops may load in the fitted model (your own estimator's)",
    )

    @field_validator("estimator")
    @classmethod
    def _dotted(cls, v: str) -> str:
        if ":" in v:
            module, _, func = v.partition(":")
            if not module or not func or ":" in func or not func.isidentifier():
                raise ValueError(
                    "expected a factory such as mypackage.models:make_model (module:function)"
                )
            return v
        if "." not in v:
            raise ValueError(
                "expected an import path such as sklearn.linear_model.LogisticRegression "
                "or a factory such as mypackage.models:make_model"
            )
        return v

    @model_validator(mode="after")
    def _positive_class_is_binary(self) -> TrainSettings:
        if self.positive_class is not None and self.task != "binary":
            raise ValueError(
                f"train.positive_class applies to task binary only (task is {self.task})"
            )
        return self


class EvaluateSettings(_Section):
    primary_metric: str | None = Field(
        None, description="metric recorded at the gate; default per task (roc_auc, f1_macro, rmse)"
    )
    min: dict[str, float] = Field(default_factory=dict, description="metric >= bound")
    max: dict[str, float] = Field(default_factory=dict, description="metric <= bound")
    regression_tolerance: float = Field(
        0.01, ge=0, description="how far below the champion's value a metric may fall"
    )
    compare_to_champion: list[str] | None = Field(
        None, description="metrics that may not regress; default [primary_metric]"
    )
    tests: Path | None = Field(
        None,
        description="folder of the project's own pytest model tests, run by the pipeline's "
        "test stage (`mlci model test`); None: no such stage",
    )


class MlflowSettings(_Section):
    tracking_uri: str = "sqlite:///.mlci/mlflow.db"
    artifact_root: Path = Path(".mlci/mlartifacts")
    experiment: str = "churn"
    model_name: str = "churn-classifier"


class ImageSettings(_Section):
    base_image: str = "python:3.11-slim"
    repository: str = "mlci/churn-classifier"
    ci_image: str = "mlci/ci:latest"


class RegistrySettings(_Section):
    """The OCI image registry model images are pushed to. Credentials come from the environment."""

    url: str = "127.0.0.1:5000"
    username_env: str = "MLCI_REGISTRY_USER"
    password_env: str = "MLCI_REGISTRY_PASSWORD"
    insecure: bool = True


class JenkinsSettings(_Section):
    url: str = "http://127.0.0.1:8080"
    user_env: str = "JENKINS_USER"
    token_env: str = "JENKINS_TOKEN"
    folder: str = "ml"
    timeout: float = Field(30.0, gt=0, description="seconds, for every HTTP call")
    jobs_dir: Path = Path("jenkins/jobs")
    scm_url: str = Field("", description="repository the jobs check out; default: git origin")
    scm_credentials_id: str = ""


class PathSettings(_Section):
    build: Path = Path("build")
    state: Path = Path(".mlci")


class StateSettings(_Section):
    """Where deploy history and locks live: this machine's state folder, or PostgreSQL for a team.

    `url` empty keeps them under `paths.state` (one laptop, one agent). A `postgresql://` URL
    puts them in that database, shared by every Jenkins job and agent (docs/team.md). The
    password never goes in the URL: libpq reads it from PGPASSWORD or ~/.pgpass.
    """

    url: str = Field("", description="'' = files under paths.state; postgresql://user@host/db")
    lease_seconds: float = Field(
        120.0, gt=0, description="a lock held by a lost agent expires after this (renewed)"
    )
    connect_timeout: float = Field(5.0, gt=0, description="seconds to reach the database")

    @field_validator("url")
    @classmethod
    def _no_password(cls, v: str) -> str:
        from urllib.parse import urlsplit

        if not v:
            return v
        parts = urlsplit(v)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("expected '' (files) or a postgresql://user@host:port/db URL")
        if parts.password is not None or "password=" in parts.query:
            from pydantic_core import PydanticCustomError

            # A type of its own so the error message never echoes the value (the password).
            raise PydanticCustomError(
                "secret_in_url",
                "the URL holds a password; remove it and set PGPASSWORD (or ~/.pgpass) instead",
            )
        return v

    @property
    def shared(self) -> bool:
        return bool(self.url)


class SmokeSettings(_Section):
    """The smoke test run against a new container before it receives traffic."""

    tolerance: float = Field(1e-4, ge=0, description="max |served - recorded| probability")
    max_samples: int = Field(20, ge=1, description="recorded inputs replayed per deploy")
    timeout: float = Field(10.0, gt=0, description="seconds per smoke request")


class CanarySettings(_Section):
    """Bounds a canary (`mlci deploy run ... --canary PERCENT`) must stay within to be promoted.

    The new version is rolled back as soon as one bound is broken; it is promoted when the
    watch ends with every bound kept and enough traffic seen to judge (docs/deploy.md#canary).
    """

    duration: float = Field(300.0, gt=0, description="seconds watched when --for is not given")
    interval: float = Field(5.0, gt=0, description="seconds between two looks at the figures")
    min_requests: int = Field(
        50, ge=1, description="requests the new version must answer before it can be promoted"
    )
    max_error_rate: float = Field(
        0.01, ge=0, le=1, description="share of the new version's requests that may fail (5xx)"
    )
    max_p99_ratio: float = Field(
        1.5, gt=0, description="new version's p99 latency may be at most this times the old one's"
    )
    max_p99_ms: float | None = Field(None, gt=0, description="absolute p99 bound of the new one")
    p99_floor_ms: float = Field(
        10.0, ge=0, description="latencies below this count as equal (no ratio of two tiny p99s)"
    )
    max_disagreement: float = Field(
        0.02, ge=0, le=1, description="share of replayed requests the two versions answer apart"
    )
    min_compared: int = Field(
        20, ge=0, description="logged requests replayed on the old version before promoting"
    )
    max_compared: int = Field(200, ge=1, description="logged requests replayed per look at most")
    tolerance: float = Field(
        0.01, ge=0, description="regression: relative difference that counts as disagreeing"
    )


class FrontSettings(_Section):
    """The HAProxy front that owns each environment's stable port (docs/deploy.md)."""

    image: str = Field(
        "mlci/haproxy:2.6",
        description="front image: scripts/bootstrap-front-image.sh builds mlci/haproxy:2.6 "
        "from Debian's haproxy; any image with haproxy and sh (e.g. haproxy:2.6) works",
    )
    network: Literal["host", "bridge"] = Field(
        "host",
        description="host: HAProxy binds the stable port on the host itself (no docker-proxy "
        "in the path; Linux engines, ports >= 1024); bridge: a published port (Docker Desktop)",
    )
    check_interval_ms: int = Field(
        500, ge=100, le=60000, description="HAProxy health check (GET /ready) interval"
    )
    drain_timeout: float = Field(
        30.0, ge=0, description="seconds a removed backend may finish its requests in flight"
    )


class PredictionLogSettings(_Section):
    """The serving containers' prediction log (docs/serve.md#prediction-log): each sampled
    request's inputs and prediction, written by a background thread as JSON-lines segments to
    a Docker volume of the environment, read (and shipped to `state.url` when set) by mlci."""

    enabled: bool = Field(True, description="serving containers record their requests")
    sample_rate: float = Field(1.0, ge=0, le=1, description="share of requests recorded")
    max_mb: float = Field(
        256.0, gt=0, description="cap of the environment's log volume; oldest segments go first"
    )
    segment_mb: float = Field(8.0, gt=0, description="a worker starts a new segment at this size")
    queue_size: int = Field(
        10000, ge=1, description="requests waiting for the writer; beyond, dropped and counted"
    )
    volume: str | None = Field(
        None, description="Docker volume holding the log; default <container>-predictions"
    )

    @model_validator(mode="after")
    def _segment_fits(self) -> PredictionLogSettings:
        if self.segment_mb > self.max_mb:
            raise ValueError(
                f"prediction_log.segment_mb ({self.segment_mb:g}) must not exceed "
                f"prediction_log.max_mb ({self.max_mb:g})"
            )
        return self


class EnvironmentSettings(_Section):
    """One deployment target: a Docker host and the stable port its clients use."""

    docker_host: str | None = Field(
        None, description="DOCKER_HOST URL (unix://..., tcp://host:2376); None = local engine"
    )
    port: int = Field(description="stable published port clients call", gt=0, lt=65536)
    bind: str = Field("0.0.0.0", description="host address the stable port is published on")
    check_host: str | None = Field(
        None, description="where mlci reaches ports published by docker_host (default: its host)"
    )
    container: str = Field(description="name of the serving container")
    alias: str | None = Field(None, description="registry alias set on success (default per env)")
    requires: str | None = Field(
        None, description="an environment this version must have been deployed to first"
    )
    cpus: float | None = Field(None, gt=0, description="CPU limit of the serving container")
    memory: str | None = Field(None, description="memory limit, e.g. 512m")
    ready_timeout: float = Field(60.0, gt=0, description="seconds to wait for /ready")
    drain_seconds: float = Field(1.0, ge=0, description="wait after the switch before stopping")
    stop_timeout: int = Field(10, ge=0, description="SIGTERM grace period of the old container")
    smoke: SmokeSettings = SmokeSettings()
    replicas: int = Field(
        1, ge=1, le=16, description="serving containers behind the front, replaced one by one"
    )
    canary: CanarySettings = CanarySettings()
    prediction_log: PredictionLogSettings = PredictionLogSettings()


class DriftSettings(_Section):
    """When a column drifts: a large shift (PSI or distance above its bound) that is not noise
    (test p-value below its bound), measured on at most `sample_size` rows per side."""

    psi_max: float = Field(0.2, gt=0, description="shift is large when PSI exceeds this")
    distance_max: float = Field(
        0.1,
        gt=0,
        le=1,
        description="shift is large when the KS statistic (numeric) / total variation "
        "distance (categorical) exceeds this",
    )
    p_value_min: float = Field(
        0.001,
        gt=0,
        lt=1,
        description="shift is not noise when the KS/chi-square p-value on the sample is below",
    )
    sample_size: int = Field(
        5000, ge=100, description="rows sampled from each snapshot (seeded) before measuring"
    )
    min_features: int = Field(1, ge=1, description="drifted features needed to retrain")
    bins: int = Field(10, ge=2, description="quantile bins for the PSI of numeric features")


class PerformanceSettings(_Section):
    metric: str | None = Field(None, description="metric scored (default evaluate.primary_metric)")
    min: float | None = Field(None, description="retrain below this (default evaluate.min[metric])")
    max_drop: float = Field(0.02, ge=0, description="retrain when it falls this far below record")


class CtSettings(_Section):
    """Continuous training: when `mlci ct check` asks for a retraining build."""

    signals: list[Literal["new_data", "performance", "drift"]] = Field(
        default_factory=lambda: ["new_data", "performance", "drift"]
    )
    drift: DriftSettings = DriftSettings()
    performance: PerformanceSettings = PerformanceSettings()
    job: str = Field("train/main", description="Jenkins job (under jenkins.folder) that retrains")


class DvcSettings(_Section):
    """Where dataset versions live: a DVC remote (docs/data.md). Credentials of an S3 remote come
    from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment, never from this file."""

    remote: str | None = Field(
        None, description="DVC remote name; None = the default remote in .dvc/config"
    )
    url: str | None = Field(
        None, description="override the remote's URL, e.g. s3://bucket/dvc (defines `remote`)"
    )
    endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (SeaweedFS, MinIO) for an s3:// url"
    )


class JenkinsApprovalSettings(_Section):
    """Which Jenkins input answers count as approvals (proof kind `jenkins-input`)."""

    approvers: list[str] = Field(
        default_factory=list,
        description="Jenkins user ids whose answer to the input approves; empty = none do",
    )
    jobs: list[str] = Field(
        default_factory=lambda: ["release/deploy"],
        description="jobs (under jenkins.folder; leading / = from the root) whose input counts",
    )
    input_ids: list[str] = Field(
        default_factory=lambda: ["Promote"], description="input Ids (as Jenkins spells them)"
    )
    model_parameter: str = Field("MODEL_NAME", description="build parameter naming the model")
    version_parameter: str = Field(
        "MODEL_VERSION", description="build parameter naming the version"
    )

    @field_validator("approvers", mode="before")
    @classmethod
    def _comma_list(cls, v: Any) -> Any:
        """Also "alice,bob", the form of the controller's MLCI_APPROVERS (the input's submitter)."""
        if isinstance(v, str):
            return [u.strip() for u in v.split(",") if u.strip()]
        return v


class ApprovalSettings(_Section):
    """What makes an approval count: the proofs `mlci model push`, `deploy`, `promote` verify."""

    proofs: list[Literal["local-ed25519", "jenkins-input"]] = Field(
        default_factory=lambda: ["local-ed25519", "jenkins-input"],
        description="proof kinds accepted on an approved version",
    )
    trusted_keys: list[str] = Field(
        default_factory=list,
        description="approver public keys (ed25519:<base64>); empty = this machine's own key, "
        "outside CI only",
    )
    key_file: Path | None = Field(
        None,
        description="the local approver's private key; default "
        "$XDG_CONFIG_HOME/mlci/approver-ed25519.pem (never inside a workspace)",
    )
    jenkins: JenkinsApprovalSettings = JenkinsApprovalSettings()

    @field_validator("trusted_keys")
    @classmethod
    def _keys(cls, v: list[str]) -> list[str]:
        for key in v:
            if not key.startswith("ed25519:"):
                raise ValueError(f"expected ed25519:<base64 public key>, got {key!r}")
        return v


class Settings(_Section):
    project: str = "churn"
    root: Path = Field(Path("."), description="folder of mlci.yaml; set by load_settings")
    data: DataSettings
    train: TrainSettings
    evaluate: EvaluateSettings = EvaluateSettings()
    mlflow: MlflowSettings = MlflowSettings()
    image: ImageSettings = ImageSettings()
    registry: RegistrySettings = RegistrySettings()
    jenkins: JenkinsSettings = JenkinsSettings()
    paths: PathSettings = PathSettings()
    environments: dict[str, EnvironmentSettings] = Field(default_factory=dict)
    ct: CtSettings = CtSettings()
    state: StateSettings = StateSettings()
    approval: ApprovalSettings = ApprovalSettings()
    dvc: DvcSettings = DvcSettings()
    front: FrontSettings = FrontSettings()

    @model_validator(mode="after")
    def _metrics_fit_the_task(self) -> Settings:
        """Every metric named in evaluate/ct is one of the task's; fill in per-task defaults."""
        task = self.train.task
        known = METRICS[task]
        ev = self.evaluate
        named: list[tuple[str, list[str]]] = [
            ("evaluate.primary_metric", [ev.primary_metric] if ev.primary_metric else []),
            ("evaluate.min", list(ev.min)),
            ("evaluate.max", list(ev.max)),
            ("evaluate.compare_to_champion", list(ev.compare_to_champion or [])),
            (
                "ct.performance.metric",
                [self.ct.performance.metric] if self.ct.performance.metric else [],
            ),
        ]
        problems = []
        for field, names in named:
            unknown = [m for m in names if m not in known]
            if unknown:
                problems.append(
                    f"{field}: {', '.join(unknown)} is not a {task} metric "
                    f"(train.task is {task}, whose metrics are {', '.join(known)})"
                )
        if problems:
            raise ValueError("\n".join(problems))
        primary = ev.primary_metric or PRIMARY_METRIC[task]
        compare = ev.compare_to_champion if ev.compare_to_champion is not None else [primary]
        if ev.primary_metric != primary or ev.compare_to_champion != compare:
            ev = ev.model_copy(update={"primary_metric": primary, "compare_to_champion": compare})
            return self.model_copy(update={"evaluate": ev})
        return self

    def gate_metrics(self) -> dict[str, str]:
        """Every metric the gate or CT uses, with the field that names it."""
        ev = self.evaluate
        out = {m: "evaluate.min" for m in ev.min}
        out.update({m: "evaluate.max" for m in ev.max})
        out.update({m: "evaluate.compare_to_champion" for m in ev.compare_to_champion or []})
        if ev.primary_metric:
            out.setdefault(ev.primary_metric, "evaluate.primary_metric")
        if self.ct.performance.metric:
            out.setdefault(self.ct.performance.metric, "ct.performance.metric")
        return out

    def proba_metrics(self) -> dict[str, str]:
        """The gate's metrics that need predict_proba for this task (with their field)."""
        need = NEEDS_PROBA[self.train.task]
        return {m: f for m, f in self.gate_metrics().items() if m in need}

    approval: ApprovalSettings = ApprovalSettings()

    def path(self, p: Path | str) -> Path:
        """Resolve a path from the config against the project root."""
        p = Path(p)
        return p if p.is_absolute() else self.root / p

    @property
    def build_dir(self) -> Path:
        return self.path(self.paths.build)

    @property
    def state_dir(self) -> Path:
        return self.path(self.paths.state)

    def dataset_path(self, version: str | None = None) -> Path:
        return self.path(self.data.path_for(version))

    def environment(self, name: str) -> EnvironmentSettings:
        """`environments.<name>`; InputError naming the file and the known names otherwise."""
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise InputError(
                f"environment {name!r} is not in {self.root / 'mlci.yaml'} (environments: {known})"
            ) from None

    @property
    def tracking_uri(self) -> str:
        """The MLflow URI with a relative sqlite path anchored at the project root."""
        uri = self.mlflow.tracking_uri
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
            return prefix + str(self.path(uri[len(prefix) :]))
        return uri


def find_config(start: Path | None = None) -> Path:
    """MLCI_CONFIG if set, else the nearest mlci.yaml at or above `start` (default: cwd)."""
    env = os.environ.get("MLCI_CONFIG")
    if env:
        return Path(env)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILENAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_FILENAME} found in {here} or any parent folder; "
        f"run mlci from a project folder or pass --config PATH"
    )


def _env_overrides(environ: dict[str, str]) -> list[tuple[list[str], Any, str]]:
    out = []
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or name in _NON_FIELD_VARS or "__" not in name:
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX) :].split("__")]
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        out.append((keys, value, name))
    return out


def _set_path(doc: dict[str, Any], keys: list[str], value: Any) -> None:
    node = doc
    for k in keys[:-1]:
        child = node.get(k)
        if not isinstance(child, dict):
            child = {}
            node[k] = child
        node = child
    node[keys[-1]] = value


def _describe(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = err["msg"]
    if err["type"] == "missing":
        msg = "required field is missing"
    elif err["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling; see mlci.yaml in the repository for all fields)"
    elif err["type"] == "value_error" and isinstance(err.get("input"), dict):
        # A check across fields: its message names the field(s) itself.
        return "\n  ".join(str(err.get("ctx", {}).get("error", msg)).splitlines())
    elif "input" in err and err["type"] not in {"missing", "secret_in_url"}:
        msg = f"{msg} (got {err['input']!r})"
    return f"{loc}: {msg}"


def load_settings(
    path: Path | str | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Read mlci.yaml (found as in `find_config` when `path` is None) plus MLCI_* overrides."""
    cfg_path = Path(path) if path else find_config()
    environ = dict(os.environ if environ is None else environ)
    try:
        text = cfg_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{cfg_path}: config file not found") from None
    except OSError as e:
        raise ConfigError(f"{cfg_path}: cannot read config file: {e.strerror}") from None
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"{cfg_path}: not valid YAML{where}: {getattr(e, 'problem', e)}"
        ) from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{cfg_path}: expected a mapping of sections at the top level")
    sources = {}
    for keys, value, var in _env_overrides(environ):
        _set_path(doc, keys, value)
        sources[".".join(keys)] = var
    doc["root"] = cfg_path.resolve().parent
    try:
        return Settings.model_validate(doc)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            text_ = _describe(err)
            loc = ".".join(str(p) for p in err["loc"])
            var = next((v for k, v in sources.items() if loc.startswith(k)), None)
            lines.append(f"  {text_}" + (f" [from {var}]" if var else ""))
        raise ConfigError(f"{cfg_path}: invalid configuration\n" + "\n".join(lines)) from None
