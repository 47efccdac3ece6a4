"""The pipeline on the embedded default store (SQLite under .mlci/): register, approve, promote.

Every test runs alone (`pytest path::test`): a test that changes the registry works on its own
copy of the project (`trained_copy`, `second_run_copy`), and sets up the state it needs there.
"""

from __future__ import annotations

import json
import re
from xml.etree import ElementTree as ET

import numpy as np

from ml.config import load_settings
from ml.registry import CHALLENGER, CHAMPION, ApprovalStatus, ModelRegistry
from ml.registry import tags as T
from tests.model.conftest import mlci


def test_pipeline_registers_a_pending_challenger_with_its_lineage(trained):
    settings = load_settings(trained)
    reg = ModelRegistry(settings)
    (v,) = reg.list_versions()
    assert v.aliases == [CHALLENGER]
    assert v.approval is ApprovalStatus.PENDING
    run = json.loads((settings.build_dir / "train/run.json").read_text())
    assert v.run_id == run["run_id"] and v.tags[T.RUN_ID] == run["run_id"]
    assert v.tags[T.DATASET_VERSION] == "2025Q1"
    assert v.tags[T.DATASET_DIGEST] == run["dataset_digest"] == "da1e406eaf61a353d693ed9882126cc7"
    assert v.tags[T.GATE_VERDICT] == "passed"
    assert re.fullmatch(r"[0-9a-f]{40}", v.tags[T.GIT_COMMIT])
    assert re.fullmatch(r"[0-9a-f]{64}", v.tags[T.LOCK_HASH])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", v.tags[T.REGISTERED_AT])
    summary = json.loads((settings.build_dir / "pipeline/summary.json").read_text())
    assert [s["status"] for s in summary["stages"]][1:] == ["passed", "passed", "passed"]


def test_evaluate_writes_reports_and_smoke_samples(trained):
    out = load_settings(trained).build_dir / "evaluate"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["verdict"] == "passed" and metrics["n_test"] == 4000
    assert set(metrics["metrics"]) == {
        "roc_auc",
        "f1",
        "precision",
        "recall",
        "accuracy",
        "log_loss",
    }
    assert metrics["metrics"]["roc_auc"] > 0.80
    assert len(ET.parse(out / "junit.xml").getroot().findall("testcase")) == 6
    for png in ("confusion_matrix.png", "roc_curve.png", "pr_curve.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    smoke = json.loads((out / "smoke_samples.json").read_text())
    assert len(smoke["samples"]) == 8
    assert set(smoke["samples"][0]) == {
        "id",
        "features",
        "label",
        "prediction",
        "probability",
        "probabilities",  # per class, aligned with smoke["classes"] (docs/byod.md)
    }


def test_loaded_model_reproduces_the_smoke_samples(trained):
    settings = load_settings(trained)
    smoke = json.loads((settings.build_dir / "evaluate/smoke_samples.json").read_text())
    import pandas as pd

    from ml.train.model import feature_frame

    model = ModelRegistry(settings).load_model(None, "1")
    X = feature_frame(pd.DataFrame([s["features"] for s in smoke["samples"]]), settings)
    proba = model.predict_proba(X)[:, 1]
    np.testing.assert_allclose(proba, [s["probability"] for s in smoke["samples"]], rtol=1e-12)


def test_promote_unapproved_is_refused_with_exit_3(trained_copy):
    trained = trained_copy
    result = mlci(trained, "model", "promote", "1")
    assert result.exit_code == 3
    assert result.output == (
        "Error: model 'churn-classifier' version 1 is pending; approve it first with "
        "`mlci model approve 1 --reason ...`\n"
    )
    assert ModelRegistry(load_settings(trained)).champion() is None


def test_approve_then_promote_moves_champion_and_records_who_when_why(trained_copy):
    trained = trained_copy
    result = mlci(trained, "model", "approve", "1", "--by", "alice", "--reason", "looks good")
    assert (result.exit_code, result.stdout) == (
        0,
        "approved churn-classifier version 1 by alice\n",
    )
    result = mlci(trained, "model", "promote", "1", "--by", "bob")
    assert result.exit_code == 0
    assert result.stdout == "promoted churn-classifier version 1 to champion\n"
    shown = json.loads(mlci(trained, "model", "show", "champion", "--json").stdout)
    assert shown["version"] == "1" and shown["aliases"] == [CHALLENGER, CHAMPION]
    tags = shown["tags"]
    assert (tags[T.APPROVAL_STATUS], tags[T.APPROVAL_BY], tags[T.APPROVAL_REASON]) == (
        "approved",
        "alice",
        "looks good",
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", tags[T.APPROVAL_AT])
    assert tags[T.PROMOTED_BY] == "bob"


def test_second_run_is_reproducible_and_compared_with_the_champion(trained_copy):
    """Same inputs -> identical predictions; the gate scores the champion on the same rows."""
    trained = trained_copy
    for args in (
        ("model", "approve", "1", "--by", "alice", "--reason", "ok"),
        ("model", "promote", "1", "--by", "bob"),
    ):
        assert mlci(trained, *args).exit_code == 0
    settings = load_settings(trained)
    first = json.loads((settings.build_dir / "evaluate/metrics.json").read_text())
    # --no-cache: the training cache would reuse version 1's run instead of training again.
    assert mlci(trained, "train", "--no-cache").exit_code == 0
    result = mlci(trained, "evaluate", "--json")
    assert result.exit_code == 0, result.output
    second = json.loads((settings.build_dir / "evaluate/metrics.json").read_text())
    assert second["run_id"] != first["run_id"]
    assert second["metrics"] == first["metrics"]
    assert second["champion"]["version"] == "1"
    assert second["champion"]["metrics"] == first["metrics"]
    reg = ModelRegistry(settings)
    import pandas as pd

    from ml.data.dataset import resolve_dataset
    from ml.train.data import load_frame
    from ml.train.model import feature_frame

    X = feature_frame(load_frame(settings, resolve_dataset(settings)).head(2000), settings)
    champion_proba = reg.load_model(None, "1").predict_proba(X)
    from ml.evaluate.run import _load_candidate
    from ml.train.record import read_record

    # No session: the second model comes through the artifact store.
    candidate = _load_candidate(settings, read_record(settings), None)
    np.testing.assert_array_equal(candidate.predict_proba(X), champion_proba)
    assert isinstance(X, pd.DataFrame)


def test_reject_requires_reason_and_blocks_later_approval(second_run_copy):
    trained = second_run_copy
    result = mlci(trained, "model", "register")  # registers the second, passing run
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "registered churn-classifier version 2 (approval pending, aliases challenger)\n"
    )
    again = mlci(trained, "model", "register")
    assert again.stdout.endswith(
        "is already registered as churn-classifier version 2 (approval pending); nothing changed\n"
    )
    result = mlci(trained, "model", "reject", "2", "--by", "carol")
    assert result.exit_code == 2 and "Missing option '--reason'" in result.output
    result = mlci(trained, "model", "reject", "2", "--by", "carol", "--reason", "drifted")
    assert (result.exit_code, result.stdout) == (
        0,
        "rejected churn-classifier version 2 by carol: drifted\n",
    )
    result = mlci(trained, "model", "promote", "2")
    assert result.exit_code == 3
    assert result.output.startswith(
        "Error: model 'churn-classifier' version 2 is rejected (rejected by carol at "
    )
    result = mlci(trained, "model", "approve", "2", "--by", "dave")
    assert result.exit_code == 3
    listing = json.loads(mlci(trained, "model", "list", "--json").stdout)
    assert [(v["version"], v["approval"], v["aliases"]) for v in listing] == [
        ("2", "rejected", [CHALLENGER]),
        ("1", "approved", [CHAMPION]),
    ]


def test_unknown_version_and_model_exit_2(second_run_copy):
    trained = second_run_copy
    assert mlci(trained, "model", "register").exit_code == 0
    settings = load_settings(trained)
    result = mlci(trained, "model", "show", "9")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: model 'churn-classifier' has no version 9 in MLflow at "
        f"{settings.tracking_uri} (versions: 2, 1)\n"
    )
    result = mlci(trained, "model", "show", "nope", "1")
    assert result.exit_code == 2
    assert result.output == (
        f"Error: model 'nope' is not registered in MLflow at "
        f"{settings.tracking_uri} (register one with `mlci model "
        f"register`)\n"
    )
