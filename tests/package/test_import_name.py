"""Issue 14 item 5: a project with its own `ml` package cannot import its code next to mlci's
`ml`; the clash is a clear error naming both folders, not a confusing ImportError. An installed
library's estimator still trains in such a project."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml import resources
from ml.config import load_settings
from ml.errors import ConfigError
from ml.train.model import estimator_factory
from tests.conftest import write_project

FACTORY = (
    "from sklearn.linear_model import LogisticRegression\n\ndef make(**kw):\n"
    "    return LogisticRegression(**kw)\n"
)


def _project(root: Path, estimator: str, own_ml: bool) -> Path:
    config = write_project(root, overrides={"train.estimator": estimator, "train.params": {}})
    if own_ml:
        (root / "ml").mkdir()
        (root / "ml" / "__init__.py").write_text("")
        (root / "ml" / "models.py").write_text(FACTORY)
    (root / "teamcode.py").write_text(FACTORY)
    return config


@pytest.mark.parametrize("estimator", ["ml.models:make", "teamcode:make"])
def test_own_ml_package_is_refused_naming_both_folders(tmp_path, estimator):
    settings = load_settings(_project(tmp_path / "proj", estimator, own_ml=True), environ={})
    with pytest.raises(ConfigError) as e:
        estimator_factory(settings)
    msg = str(e.value)
    assert str(tmp_path / "proj" / "ml") in msg
    assert str(resources.package_dir()) in msg
    assert f"{estimator.split(':')[0]!r} cannot be imported" in msg
    assert e.value.exit_code == 2  # the README table: bad input or configuration


def test_installed_estimator_trains_beside_an_own_ml_package(tmp_path):
    settings = load_settings(
        _project(tmp_path / "proj", "sklearn.linear_model.LogisticRegression", own_ml=True),
        environ={},
    )
    assert estimator_factory(settings).__name__ == "LogisticRegression"


def test_project_code_without_an_ml_package_imports(tmp_path):
    settings = load_settings(_project(tmp_path / "proj", "teamcode:make", own_ml=False), environ={})
    assert estimator_factory(settings)().__class__.__name__ == "LogisticRegression"


def test_mlci_own_checkout_is_not_a_clash():
    assert resources.user_ml_package(resources.package_dir().parent) is None
