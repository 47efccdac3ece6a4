"""A wheel of the running mlci, for the stage image: the mlci in the image is the mlci you run.

From a checkout (ml.resources.source_root) the wheel is built from the source with `uv build`
(or `python -m pip wheel` where there is no uv). From an installed wheel there is no source: the
installed distribution is packed back into a wheel from the files its RECORD lists (the package
and its .dist-info, with a fresh RECORD), which gives the same files the user installed.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from ml import resources
from ml.errors import InputError, ServiceError

DIST = "mlci"
# Written by the installer, not part of the wheel.
INSTALLER_FILES = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}

Progress = Callable[[str], None]


def mlci_wheel(out_dir: Path, progress: Progress = lambda _: None) -> Path:
    """Write a wheel of the running mlci into `out_dir`; returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    source = resources.source_root()
    if source is not None:
        return build_from_source(source, out_dir, progress)
    return repack_installed(out_dir, progress)


def build_from_source(source: Path, out_dir: Path, progress: Progress) -> Path:
    """`uv build` (sdist, then the wheel from it in a temporary folder: no build/ left in the
    checkout, whose build/ holds the stage outputs), else `pip wheel`."""
    import tempfile

    uv = shutil.which("uv")
    with tempfile.TemporaryDirectory(prefix="mlci-wheel-") as tmp:
        if uv:
            cmd = [uv, "build", "--quiet", "--out-dir", tmp, str(source)]
        else:
            cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp, str(source)]
        progress(f"mlci wheel: building {source}")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("mlci-*.whl"))
        if proc.returncode != 0 or not wheels:
            raise ServiceError(
                f"building the mlci wheel from {source} failed ({' '.join(cmd[:2])}):\n"
                + (proc.stderr or proc.stdout).strip()[-2000:]
            )
        return Path(shutil.move(wheels[-1], out_dir / wheels[-1].name))


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def repack_installed(out_dir: Path, progress: Progress) -> Path:
    """Pack the installed mlci distribution (not an editable one) back into a wheel."""
    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        raise InputError(
            "the running mlci is neither a checkout nor an installed distribution; "
            "install the wheel (docs/install.md)"
        ) from None
    info_dir = f"{DIST}-{dist.version}.dist-info"
    entries: list[tuple[str, Path]] = []
    for f in dist.files or []:
        top = f.parts[0]
        if "__pycache__" in f.parts or f.suffix == ".pyc":
            continue
        if top == "ml" or (top.endswith(".dist-info") and f.name not in INSTALLER_FILES):
            entries.append((f.as_posix(), Path(str(dist.locate_file(f)))))
    package = resources.package_dir()
    if not any(name == "ml/__init__.py" for name, _ in entries):
        raise InputError(
            f"{package}: the installed mlci lists no package files (an editable install "
            "outside its checkout?); build the stage image from the checkout or the wheel"
        )
    wheel = out_dir / f"{DIST}-{dist.version}-py3-none-any.whl"
    progress(f"mlci wheel: packing the installed {DIST} {dist.version} from {package}")
    record: list[str] = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, path in sorted(entries):
            data = path.read_bytes()
            top, _, rest = name.partition("/")
            arcname = f"{info_dir}/{rest}" if top.endswith(".dist-info") else name
            zf.writestr(arcname, data)
            record.append(_record_line(arcname, data))
        record.append(f"{info_dir}/RECORD,,")
        zf.writestr(f"{info_dir}/RECORD", "\n".join(record) + "\n")
    return wheel
