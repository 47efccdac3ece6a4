"""The training-cache key changes with every input that can change the model, and only then.

One real training run records its key in a real (embedded) MLflow store; then each part of the
key is changed in turn, and the lookup must miss; changing docs or unrelated files must hit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ml.cache import find_cached, training_key
from ml.cache.key import PACKAGE_ROOT, model_code_digest
from ml.cli import cli
from ml.config import load_settings
from ml.data.dataset import file_digest
from tests.conftest import REPO, write_project

PACKAGE = """
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from mymodel.features import scaler

NUMERIC = ["tenure_months", "monthly_charges", "total_charges", "support_calls", "senior_citizen"]
CATEGORICAL = ["contract", "payment_method", "internet_service"]


def build(C=1.0, random_state=None):
    prep = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), scaler()), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ]
    )
    model = LogisticRegression(C=C, max_iter=300, random_state=random_state)
    return make_pipeline(prep, model)
"""
FEATURES = """
from sklearn.preprocessing import StandardScaler


def scaler():
    return StandardScaler()
"""


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with its own model package and a small copy of the data, trained once."""
    root = tmp_path_factory.mktemp("cache-key")
    (root / "mymodel").mkdir()
    (root / "mymodel/__init__.py").write_text("")
    (root / "mymodel/pipeline.py").write_text(PACKAGE)
    (root / "mymodel/features.py").write_text(FEATURES)
    (root / "locks").mkdir()
    shutil.copy(REPO / "locks/requirements.txt", root / "locks/requirements.txt")
    lines = (REPO / "data/snapshots/2025Q1.csv").read_bytes().splitlines(keepends=True)
    (root / "data").mkdir()
    (root / "data/small.csv").write_bytes(b"".join(lines[:3001]))
    cfg = write_project(
        root,
        {
            "train.estimator": "mymodel.pipeline:build",
            "train.params": {"C": 0.5},
            "data.dir": str(root / "data"),
            "data.version": "small",
        },
    )
    env = {k: None for k in os.environ if k.startswith("MLCI_")}
    r = CliRunner().invoke(cli, ["--config", str(cfg), "train", "--json"], env=env)
    assert r.exit_code == 0, r.output
    return cfg


def key_of(cfg: Path, env: dict[str, str] | None = None):
    settings = load_settings(cfg, env or {})
    return settings, training_key(settings, file_digest(settings.dataset_path()))


def lookup(cfg: Path, env: dict[str, str] | None = None):
    settings, key = key_of(cfg, env)
    return find_cached(settings, key.key)


def test_unchanged_inputs_hit_the_recorded_run(trained_project: Path):
    hit = lookup(trained_project)
    assert hit is not None and hit.version is None and hit.run_id


def test_docs_and_unrelated_files_and_settings_still_hit(trained_project: Path):
    root = trained_project.parent
    (root / "README.md").write_text("# a project\n")
    (root / "docs").mkdir(exist_ok=True)
    (root / "docs/notes.md").write_text("anything\n")
    (root / "scripts").mkdir(exist_ok=True)
    (root / "scripts/deploy.sh").write_text("#!/bin/sh\n")
    unrelated = {"MLCI_EVALUATE__MIN__ROC_AUC": "0.5", "MLCI_JENKINS__FOLDER": "other"}
    assert lookup(trained_project, unrelated) is not None


def test_a_changed_helper_function_in_the_users_model_code_misses(trained_project: Path):
    features = trained_project.parent / "mymodel/features.py"
    before = features.read_text()
    try:
        features.write_text(before.replace("StandardScaler()", "StandardScaler(with_mean=False)"))
        _, key = key_of(trained_project)
        assert lookup(trained_project) is None
        assert key.differing(key_of_parts(trained_project, before, features)) == ["user_code"]
    finally:
        features.write_text(before)
    assert lookup(trained_project) is not None


def key_of_parts(cfg: Path, text: str, path: Path) -> dict[str, str]:
    changed = path.read_text()
    path.write_text(text)
    try:
        return key_of(cfg)[1].parts
    finally:
        path.write_text(changed)


def test_a_changed_helper_in_mlcis_model_code_changes_the_code_part(tmp_path: Path):
    copy = tmp_path / "ml"
    shutil.copytree(PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert model_code_digest(copy) == model_code_digest(PACKAGE_ROOT)
    model = copy / "train/model.py"
    model.write_text(model.read_text() + "\n\ndef _helper():\n    return 1\n")
    assert model_code_digest(copy) != model_code_digest(PACKAGE_ROOT)
    # ...while code that does not build or fit the model is not part of it.
    shutil.copytree(PACKAGE_ROOT, tmp_path / "ml2", ignore=shutil.ignore_patterns("__pycache__"))
    deploy = tmp_path / "ml2/deploy/deploy.py"
    deploy.write_text(deploy.read_text() + "\n# a comment\n")
    assert model_code_digest(tmp_path / "ml2") == model_code_digest(PACKAGE_ROOT)


@pytest.mark.parametrize(
    ("part", "env"),
    [
        ("params", {"MLCI_TRAIN__PARAMS__C": "0.25"}),
        ("seed", {"MLCI_TRAIN__SEED": "7"}),
        ("config", {"MLCI_DATA__TEST_SIZE": "0.3"}),
    ],
)
def test_one_param_the_seed_or_the_split_misses(trained_project: Path, part, env):
    _, same = key_of(trained_project)
    _, changed = key_of(trained_project, env)
    assert same.differing(changed.parts) == [part]
    assert lookup(trained_project, env) is None


def test_one_data_byte_misses(trained_project: Path):
    data = trained_project.parent / "data/small.csv"
    before = data.read_bytes()
    try:
        i = before.index(b"\n") + 5
        data.write_bytes(
            before[:i] + (b"9" if before[i : i + 1] != b"9" else b"8") + before[i + 1 :]
        )
        assert lookup(trained_project) is None
    finally:
        data.write_bytes(before)
    assert lookup(trained_project) is not None


def test_the_lock_misses(trained_project: Path):
    lock = trained_project.parent / "locks/requirements.txt"
    before = lock.read_text()
    try:
        lock.write_text(before.replace("scikit-learn==", "scikit-learn==0", 1))
        _, key = key_of(trained_project)
        assert lookup(trained_project) is None
        assert key.parts["lock"] != key_of_parts(trained_project, before, lock)["lock"]
    finally:
        lock.write_text(before)


def test_the_stage_image_id_is_recorded_but_not_keyed(trained_project: Path, monkeypatch):
    """Its id changes with every image rebuild; its Python, libc and packages are keyed."""
    from ml.cache.key import platform_facts

    monkeypatch.setenv("MLCI_STAGE_IMAGE", "sha256:" + "0" * 64)
    assert platform_facts()["stage_image"] == "sha256:" + "0" * 64
    assert lookup(trained_project) is not None


def test_a_lookup_imports_no_training_stack(trained_project: Path):
    code = (
        "import sys\n"
        "from ml.cache import find_cached, training_key\n"
        "from ml.config import load_settings\n"
        "from ml.data.dataset import resolve_dataset\n"
        f"s = load_settings({str(trained_project)!r}, {{}})\n"
        "k = training_key(s, resolve_dataset(s).digest)\n"
        "assert find_cached(s, k.key) is not None\n"
        "heavy = [m for m in ('sklearn', 'mlflow', 'skops', 'great_expectations') "
        "if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_cache_is_shared_through_a_tracking_server(tmp_path: Path, mlflow_server):
    """Two workspaces, one MLflow server: the second finds the first one's registered version
    over the REST API (no MLflow client import), and a changed param misses."""
    import uuid

    name = f"cache-{uuid.uuid4().hex[:8]}"
    lines = (REPO / "data/snapshots/2025Q1.csv").read_bytes().splitlines(keepends=True)
    data = tmp_path / "data"
    data.mkdir()
    (data / "small.csv").write_bytes(b"".join(lines[:3001]))
    overrides = {
        "data.dir": str(data),
        "data.version": "small",
        "mlflow.experiment": name,
        "mlflow.model_name": name,
        "train.params": {"max_iter": 20},
        "evaluate.min": {},
        "evaluate.max": {},
    }
    first = write_project(tmp_path / "a", overrides, tracking_uri=mlflow_server.url)
    env = {k: None for k in os.environ if k.startswith("MLCI_")}
    for args in (("train",), ("evaluate",), ("model", "register")):
        r = CliRunner().invoke(cli, ["--config", str(first), *args], env=env)
        assert r.exit_code == 0, r.output
    second = write_project(tmp_path / "b", overrides, tracking_uri=mlflow_server.url)
    hit = lookup(second)
    assert hit is not None and hit.version == "1" and hit.model_name == name
    assert lookup(second, {"MLCI_TRAIN__PARAMS__MAX_ITER": "21"}) is None
    r = CliRunner().invoke(cli, ["--config", str(second), "train"], env=env)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"cache hit: version 1, key {hit.key[:12]}; reused run ")
