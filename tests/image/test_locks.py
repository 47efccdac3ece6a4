"""The serving locks pin the same versions as the training lock (what was validated ships)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO


def pins(name: str) -> dict[str, str]:
    text = (REPO / "locks" / name).read_text()
    return dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, re.M))


@pytest.mark.parametrize("lock", ["serve.txt", "serve-sklearn.txt"])
def test_serving_lock_agrees_with_training_lock(lock):
    serve, train = pins(lock), pins("requirements.txt")
    assert {"numpy", "onnxruntime", "uvicorn", "orjson"} <= set(serve)
    drift = {p: (v, train[p]) for p, v in serve.items() if p in train and train[p] != v}
    assert drift == {}, f"run `make lock`: {lock} differs from requirements.txt: {drift}"


def test_fallback_lock_has_the_training_stack():
    serve, train = pins("serve-sklearn.txt"), pins("requirements.txt")
    for package in ("scikit-learn", "pandas", "scipy", "joblib"):
        assert serve[package] == train[package]
