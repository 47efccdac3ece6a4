"""Model image size: what the image adds on top of its base, ONNX fast path vs scikit-learn
fallback, for the same registered model version. Prints both; writes
benchmarks/results/image_size.json.

    .venv/bin/python benchmarks/image_size.py

Target: the layers the ONNX image adds on top of the base <= 150 MB.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ml.config import load_settings  # noqa: E402
from ml.image.build import build_model_image  # noqa: E402
from tests.conftest import write_project  # noqa: E402
from tests.image.helpers import register_version  # noqa: E402


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="mlci-bench-size-"))
    results = {}
    try:
        config = write_project(tmp, overrides={"image.repository": "mlci-bench/size"})
        (tmp / ".mlci").mkdir(exist_ok=True)
        (tmp / ".mlci" / "cache").symlink_to(REPO / ".mlci" / "cache", target_is_directory=True)
        settings = load_settings(config, environ={})
        version = register_version(settings, approve=True)
        for runtime in ("onnx", "sklearn"):
            r = build_model_image(settings, None, version, runtime=runtime)
            results[runtime] = {
                "image_mb": r.size_bytes / 1e6,
                "base_mb": r.base_size_bytes / 1e6,
                "added_mb": r.added_bytes / 1e6,
            }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'runtime':<10}{'image MB':>10}{'base MB':>10}{'added MB':>10}")
    for runtime, r in results.items():
        print(f"{runtime:<10}{r['image_mb']:>10.1f}{r['base_mb']:>10.1f}{r['added_mb']:>10.1f}")
    print(f"ONNX image adds {results['onnx']['added_mb']:.1f} MB (target <= 150 MB)")
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "image_size.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
