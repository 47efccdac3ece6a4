"""Saving and loading fitted pipelines with skops, trusting an explicit list of types.

MLflow 3.17 saves scikit-learn models with skops, which refuses any type not on a trusted list.
The list is mlci's own (below) plus the project's `train.trusted_types` from mlci.yaml (the types
of the user's own estimator), both under review, rather than being read back from the model's
own MLmodel file (which anyone who can write an artifact could edit): `load_pipeline` passes
this list to skops, not the artifact's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ml.config import Settings
from ml.errors import InputError

# Types skops does not trust by default that mlci's pipelines contain (skops already trusts
# scikit-learn's estimator classes). Found by `skops.io.get_untrusted_types` on fitted pipelines
# of each estimator family; when a new estimator needs more, training names them.
TRUSTED_TYPES: list[str] = [
    "numpy.dtype",  # dtypes of fitted arrays (every estimator)
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # HistGradientBoosting
    "functools.partial",  # HistGradientBoosting: its bound input check
    "sklearn.utils.validation.check_array",  # ...which is this function
    "sklearn.tree._tree.Tree",  # RandomForest, ExtraTrees, DecisionTree, GradientBoosting
]


def trusted_types(settings: Settings | None = None) -> list[str]:
    """mlci's trusted types plus the project's `train.trusted_types`."""
    extra = list(settings.train.trusted_types) if settings is not None else []
    return [*TRUSTED_TYPES, *(t for t in extra if t not in TRUSTED_TYPES)]


def untrusted_error(e: Exception, trusted: list[str] | None = None) -> Exception:
    """MLflow's save-time skops check failed: say which types and where to trust them.

    MLflow dumps the model and loads it back with TRUSTED_TYPES while logging it, so that load
    is the check; any other error is returned unchanged.
    """
    text = str(e)
    if "untrusted" not in text.lower() and "UntrustedTypes" not in text:
        return e
    listed = text.split("found in the file:", 1)[-1]
    found = sorted(set(re.findall(r"'([\w.]+)'", listed)) - set(trusted or TRUSTED_TYPES))
    return InputError(
        "the trained pipeline contains types not on the skops trusted list: "
        + (", ".join(found) or text.splitlines()[0])
        + " (review them; if they are yours, list them under train.trusted_types in mlci.yaml)"
    )


def load_pipeline(model_dir: Path, trusted: list[str] | None = None) -> Any:
    """Load the sklearn Pipeline from a downloaded MLflow model folder (skops only).

    `trusted` defaults to mlci's own list; pass `trusted_types(settings)` for a project whose
    estimator needs more."""
    import yaml

    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text())
    flavor = mlmodel.get("flavors", {}).get("sklearn")
    if not flavor:
        raise InputError(f"{model_dir}: not a scikit-learn MLflow model (no sklearn flavor)")
    path = model_dir / flavor["pickled_model"]
    if flavor.get("serialization_format") == "skops":
        import skops.io

        return skops.io.load(path, trusted=trusted or TRUSTED_TYPES)
    raise InputError(
        f"{model_dir}: model saved as {flavor.get('serialization_format')!r}; mlci only loads "
        f"skops models (pickle can run arbitrary code)"
    )
