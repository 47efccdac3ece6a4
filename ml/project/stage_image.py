"""What `mlci init` writes for the stage image (`mlci pipeline ci-image`): a requirements.txt.

The Dockerfile, the lock and mlci itself come with the installed mlci (ml.resources), so a
project needs only the list of its own extra packages. The stub names none; the stage image
installs what it lists on top of mlci, constrained by mlci's lock (ml/image/stage.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from ml.image.stage import REQUIREMENTS

REQUIREMENTS_STUB = """\
# Extra Python packages this project's code needs (e.g. for train.estimator), one requirement
# a line, as pip reads them: `xgboost==2.1.4`. `mlci pipeline ci-image` installs them in the
# stage image on top of mlci, constrained by mlci's own lock (`mlci resources` prints its
# path): a package mlci pins cannot take another version here. Install them locally with
#   pip install -r requirements.txt -c "$(mlci resources)"
# Empty (comments only): the stage image holds mlci and its lock alone.
"""


def write_stage_image_files(root: Path) -> list[Path]:
    """Write requirements.txt when the project has none; returns what was written."""
    path = root / REQUIREMENTS
    if path.exists():
        return []
    tmp = path.with_name(f".{path.name}.mlci-init")
    tmp.write_text(REQUIREMENTS_STUB, encoding="utf-8")
    os.replace(tmp, path)
    return [path]
