"""The canary's judgement: figures of the new and the old version, bounds, and the decision.

A canary sends a share of live traffic to the new version through the front's weights. Every
`canary.interval` seconds the deploying process measures, since the canary began:

- the new version's error rate as clients saw it (the front's per-server 5xx and failed
  connections), beside the old version's;
- both versions' p99 latency of scoring requests (each serving container's /metrics histogram);
- their disagreement on the same requests: requests the new version answered (its prediction
  log) are replayed on the old version, which a weighted split never sends them to.

`decide()` is the pure rule (unit-tested); ml/deploy/deploy.py runs the watch and acts on it.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ml.config import CanarySettings
from ml.errors import InputError

PROMOTE = "promote"
ROLLBACK = "rollback"
WATCH = "watch"
Verdict = Literal["promote", "rollback", "watch"]

MAX_WEIGHT = 256  # HAProxy's largest server weight
SCORING_ENDPOINTS = ("predict", "invocations")


@dataclass(frozen=True)
class CanaryFigures:
    """What was measured since the canary began (new version vs the old one it may replace)."""

    elapsed: float
    requests: int  # answered by the new version, as the front counted them
    errors: int  # of those: 5xx answers and failed connections/responses
    baseline_requests: int
    baseline_errors: int
    p99_ms: float | None = None
    baseline_p99_ms: float | None = None
    compared: int = 0  # new version's logged requests replayed on the old version
    disagreed: int = 0
    # new servers the front's health check has taken out of rotation (DOWN): the new version
    # stopped answering, whether or not a client request was caught failing on it
    down: tuple[str, ...] = ()

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def baseline_error_rate(self) -> float:
        return self.baseline_errors / self.baseline_requests if self.baseline_requests else 0.0

    @property
    def disagreement(self) -> float | None:
        return self.disagreed / self.compared if self.compared else None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            error_rate=round(self.error_rate, 6),
            baseline_error_rate=round(self.baseline_error_rate, 6),
            disagreement=None if self.disagreement is None else round(self.disagreement, 6),
        )
        return out


@dataclass(frozen=True)
class CanaryDecision:
    verdict: Verdict
    reasons: tuple[str, ...]


def decide(f: CanaryFigures, bounds: CanarySettings, *, finished: bool) -> CanaryDecision:
    """Roll back on the first broken bound; promote when the watch is over and every bound held
    on enough traffic; otherwise keep watching.

    Errors are judged from the first request: more failures than `max_error_rate` allows on
    `min_requests` already break the bound however few requests came, so a new version that
    errors is rolled back at the next look. Latency and disagreement are judged once there is
    enough of a sample (`min_requests`, `min_compared`)."""
    broken: list[str] = []
    budget = bounds.max_error_rate * max(f.requests, bounds.min_requests)
    if f.errors > budget:
        broken.append(
            f"error rate {f.error_rate:.2%} ({f.errors} of {f.requests} requests failed) "
            f"> max_error_rate {bounds.max_error_rate:.2%}"
        )
    elif f.down:
        broken.append(
            f"error rate: the new version stopped answering ({', '.join(f.down)} DOWN at the "
            f"front's health check; the front retried its requests on the old version)"
        )
    enough = f.requests >= bounds.min_requests
    if enough and f.p99_ms is not None:
        if bounds.max_p99_ms is not None and f.p99_ms > bounds.max_p99_ms:
            broken.append(f"p99 {f.p99_ms:.1f} ms > max_p99_ms {bounds.max_p99_ms:g}")
        if f.baseline_p99_ms is not None:
            floor = bounds.p99_floor_ms
            ratio = max(f.p99_ms, floor) / max(f.baseline_p99_ms, floor, 1e-9)
            if ratio > bounds.max_p99_ratio:
                broken.append(
                    f"p99 {f.p99_ms:.1f} ms is {ratio:.2f}x the old version's "
                    f"{f.baseline_p99_ms:.1f} ms > max_p99_ratio {bounds.max_p99_ratio:g}"
                )
    rate = f.disagreement
    if rate is not None and f.compared >= bounds.min_compared and rate > bounds.max_disagreement:
        broken.append(
            f"disagreement {rate:.2%} ({f.disagreed} of {f.compared} replayed requests) "
            f"> max_disagreement {bounds.max_disagreement:.2%}"
        )
    if broken:
        return CanaryDecision(ROLLBACK, tuple(broken))
    if not finished:
        return CanaryDecision(WATCH, ())
    missing = []
    if not enough:
        missing.append(
            f"only {f.requests} requests reached the new version (min_requests "
            f"{bounds.min_requests}): not enough traffic to judge it"
        )
    if f.compared < bounds.min_compared:
        missing.append(
            f"only {f.compared} of its requests could be replayed on the old version "
            f"(min_compared {bounds.min_compared}); is the prediction log on?"
        )
    if missing:
        return CanaryDecision(ROLLBACK, tuple(missing))
    return CanaryDecision(PROMOTE, ("every bound held",))


def split_weights(percent: float, n_new: int, n_old: int) -> tuple[int, int]:
    """Per-server weights (new, old) so the new servers together get `percent` of requests."""
    if not 0 < percent < 100:
        raise InputError(f"--canary {percent:g}: a percentage between 0 and 100 (exclusive)")
    ratio = (percent / (100 - percent)) * (n_old / n_new)  # w_new / w_old
    if ratio <= 1:
        return max(1, round(MAX_WEIGHT * ratio)), MAX_WEIGHT
    return MAX_WEIGHT, max(1, round(MAX_WEIGHT / ratio))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(text: str) -> float:
    """`90`, `90s`, `5m`, `1h` -> seconds."""
    m = _DURATION.match(text)
    if not m:
        raise InputError(f"--for {text!r}: expected a duration such as 90s, 5m or 1h")
    scale = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]
    seconds = float(m.group(1)) * scale
    if seconds <= 0:
        raise InputError(f"--for {text!r}: the canary must be watched for some time")
    return seconds


_BUCKET = re.compile(
    r'^mlci_request_duration_seconds_bucket\{endpoint="(?P<e>[^"]+)",le="(?P<le>[^"]+)"\}'
    r"\s+(?P<v>\S+)$"
)


def latency_histogram(metrics_text: str) -> dict[float, float]:
    """Cumulative counts per bucket bound (seconds) of the scoring endpoints, from /metrics."""
    out: dict[float, float] = {}
    for line in metrics_text.splitlines():
        m = _BUCKET.match(line)
        if m and m.group("e") in SCORING_ENDPOINTS:
            le = math.inf if m.group("le") == "+Inf" else float(m.group("le"))
            out[le] = out.get(le, 0.0) + float(m.group("v"))
    return out


def histogram_since(now: dict[float, float], before: dict[float, float]) -> dict[float, float]:
    return {le: now[le] - before.get(le, 0.0) for le in now}


def quantile_ms(hist: dict[float, float], q: float = 0.99) -> float | None:
    """The q-quantile in milliseconds, interpolated inside its bucket as Prometheus'
    histogram_quantile does; the top finite bound when it falls in +Inf; None when empty."""
    bounds = sorted(hist)
    total = hist[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for le in bounds:
        count = hist[le]
        if count >= rank:
            if math.isinf(le):
                return lower * 1000
            inside = count - below
            share = (rank - below) / inside if inside else 1.0
            return (lower + (le - lower) * share) * 1000
        lower, below = le, count
    return lower * 1000
