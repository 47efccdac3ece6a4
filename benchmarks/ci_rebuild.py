"""Stage image rebuild time: cold build (no cache) vs a rebuild after a code-only change.

The context is the one `mlci pipeline ci-image` assembles (ml.image.stage.assemble_ci_context:
the lock, its wheelhouse, the project's requirements, a wheel of this checkout's mlci), in a
scratch folder; the code change is a comment appended to `ml/__init__.py` inside that wheel, so
the working tree is never touched. Prints both times and the ratio; writes
benchmarks/results/ci_rebuild.json.

    .venv/bin/python benchmarks/ci_rebuild.py

Target: code-only rebuild <= 10% of the cold build.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ml.config import load_settings  # noqa: E402
from ml.image.build import docker_build, docker_client  # noqa: E402
from ml.image.stage import assemble_ci_context  # noqa: E402

TAG = "mlci-bench/ci:rebuild"


def change_code(wheel: Path) -> None:
    """Rewrite the wheel with one comment more in ml/__init__.py (a code-only change)."""
    changed = wheel.with_suffix(".new")
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(changed, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "ml/__init__.py":
                data += f"# code-only change {time.time()}\n".encode()
            dst.writestr(item, data)
    changed.replace(wheel)


def main() -> None:
    settings = load_settings(REPO / "mlci.yaml", environ={})
    client = docker_client()
    args = {"BASE_IMAGE": settings.image.base_image}
    scratch = REPO / ".mlci" / "cache" / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-ci-", dir=scratch) as tmp:
        ctx = Path(tmp)
        parts = assemble_ci_context(settings, ctx, print)
        t = time.monotonic()
        docker_build(client, ctx, TAG, args, {}, lambda _: None, "ci.Dockerfile", nocache=True)
        cold = time.monotonic() - t
        change_code(ctx / "mlci" / parts["mlci_wheel"])
        t = time.monotonic()
        docker_build(client, ctx, TAG, args, {}, lambda _: None, "ci.Dockerfile")
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
