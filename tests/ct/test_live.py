"""CT on real traffic: requests logged by the real server (tests/serve) checked for drift
against the champion's training snapshot, and scored once their labels arrive."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest
import requests
from click.testing import CliRunner

from ml.cli import cli
from ml.config import load_settings
from ml.ct.check import run_check
from ml.ct.live import LiveInputs, score_live
from ml.errors import InputError
from tests.conftest import REPO
from tests.fixtures.serving import serve

pytestmark = pytest.mark.slow

FEATURES = [
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "senior_citizen",
    "contract",
    "payment_method",
    "internet_service",
]


def _frame(n: int = 600) -> pd.DataFrame:
    return pd.read_csv(REPO / "data" / "snapshots" / "2025Q1.csv").sample(n, random_state=3)


def _log(bundle, tmp_path, frame: pd.DataFrame) -> tuple[list[dict], dict[str, list]]:
    """Send `frame` in batches of 50 (request ids b0, b1, ...); the log records and answers."""
    rows = json.loads(frame.drop(columns=["churned"]).to_json(orient="records"))
    answers = {}
    with serve(bundle, tmp_path, container="live", id_column="customer_id") as srv:
        for i in range(0, len(rows), 50):
            r = requests.post(
                f"{srv.url}/invocations",
                json={"dataframe_records": rows[i : i + 50]},
                headers={"X-Request-ID": f"b{i // 50}"},
            )
            assert r.status_code == 200
            answers[f"b{i // 50}"] = r.json()["predictions"]
        deadline = time.monotonic() + 10
        while True:
            recs = [
                json.loads(line)
                for f in sorted(srv.log_dir.glob("*.jsonl"))
                for line in f.read_text().splitlines()
            ]
            if len(recs) >= len(rows) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert len(recs) == len(rows)
    recs.sort(key=lambda r: (r["ts"], r["id"]))
    return recs, answers


def _drift(report) -> dict[str, bool]:
    return {d.feature: d.drifted for d in report.drift if d.role == "feature"}


def test_live_drift_flags_a_shifted_column_and_not_the_others(ct_env, bundles, tmp_path):
    settings = load_settings(ct_env.config)
    frame = _frame()
    same, _ = _log(bundles["strong"], tmp_path, frame)
    shifted_frame = frame.assign(monthly_charges=frame["monthly_charges"] + 35)
    shifted, _ = _log(bundles["strong"], tmp_path, shifted_frame)

    calm = run_check(settings, live=LiveInputs("prod", None, same))
    assert _drift(calm) == dict.fromkeys(FEATURES, False)
    drift_signal = next(s for s in calm.signals if s.name == "drift")
    assert drift_signal.value["features"] == 0
    assert {s.name: s.evaluated for s in calm.signals} == {
        "new_data": False,
        "performance": False,
        "drift": True,
    }
    assert calm.live["records"] == 600 and calm.dataset["version"] == "live:prod"

    moved = run_check(settings, live=LiveInputs("prod", "1h", shifted))
    flags = _drift(moved)
    assert flags.pop("monthly_charges") is True
    assert flags == dict.fromkeys(set(FEATURES) - {"monthly_charges"}, False)
    assert moved.retrain and "drift" in moved.reasons
    assert moved.drift_sample["current"] == 600


def test_late_labels_score_the_logged_predictions(ct_env, bundles, tmp_path):
    settings = load_settings(ct_env.config)
    frame = _frame(300)
    recs, answers = _log(bundles["strong"], tmp_path, frame)
    truth = frame["churned"].tolist()
    served = [p for i in range(len(answers)) for p in answers[f"b{i}"]]
    accuracy = sum(int(a == b) for a, b in zip(served, truth, strict=True)) / len(truth)

    by_request = tmp_path / "labels.csv"
    pd.DataFrame(
        {
            "request_id": [f"b{i // 50}" for i in range(300)],
            "row": [i % 50 for i in range(300)],
            "churned": truth,
        }
    ).to_csv(by_request, index=False)
    score = score_live(settings, "prod", by_request, records=recs)
    assert (score.matched, score.join, score.version) == (300, "request_id", "1")
    assert score.metrics["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert score.metric == "roc_auc" and score.value > 0.8 and not score.below

    by_id = tmp_path / "by_id.csv"
    frame[["customer_id", "churned"]].head(120).to_csv(by_id, index=False)
    score_id = score_live(settings, "prod", by_id, records=recs)
    assert (score_id.matched, score_id.join) == (120, "customer_id")

    flipped = tmp_path / "flipped.csv"
    frame.assign(churned=1 - frame["churned"])[["customer_id", "churned"]].to_csv(
        flipped, index=False
    )
    bad = score_live(settings, "prod", flipped, records=recs)
    assert bad.below and bad.value < 0.5 and "past the bound 0.8000" in bad.detail

    unknown = tmp_path / "unknown.csv"
    pd.DataFrame({"customer_id": ["nobody"], "churned": [1]}).to_csv(unknown, index=False)
    with pytest.raises(InputError, match="none of its 1 labels matches one of the 300"):
        score_live(settings, "prod", unknown, records=recs)


def test_bad_live_arguments_are_input_errors(ct_env, tmp_path):
    runner = CliRunner()
    out = runner.invoke(cli, ["ct", "check", "--since", "1h"])
    assert out.exit_code == 2 and "--since applies to --live ENV only" in out.output
    nolabel = tmp_path / "x.csv"
    nolabel.write_text("customer_id\nC1\n")
    out = runner.invoke(cli, ["ct", "score-live", "production", "--labels", str(nolabel)])
    assert out.exit_code == 2 and "no column 'churned' (data.target)" in out.output
    nokey = tmp_path / "y.csv"
    nokey.write_text("churned\n1\n")
    out = runner.invoke(cli, ["ct", "score-live", "production", "--labels", str(nokey)])
    assert out.exit_code == 2 and "needs a 'request_id' column" in out.output
    out = runner.invoke(cli, ["ct", "check", "--live", "nowhere"])
    assert out.exit_code == 2 and "environment 'nowhere' is not in" in out.output
