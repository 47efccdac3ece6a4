"""Stage image rebuild time: cold build (no cache) vs a rebuild after a code-only change.

The context is a copy of the checkout's build inputs (pyproject.toml, README.md, ml/, locks/,
the wheelhouse of locks/requirements.txt, docker/ci.Dockerfile), so the code change never
touches the working tree. Prints both times and the ratio; writes
benchmarks/results/ci_rebuild.json.

    .venv/bin/python benchmarks/ci_rebuild.py

Target: code-only rebuild <= 10% of the cold build.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ml.config import load_settings  # noqa: E402
from ml.image.build import docker_build, docker_client, wheelhouse  # noqa: E402

WHEELS = Path(".mlci/cache/wheelhouse/requirements")
TAG = "mlci-bench/ci:rebuild"


def copy_context(dst: Path) -> None:
    for name in ("pyproject.toml", "README.md", ".dockerignore"):
        shutil.copy2(REPO / name, dst / name)
    for name in ("ml", "locks", "docker"):
        shutil.copytree(REPO / name, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
    (dst / WHEELS).mkdir(parents=True)
    for f in (REPO / WHEELS).glob("*.whl"):
        os.link(f, dst / WHEELS / f.name)


def main() -> None:
    settings = load_settings(REPO / "mlci.yaml", environ={})
    wheelhouse(settings, REPO / "locks" / "requirements.txt", print, out=REPO / WHEELS)
    client = docker_client()
    args = {"BASE_IMAGE": settings.image.base_image, "WHEELHOUSE": str(WHEELS)}
    (REPO / ".mlci").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-ci-", dir=REPO / ".mlci") as tmp:
        ctx = Path(tmp)
        copy_context(ctx)
        t = time.monotonic()
        docker_build(
            client, ctx, TAG, args, {}, lambda _: None, "docker/ci.Dockerfile", nocache=True
        )
        cold = time.monotonic() - t
        with (ctx / "ml" / "__init__.py").open("a") as fh:
            fh.write(f"# code-only change {time.time()}\n")
        t = time.monotonic()
        docker_build(client, ctx, TAG, args, {}, lambda _: None, "docker/ci.Dockerfile")
        warm = time.monotonic() - t
    client.images.remove(TAG, force=True)
    print(f"cold build (--no-cache):      {cold:7.1f} s")
    print(f"code-only change rebuild:     {warm:7.1f} s")
    print(f"ratio: {warm / cold:.3f} (target <= 0.10)")
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ci_rebuild.json").write_text(
        json.dumps({"cold_s": cold, "code_only_s": warm, "ratio": warm / cold}, indent=2)
    )


if __name__ == "__main__":
    main()
