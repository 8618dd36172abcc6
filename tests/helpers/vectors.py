"""Helpers for the compatibility vectors produced by seamless-core 0.1.4.

The vectors ship in ``tests/data/compat_vectors.json``; when the project's shared folder (or
``SEAMLESS_COMPAT_VECTORS``) provides a newer file, that one is used instead.
"""

from __future__ import annotations

import base64
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

_TESTS = Path(__file__).resolve().parent.parent
_CANDIDATES = [
    os.environ.get("SEAMLESS_COMPAT_VECTORS"),
    _TESTS.parent.parent / "shared" / "compat" / "vectors.json",
    _TESTS / "data" / "compat_vectors.json",
]


def load_vectors() -> dict:
    for candidate in _CANDIDATES:
        if candidate and Path(candidate).is_file():
            with open(candidate) as f:
                return json.load(f)
    raise FileNotFoundError("no compatibility vectors found")


def evaluate(expression: str) -> Any:
    """Evaluate a vector's value expression (trusted test data, written by the project)."""
    return eval(expression, {"np": np, "numpy": np, "math": math})  # noqa: S307


def canonical(value: Any) -> Any:
    """The canonical form of a parsed value, as compat/README.md defines it."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, int):
        return {"int": str(value)}
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    if isinstance(value, dict):
        return {"dict": [[key, canonical(value[key])] for key in sorted(value)]}
    if isinstance(value, np.ndarray):
        dtype = str(value.dtype.descr) if value.dtype.fields else value.dtype.str
        data = np.ascontiguousarray(value).tobytes()
        return {
            "ndarray": dtype,
            "shape": list(value.shape),
            "data": base64.b64encode(data).decode(),
        }
    if isinstance(value, np.generic):
        return {"npscalar": value.dtype.str, "data": base64.b64encode(value.tobytes()).decode()}
    raise TypeError(f"no canonical form for {type(value).__name__}")


def same_value(a: Any, b: Any) -> bool:
    """Value equality that sees a NumPy scalar, a 0-d array and a list through NumPy's eyes,
    and compares arrays by dtype, shape and bytes (so NaNs and structured dtypes work)."""
    numpy_like = (np.ndarray, np.generic, bytes)
    if isinstance(a, numpy_like) or isinstance(b, numpy_like):
        if isinstance(a, bytes) and isinstance(b, bytes):
            return a == b
        x, y = np.asarray(a), np.asarray(b)
        if x.dtype != y.dtype or x.shape != y.shape:
            return False
        if x.dtype.fields is not None:  # padding bytes between fields carry no value
            return all(same_value(x[name], y[name]) for name in x.dtype.names)
        return x.tobytes() == y.tobytes()
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b
