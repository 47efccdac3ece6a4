"""The files mlci needs at run time that are not Python code, found in one place.

Dockerfiles, the lock files, the scripts the code runs and the Jenkins job templates live in the
repository (docker/, locks/, scripts/, jenkins/). A wheel ships copies of them as package data
under `ml/_resources/`, with the same relative paths (setup.py copies `SHIPPED` at build time).
`root()` is the folder that holds them: the checkout when mlci runs from its source tree (so an
edit is seen at once), else the installed package data. Nothing is looked up at import time.

The import name: mlci is the top-level package `ml`. A user's repository with its own `ml/`
package cannot share one interpreter with it (one name, one module), so `check_import_name`
refuses to import user code from such a project, naming both folders.
"""

from __future__ import annotations

from importlib import resources as importlib_resources
from pathlib import Path

from ml.errors import ConfigError, InputError

# Relative to the repository root; a folder ships every file under it.
SHIPPED = (
    "docker/ci.Dockerfile",
    "docker/serve.Dockerfile",
    "locks/requirements.txt",
    "locks/serve.txt",
    "locks/serve-sklearn.txt",
    "scripts/build-wheelhouse.sh",
    "scripts/bootstrap-base-image.sh",
    "jenkins/jobs",
    "jenkins/plugins.txt",
    "vars",
)
PACKAGE_DATA = "_resources"
RUNTIME_LOCK = "locks/requirements.txt"


def package_dir() -> Path:
    """The folder of the running `ml` package (site-packages/ml or the checkout's ml/)."""
    return Path(str(importlib_resources.files("ml")))


def source_root() -> Path | None:
    """The mlci checkout the running package comes from, or None for an installed wheel."""
    top = package_dir().parent
    pyproject = top / "pyproject.toml"
    if pyproject.is_file() and 'name = "mlci"' in pyproject.read_text(encoding="utf-8"):
        return top
    return None


def root() -> Path:
    """The folder holding docker/, locks/, scripts/, jenkins/ as in the repository."""
    return source_root() or package_dir() / PACKAGE_DATA


def resource(relative: str) -> Path:
    """The path of a shipped file (e.g. `locks/requirements.txt`); InputError when missing."""
    path = root() / relative
    if not any(relative == s or relative.startswith(f"{s}/") for s in SHIPPED):
        raise InputError(
            f"{relative}: not a file shipped with mlci (`mlci resources --list` names them)"
        )
    if not path.exists():
        raise InputError(
            f"{relative}: not found in {root()}; this mlci installation is incomplete "
            "(reinstall the wheel built by scripts/build-dist.sh)"
        )
    return path


def shipped_files() -> list[str]:
    """Every shipped file, relative to `root()`, sorted."""
    base = root()
    out: list[str] = []
    for rel in SHIPPED:
        path = base / rel
        if path.is_dir():
            out += [p.relative_to(base).as_posix() for p in path.rglob("*") if p.is_file()]
        elif path.is_file():
            out.append(rel)
    return sorted(out)


def user_ml_package(project_root: Path) -> Path | None:
    """`project_root/ml` when it is a Python package other than mlci's own, else None."""
    candidate = project_root / "ml"
    if not candidate.is_dir() or candidate.resolve() == package_dir().resolve():
        return None
    if (candidate / "__init__.py").is_file() or any(candidate.glob("*.py")):
        return candidate
    return None


def check_import_name(project_root: Path, module: str) -> None:
    """Refuse to import `module` from a project that has its own `ml` package (see above).

    Only user code is refused (`ml.*`, or a module found in the project root): such a project
    may still train an estimator of an installed library (`sklearn.ensemble...`).
    """
    import importlib.util

    clash = user_ml_package(project_root)
    if clash is None:
        return
    top = module.split(".")[0]
    if top != "ml":
        spec = importlib.util.find_spec(top)
        origin = Path(spec.origin or "") if spec else None
        if origin is None or project_root.resolve() not in origin.resolve().parents:
            return
    raise ConfigError(
        f"{clash}: this project has a Python package named `ml`, the import name of mlci "
        f"({package_dir()}); one interpreter cannot import both, so {module!r} cannot be "
        f"imported from {project_root}. Rename the project's package (e.g. to "
        f"`{project_root.name.replace('-', '_')}_ml`) and update train.estimator (docs/install.md)"
    )
