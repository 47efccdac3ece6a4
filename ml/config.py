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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ml.errors import ConfigError

CONFIG_FILENAME = "mlci.yaml"
ENV_PREFIX = "MLCI_"
# Variables that configure mlci itself rather than a settings field.
_NON_FIELD_VARS = {"MLCI_CONFIG", "MLCI_LIVE_JENKINS_URL", "MLCI_LIVE_JENKINS_USER",
                   "MLCI_LIVE_JENKINS_TOKEN"}


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
    id_column: str
    target: str
    features: FeatureSchema
    test_size: float = Field(0.2, gt=0, lt=1)

    def path_for(self, version: str | None = None) -> Path:
        return self.dir / f"{version or self.version}.csv"


class TrainSettings(_Section):
    seed: int = 42
    estimator: str = Field(description="import path of a scikit-learn classifier")
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("estimator")
    @classmethod
    def _dotted(cls, v: str) -> str:
        if "." not in v:
            raise ValueError("expected an import path such as sklearn.linear_model.LogisticRegression")
        return v


class EvaluateSettings(_Section):
    primary_metric: str = "roc_auc"
    min: dict[str, float] = Field(default_factory=dict, description="metric >= bound")
    max: dict[str, float] = Field(default_factory=dict, description="metric <= bound")
    regression_tolerance: float = Field(
        0.01, ge=0, description="how far below the champion's value a metric may fall"
    )
    compare_to_champion: list[str] = Field(default_factory=lambda: ["roc_auc"])


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
    timeout: float = 30.0


class PathSettings(_Section):
    build: Path = Path("build")
    state: Path = Path(".mlci")


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
    # Sections owned by later stages (deploy environments, continuous training) are typed in
    # their own modules' terms but live here so there is one settings object.
    environments: dict[str, dict[str, Any]] = Field(default_factory=dict)
    ct: dict[str, Any] = Field(default_factory=dict)

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

    @property
    def tracking_uri(self) -> str:
        """The MLflow URI with a relative sqlite path anchored at the project root."""
        uri = self.mlflow.tracking_uri
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
            return prefix + str(self.path(uri[len(prefix):]))
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
        keys = [k.lower() for k in name[len(ENV_PREFIX):].split("__")]
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
    elif "input" in err and err["type"] not in {"missing"}:
        msg = f"{msg} (got {err['input']!r})"
    return f"{loc}: {msg}"


def load_settings(path: Path | str | None = None, environ: dict[str, str] | None = None) -> Settings:
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
        raise ConfigError(f"{cfg_path}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
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
