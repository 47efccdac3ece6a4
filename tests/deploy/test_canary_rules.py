"""The canary's pure parts: the decision against the bounds, weights, durations, the latency
histogram, and the attempt records (failed, in-progress canary) in the deploy history."""

from __future__ import annotations

from dataclasses import replace

import pytest
from click.testing import CliRunner

from ml.cli import cli
from ml.config import CanarySettings, load_settings
from ml.deploy.canary import (
    PROMOTE,
    ROLLBACK,
    WATCH,
    CanaryFigures,
    decide,
    histogram_since,
    latency_histogram,
    parse_duration,
    quantile_ms,
    split_weights,
)
from ml.deploy.history import (
    CANARY,
    FAILED,
    ROLLED_BACK,
    DeploymentRecord,
    append_history,
    canary_in_progress,
    read_history,
    serving_stack,
)
from ml.errors import InputError

BOUNDS = CanarySettings(
    min_requests=50, max_error_rate=0.02, max_p99_ratio=1.5, p99_floor_ms=5, min_compared=20
)
HEALTHY = CanaryFigures(
    elapsed=30,
    requests=200,
    errors=0,
    baseline_requests=1800,
    baseline_errors=0,
    p99_ms=8.0,
    baseline_p99_ms=7.0,
    compared=100,
    disagreed=0,
)


def test_healthy_canary_is_watched_then_promoted():
    assert decide(HEALTHY, BOUNDS, finished=False).verdict == WATCH
    assert decide(HEALTHY, BOUNDS, finished=True) == decide(HEALTHY, BOUNDS, finished=True)
    assert decide(HEALTHY, BOUNDS, finished=True).verdict == PROMOTE


def test_errors_roll_back_at_the_first_look_even_on_little_traffic():
    early = replace(HEALTHY, requests=3, errors=2, compared=0)
    d = decide(early, BOUNDS, finished=False)
    assert d.verdict == ROLLBACK
    assert d.reasons == ("error rate 66.67% (2 of 3 requests failed) > max_error_rate 2.00%",)
    # one failure in 3 requests is within the budget of min_requests (2% of 50 = 1)
    assert decide(replace(early, errors=1), BOUNDS, finished=False).verdict == WATCH
    # on a large sample the rate itself counts: 5 of 200 = 2.5% > 2%
    assert decide(replace(HEALTHY, errors=5), BOUNDS, finished=False).verdict == ROLLBACK
    assert decide(replace(HEALTHY, errors=4), BOUNDS, finished=True).verdict == PROMOTE


def test_latency_bounds():
    slow = replace(HEALTHY, p99_ms=12.0)  # 12 / 7 = 1.71x
    d = decide(slow, BOUNDS, finished=False)
    assert d.verdict == ROLLBACK and "1.71x the old version's 7.0 ms" in d.reasons[0]
    # two tiny latencies are compared at the floor, not by their ratio
    tiny = replace(HEALTHY, p99_ms=2.0, baseline_p99_ms=0.5)
    assert decide(tiny, BOUNDS, finished=True).verdict == PROMOTE
    capped = BOUNDS.model_copy(update={"max_p99_ms": 7.5})
    assert decide(HEALTHY, capped, finished=False).reasons == ("p99 8.0 ms > max_p99_ms 7.5",)
    # latency is not judged on fewer than min_requests
    assert decide(replace(slow, requests=10), BOUNDS, finished=False).verdict == WATCH


def test_disagreement_bound():
    apart = replace(HEALTHY, compared=100, disagreed=3)
    d = decide(apart, BOUNDS, finished=False)
    assert d.reasons == (
        "disagreement 3.00% (3 of 100 replayed requests) > max_disagreement 2.00%",
    )
    assert decide(replace(apart, disagreed=2), BOUNDS, finished=True).verdict == PROMOTE
    # too few replayed to judge while watching; too few to promote at the end
    few = replace(HEALTHY, compared=10, disagreed=5)
    assert decide(few, BOUNDS, finished=False).verdict == WATCH
    end = decide(few, BOUNDS, finished=True)
    assert end.verdict == ROLLBACK and "only 10 of its requests could be replayed" in end.reasons[0]


def test_not_enough_traffic_is_not_a_promotion():
    d = decide(replace(HEALTHY, requests=49), BOUNDS, finished=True)
    assert d.verdict == ROLLBACK
    assert d.reasons[0].startswith("only 49 requests reached the new version (min_requests 50)")


@pytest.mark.parametrize(
    ("percent", "n_new", "n_old"), [(10, 1, 1), (50, 1, 1), (25, 1, 3), (90, 2, 1), (1, 1, 1)]
)
def test_weights_give_the_share(percent, n_new, n_old):
    w_new, w_old = split_weights(percent, n_new, n_old)
    assert 1 <= w_new <= 256 and 1 <= w_old <= 256
    share = n_new * w_new / (n_new * w_new + n_old * w_old)
    assert share == pytest.approx(percent / 100, abs=0.005)


def test_bad_percent_and_duration():
    with pytest.raises(InputError, match="between 0 and 100"):
        split_weights(100, 1, 1)
    assert [parse_duration(t) for t in ("90", "90s", "5m", "1h", "500ms")] == [
        90,
        90,
        300,
        3600,
        0.5,
    ]
    with pytest.raises(InputError, match=r"--for '5 minutes': expected a duration"):
        parse_duration("5 minutes")


METRICS = """\
mlci_request_duration_seconds_bucket{endpoint="predict",le="0.001"} 10
mlci_request_duration_seconds_bucket{endpoint="predict",le="0.005"} 90
mlci_request_duration_seconds_bucket{endpoint="predict",le="0.01"} 100
mlci_request_duration_seconds_bucket{endpoint="predict",le="+Inf"} 100
mlci_request_duration_seconds_bucket{endpoint="invocations",le="0.001"} 0
mlci_request_duration_seconds_bucket{endpoint="invocations",le="0.005"} 0
mlci_request_duration_seconds_bucket{endpoint="invocations",le="0.01"} 100
mlci_request_duration_seconds_bucket{endpoint="invocations",le="+Inf"} 100
mlci_request_duration_seconds_count{endpoint="predict"} 100
"""


def test_p99_from_the_metrics_histogram():
    hist = latency_histogram(METRICS)
    assert hist == {0.001: 10, 0.005: 90, 0.01: 200, float("inf"): 200}
    # rank 198 of 200 lies in (5 ms, 10 ms], which holds 110 requests from 90 to 200
    assert quantile_ms(hist) == pytest.approx(5 + 5 * (198 - 90) / 110)
    assert quantile_ms(histogram_since(hist, hist)) is None
    # before: the predict requests had been answered; since then only the invocations ones
    before = {0.001: 10, 0.005: 90, 0.01: 100, float("inf"): 100}
    assert quantile_ms(histogram_since(hist, before), 0.5) == pytest.approx(7.5)


def rec(version: str, outcome: str = "done", deploy_id: str = "", **kw) -> DeploymentRecord:
    return DeploymentRecord(
        env="staging",
        model="m",
        version=version,
        digest=f"sha256:{version}",
        image=f"r@sha256:{version}",
        action=kw.pop("action", "deploy"),
        by="t",
        at="now",
        started_at="now",
        outcome=outcome,
        deploy_id=deploy_id,
        **kw,
    )


def test_attempts_are_recorded_but_only_done_ones_serve(project):
    settings = load_settings(project)
    for r in (
        rec("1"),
        rec("2", FAILED, failed_step="smoke"),
        rec("3", CANARY, "c3", action="canary"),
        rec("3", ROLLED_BACK, "c3", action="canary", failed_step="watch"),
        rec("4", CANARY, "c4", action="canary", canary={"percent": 10}),
    ):
        append_history(settings, r)
    assert read_history(settings, "staging") == [rec("1")]
    attempts = read_history(settings, "staging", attempts=True)
    assert [(r.version, r.outcome) for r in attempts] == [
        ("1", "done"),
        ("2", "failed"),
        ("3", "canary"),
        ("3", "rolled back"),
        ("4", "canary"),
    ]
    assert serving_stack(attempts) == [rec("1")]
    running = canary_in_progress(attempts)
    assert running is not None and (running.version, running.canary) == ("4", {"percent": 10})
    append_history(settings, rec("4", "done", "c4", action="canary"))
    assert canary_in_progress(read_history(settings, "staging", attempts=True)) is None


def test_canary_options_are_checked_before_any_work(project):
    runner = CliRunner()
    result = runner.invoke(cli, ["deploy", "staging", "1", "--canary", "100"])
    assert result.exit_code == 2
    assert "Invalid value for '--canary'" in result.output
    result = runner.invoke(cli, ["deploy", "staging", "1", "--for", "5m"])
    assert result.exit_code == 2
    assert "--for needs --canary PERCENT" in result.output
    result = runner.invoke(cli, ["deploy", "staging", "1", "--canary", "10", "--for", "soon"])
    assert (result.exit_code, result.output) == (
        2,
        "Error: --for 'soon': expected a duration such as 90s, 5m or 1h\n",
    )


def test_a_new_server_down_at_the_front_is_rolled_back_even_with_no_failed_request():
    """The front retries a dead server's requests elsewhere, so no client request may have
    been caught failing on it: its health check taking it DOWN is the signal."""
    few = replace(HEALTHY, requests=3, compared=0, down=("stg-v2-0-ab12",))
    d = decide(few, BOUNDS, finished=False)
    assert d.verdict == ROLLBACK
    assert d.reasons[0].startswith("error rate: the new version stopped answering")
    assert "stg-v2-0-ab12 DOWN" in d.reasons[0]
    assert decide(replace(few, down=()), BOUNDS, finished=False).verdict == WATCH
