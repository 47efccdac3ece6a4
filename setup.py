"""Packaging hook: copy the runtime files (ml/resources.py SHIPPED) into the wheel.

The Dockerfiles, locks, scripts and job templates stay where they are in the repository; a wheel
(or a wheel built from the sdist, which carries them via MANIFEST.in) gets copies under
ml/_resources/ with the same relative paths. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def shipped() -> tuple[str, ...]:
    """SHIPPED from ml/resources.py, read without importing the package."""
    tree = ast.parse((HERE / "ml" / "resources.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SHIPPED":
            return tuple(ast.literal_eval(node.value))
    raise RuntimeError("ml/resources.py defines no SHIPPED tuple")


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout itself (ml.resources.root)
        dest = Path(self.build_lib) / "ml" / "_resources"
        for rel in shipped():
            src = HERE / rel
            if src.is_dir():
                shutil.copytree(src, dest / rel, dirs_exist_ok=True)
            elif src.is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / rel)
            else:
                raise FileNotFoundError(f"{src}: listed in ml/resources.py SHIPPED, not found")


setup(cmdclass={"build_py": BuildWithResources})
