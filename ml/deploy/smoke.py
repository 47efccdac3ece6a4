"""The checks a new container passes before it gets traffic: ready, right version, same answers.

The recorded inputs are `smoke_samples.json`, written by `mlci evaluate` (held-out rows and the
model's predictions at evaluation time) and logged as an artifact of the model version's run.
The served model must return the same labels and probabilities within the environment's
`smoke.tolerance`, and `/metadata` must name the version being deployed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from ml.errors import InputError

INPUT_KEYS = ("inputs", "records", "rows", "instances")
ROW_INPUT_KEYS = ("input", "inputs", "features", "record")


@dataclass(frozen=True)
class SmokeSamples:
    """Recorded inputs and what the model answered at evaluation time."""

    inputs: list[dict[str, Any]]
    predictions: list[Any]
    probabilities: list[float] | None
    source: str


class CheckFailure(Exception):
    """One named deploy check did not pass (carried to DeployFailed with its name)."""

    def __init__(self, check: str, detail: str) -> None:
        super().__init__(f"{check}: {detail}")
        self.check = check
        self.detail = detail


def load_samples(path: Path, limit: int) -> SmokeSamples:
    """Read smoke_samples.json in either layout: columns of lists, or a list of row objects."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read the smoke samples ({e})") from None
    inputs: list[dict[str, Any]]
    probs: list[float] | None
    if isinstance(doc, dict) and isinstance(doc.get("samples"), list):
        doc = doc["samples"]  # mlci evaluate: {"run_id", "model_uri", "samples": [rows]}
    if isinstance(doc, dict):
        key = next((k for k in INPUT_KEYS if k in doc), None)
        if key is None or "predictions" not in doc:
            raise InputError(
                f"{path}: expected keys {'/'.join(INPUT_KEYS)} and 'predictions' "
                f"(found {sorted(doc)}); re-run `mlci evaluate` to record samples"
            )
        inputs, preds = list(doc[key]), list(doc["predictions"])
        probs = doc.get("probabilities")
    elif isinstance(doc, list) and doc and isinstance(doc[0], dict):
        key = next((k for k in ROW_INPUT_KEYS if k in doc[0]), None)
        if key is None:
            raise InputError(f"{path}: rows need one of {ROW_INPUT_KEYS} and 'prediction'")
        inputs = [r[key] for r in doc]
        preds = [r.get("prediction") for r in doc]
        probs = [r["probability"] for r in doc] if "probability" in doc[0] else None
    else:
        raise InputError(f"{path}: expected an object or a non-empty list of rows")
    if not inputs or len(inputs) != len(preds) or (probs is not None and len(probs) != len(preds)):
        raise InputError(f"{path}: inputs, predictions and probabilities differ in length")
    return SmokeSamples(
        inputs=inputs[:limit],
        predictions=preds[:limit],
        probabilities=None if probs is None else [float(p) for p in probs[:limit]],
        source=str(path),
    )


def wait_ready(base_url: str, timeout: float, container: Any | None = None) -> float:
    """Poll GET /ready until 200; return the seconds it took. Fails fast if the container dies."""
    start = time.monotonic()
    last = "no answer yet"
    while time.monotonic() - start < timeout:
        if container is not None:
            container.reload()
            if container.status in ("exited", "dead"):
                raise CheckFailure("ready", f"container exited ({container.status}) before /ready")
        try:
            r = requests.get(f"{base_url}/ready", timeout=2)
            if r.status_code == 200:
                return time.monotonic() - start
            last = f"HTTP {r.status_code}"
        except requests.RequestException as e:
            last = e.__class__.__name__
        time.sleep(0.25)
    raise CheckFailure("ready", f"GET {base_url}/ready not 200 within {timeout:g}s (last: {last})")


def served_version(metadata: dict[str, Any]) -> str | None:
    """The model version named by /metadata: `model.version` (mlci images), else top level."""
    model = metadata.get("model")
    nodes = [model] if isinstance(model, dict) else []
    for node in [*nodes, metadata]:
        for key in ("version", "model_version"):
            if node.get(key) is not None:
                return str(node[key])
    return None


def check_metadata(base_url: str, name: str, version: str, timeout: float) -> dict[str, Any]:
    try:
        r = requests.get(f"{base_url}/metadata", timeout=timeout)
        r.raise_for_status()
        meta = r.json()
    except (requests.RequestException, ValueError) as e:
        raise CheckFailure("metadata", f"GET {base_url}/metadata failed: {e}") from None
    got = served_version(meta)
    if got != str(version):
        raise CheckFailure(
            "metadata", f"/metadata names version {got!r}, expected {version!r} of {name}"
        )
    return meta


def _predict(base_url: str, rows: list[dict[str, Any]], timeout: float) -> dict[str, Any]:
    try:
        r = requests.post(f"{base_url}/predict", json={"records": rows}, timeout=timeout)
    except requests.RequestException as e:
        raise CheckFailure("predict", f"POST {base_url}/predict failed: {e}") from None
    if r.status_code != 200:
        raise CheckFailure(
            "predict", f"POST {base_url}/predict returned HTTP {r.status_code}: {r.text[:200]}"
        )
    try:
        return r.json()
    except ValueError:
        raise CheckFailure("predict", f"POST {base_url}/predict returned non-JSON") from None


def _positive_index(classes: Any) -> int:
    """Where P(positive class) sits in a row of class probabilities (the last by default)."""
    if isinstance(classes, list):
        for i, c in enumerate(classes):
            if str(c).lower() in ("1", "true", "yes"):
                return i
    return -1


def check_predictions(
    base_url: str, samples: SmokeSamples, tolerance: float, timeout: float
) -> dict[str, Any]:
    """Replay the recorded inputs; labels must match and probabilities agree within tolerance."""
    out = _predict(base_url, samples.inputs, timeout)
    preds = out.get("predictions")
    if not isinstance(preds, list) or len(preds) != len(samples.inputs):
        raise CheckFailure(
            "smoke",
            f"/predict returned {len(preds or [])} predictions for {len(samples.inputs)} inputs",
        )
    recorded = samples.probabilities or [None] * len(preds)
    for i, (got, want, p) in enumerate(zip(preds, samples.predictions, recorded, strict=True)):
        near_threshold = p is not None and abs(p - 0.5) <= tolerance
        if str(got) != str(want) and not near_threshold:
            raise CheckFailure("smoke", f"sample {i}: predicted {got!r}, recorded {want!r}")
    max_diff = 0.0
    if samples.probabilities is not None:
        probs = out.get("probabilities")
        if not isinstance(probs, list) or len(probs) != len(samples.probabilities):
            raise CheckFailure("smoke", "/predict returned no probabilities to compare")
        positive = _positive_index(out.get("classes"))
        for i, (got, want) in enumerate(zip(probs, samples.probabilities, strict=True)):
            value = got[positive] if isinstance(got, list) else got
            diff = abs(float(value) - want)
            max_diff = max(max_diff, diff)
            if diff > tolerance:
                raise CheckFailure(
                    "smoke",
                    f"sample {i}: probability {float(value):.6f} differs from recorded "
                    f"{want:.6f} by {diff:.2e} > tolerance {tolerance:g}",
                )
    return {"samples": len(samples.inputs), "max_probability_diff": max_diff}
