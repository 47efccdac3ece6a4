"""The training-cache key: one hash of every input that can change the fitted model.

Parts (each recorded on the run as a `cache.<part>` tag, so a miss or a reproduction can name
what changed):

- `code`: mlci's own model code (MODEL_CODE: the train package, dataset reading, the tasks).
- `user_code`: the project's package that `train.estimator` lives in, every `.py` file of it (a
  changed helper function anywhere in it changes the key); empty for a third-party estimator,
  whose code the lock pins.
- `config`: the data and train settings that shape the model (features, target, task, split
  size, estimator path, trusted types), `params` and `seed` on their own.
- `data`: the dataset digest (its MD5; not its name or path).
- `lock`: sha256 of locks/requirements.txt (else of the installed distributions).
- `platform`: Python implementation and version, OS, machine, libc. In the stage image these
  are the image's own; the image id itself (MLCI_STAGE_IMAGE, set by the Jenkinsfile) is
  recorded as `env.stage_image` but not keyed: it changes with every rebuild of the image (any
  file under ml/, a timestamp), while what it holds that can change a model is the lock and
  the platform, both keyed.

Documentation, tests, other mlci packages (deploy, serve, jenkins...) and other config sections
are not part of it. Standard library only: computing a key imports no training stack.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ml.config import Settings

KEY_VERSION = "1"  # bump when the key's recipe changes, so old keys never match new ones
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the running `ml` package
SOURCE_ROOT = PACKAGE_ROOT.parent
# mlci code that builds, splits, fits: relative to the `ml` package.
MODEL_CODE = ("train", "data/dataset.py", "tasks.py")
LOCK_FILE = Path("locks/requirements.txt")
STAGE_IMAGE_ENV = "MLCI_STAGE_IMAGE"
# Data settings that do not change the model: where files are, which version is the default.
_DATA_NOT_IN_KEY = {"dir", "contract", "version"}
PARTS = ("code", "user_code", "config", "params", "seed", "data", "lock", "platform")


@dataclass(frozen=True)
class CacheKey:
    key: str
    parts: dict[str, str]

    @property
    def short(self) -> str:
        return self.key[:12]

    def differing(self, other: dict[str, str]) -> list[str]:
        """Names of the parts whose value differs from `other` (recorded tags)."""
        return [p for p in PARTS if other.get(p) != self.parts.get(p)]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def tree_digest(paths: list[Path], base: Path) -> str:
    """sha256 over the `.py` files under `paths` (files or folders): relative path + bytes."""
    files: set[Path] = set()
    for p in paths:
        if p.is_dir():
            files.update(f for f in p.rglob("*.py") if "__pycache__" not in f.parts)
        elif p.is_file():
            files.add(p)
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.relative_to(base).as_posix().encode() + b"\0")
        h.update(f.read_bytes() + b"\0")
    return h.hexdigest()


def model_code_digest(package_root: Path = PACKAGE_ROOT) -> str:
    return tree_digest([package_root / p for p in MODEL_CODE], package_root)


def user_code_digest(settings: Settings) -> str:
    """The project's own package holding `train.estimator`, or "" for a third-party one."""
    top = settings.train.estimator.replace(":", ".").split(".", 1)[0]
    root = settings.root
    candidates = [root / top, root / f"{top}.py"]
    found = [c for c in candidates if c.exists()]
    if not found:
        return ""
    return tree_digest(found, root)


def lock_digest(root: Path) -> str:
    """sha256 of locks/requirements.txt in the project, else in the running mlci (checkout or
    the lock shipped in its wheel, ml.resources), else of the installed distributions."""
    from ml import resources

    for folder in (root, resources.root()):
        try:
            return _sha((folder / LOCK_FILE).read_bytes())
        except OSError:
            continue
    from importlib import metadata

    pins = sorted(
        f"{d.metadata['Name']}=={d.version}".lower()
        for d in metadata.distributions()
        if d.metadata["Name"]
    )
    return "installed:" + _sha("\n".join(pins).encode())


def platform_facts() -> dict[str, str]:
    """What the environment is, beyond the lock: recorded as `env.*` tags at training time."""
    libc = "-".join(x for x in platform.libc_ver() if x) or "unknown"
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": f"{sys.platform} {platform.machine()} {libc}",
        "stage_image": os.environ.get(STAGE_IMAGE_ENV, ""),
    }


def training_key(settings: Settings, dataset_digest: str) -> CacheKey:
    """The cache key of training `settings` on the dataset with `dataset_digest`."""
    data = settings.data.model_dump(mode="json", exclude=_DATA_NOT_IN_KEY)
    train = settings.train.model_dump(mode="json", exclude={"params", "seed"})
    env = platform_facts()
    env.pop("stage_image")  # recorded, not keyed (see the module doc)
    parts = {
        "code": model_code_digest(),
        "user_code": user_code_digest(settings),
        "config": _sha(_canonical({"data": data, "train": train})),
        "params": _sha(_canonical(settings.train.params)),
        "seed": str(settings.train.seed),
        "data": dataset_digest,
        "lock": lock_digest(settings.root),
        "platform": _sha(_canonical(env)),
    }
    key = _sha(_canonical({"v": KEY_VERSION, **parts}))
    return CacheKey(key=key, parts=parts)


VALIDATION_FILE = Path("validate/key.json")  # under paths.build, written by `mlci data validate`


def validation_key(settings: Settings, dataset_digest: str) -> str:
    """What a passed validation depends on: the data, the contract, the validator, the lock."""
    contract = settings.path(settings.data.contract)
    try:
        contract_sha = _sha(contract.read_bytes())
    except OSError:
        contract_sha = ""
    parts = {
        "data": dataset_digest,
        "contract": contract_sha,
        "validator": tree_digest([PACKAGE_ROOT / "validate"], PACKAGE_ROOT),
        "lock": lock_digest(settings.root),
    }
    return _sha(_canonical({"v": KEY_VERSION, **parts}))


def write_validation_key(settings: Settings, dataset_digest: str) -> Path:
    """Record in this workspace that the dataset passed the contract (for the train run)."""
    path = settings.build_dir / VALIDATION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"dataset_digest": dataset_digest, "key": validation_key(settings, dataset_digest)}
    path.write_text(json.dumps(doc) + "\n", encoding="utf-8")
    return path


def passed_validation(settings: Settings, dataset_digest: str) -> str | None:
    """The validation key when this workspace's last validation passed on this very input."""
    try:
        doc = json.loads((settings.build_dir / VALIDATION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    key = validation_key(settings, dataset_digest)
    ok = doc.get("dataset_digest") == dataset_digest and doc.get("key") == key
    return key if ok else None


def cache_disabled(environ: dict[str, str] | None = None) -> bool:
    """FORCE_RETRAIN=true (the Jenkins parameter) bypasses the cache like --no-cache."""
    value = (environ if environ is not None else os.environ).get("FORCE_RETRAIN", "")
    return value.strip().lower() in ("1", "true", "yes")
