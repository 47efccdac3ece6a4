"""A canonical hash of a fitted model: its class, parameters and learned state, not its bytes.

skops (and pickle) files carry timestamps, ids and protocol details, so two identical fits
never have identical files. This walks the object instead: every attribute of every estimator
(hyper-parameters and fitted `..._` arrays alike), numpy arrays by dtype, shape and bytes,
containers in order, dict entries by key, functions by qualified name. Two models with the same
hash make the same predictions on any input.
"""

from __future__ import annotations

import functools
import hashlib
import types
from typing import Any

# Attributes that record how a fit went rather than what it learned.
VOLATILE = frozenset({"_sklearn_version", "fit_time_", "_fit_time"})


def model_fingerprint(model: Any) -> str:
    h = hashlib.sha256()
    _walk(model, h, set())
    return h.hexdigest()


def _tag(h: Any, kind: str, text: str = "") -> None:
    h.update(f"<{kind}:{text}>".encode())


def _walk(obj: Any, h: Any, active: set[int]) -> None:
    import numpy as np

    if obj is None or isinstance(obj, bool | int | str | bytes):
        _tag(h, type(obj).__name__, repr(obj))
        return
    if isinstance(obj, float):
        _tag(h, "float", obj.hex())
        return
    if isinstance(obj, np.ndarray):
        _tag(h, "ndarray", f"{obj.dtype.str}{obj.shape}")
        if obj.dtype.hasobject:
            for item in obj.ravel(order="C"):
                _walk(item, h, active)
        else:
            h.update(np.ascontiguousarray(obj).tobytes())
        return
    if isinstance(obj, np.generic):
        _tag(h, "scalar", obj.dtype.str)
        h.update(np.asarray(obj).tobytes())
        return
    if isinstance(obj, np.dtype):
        _tag(h, "dtype", obj.str if obj.fields is None else repr(obj.descr))
        return
    if isinstance(obj, type | types.FunctionType | types.BuiltinFunctionType):
        _tag(h, "callable", f"{getattr(obj, '__module__', '')}.{obj.__qualname__}")
        return
    if id(obj) in active:  # a cycle: name it, do not recurse
        _tag(h, "cycle", type(obj).__qualname__)
        return
    active.add(id(obj))
    try:
        if isinstance(obj, list | tuple):
            _tag(h, type(obj).__name__, str(len(obj)))
            for item in obj:
                _walk(item, h, active)
        elif isinstance(obj, dict):
            _tag(h, "dict", str(len(obj)))
            for k in sorted(obj, key=repr):
                if k in VOLATILE:
                    continue
                _walk(k, h, active)
                _walk(obj[k], h, active)
        elif isinstance(obj, set | frozenset):
            _tag(h, "set", str(len(obj)))
            for item in sorted(obj, key=repr):
                _walk(item, h, active)
        elif isinstance(obj, functools.partial):
            _tag(h, "partial")
            _walk(obj.func, h, active)
            _walk(obj.args, h, active)
            _walk(obj.keywords, h, active)
        elif hasattr(obj, "__dict__"):
            _tag(h, "object", f"{type(obj).__module__}.{type(obj).__qualname__}")
            _walk(dict(vars(obj)), h, active)
        elif hasattr(obj, "__getstate__"):
            _tag(h, "state", f"{type(obj).__module__}.{type(obj).__qualname__}")
            _walk(obj.__getstate__(), h, active)
        else:
            _tag(h, "repr", f"{type(obj).__qualname__}:{obj!r}")
    finally:
        active.discard(id(obj))
