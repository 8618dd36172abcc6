"""The ``binary`` celltype: a NumPy array as a ``.npy`` buffer."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import type_error, value_error
from . import mixed
from .npy import write_npy


def serialize(value: Any, celltype: str = "binary") -> bytes:
    if isinstance(value, bytes):
        return value  # stored unchanged, as the ecosystem does
    if not isinstance(value, np.ndarray):
        original = value
        try:
            value = np.array(value)
        except (ValueError, TypeError) as exc:
            raise value_error(
                celltype, f"cannot make an array of the value ({exc})", value
            ) from None
        if value.dtype.kind == "U" and not _only_strings(original):
            # NumPy would turn the numbers into strings; plain -> binary refuses this too
            raise type_error(celltype, "the value mixes strings with other items", original)
    if value.dtype.hasobject:
        raise type_error(celltype, "value does not form an array of a fixed dtype", value)
    return write_npy(value, celltype)


def _only_strings(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_only_strings(item) for item in value)
    return isinstance(value, str)


def deserialize(content: bytes, celltype: str = "binary") -> Any:
    value, storage = mixed.parse(content, celltype)
    if storage != "pure-binary":
        raise type_error(celltype, "buffer holds JSON data, not an array", content)
    return value


__all__ = ["deserialize", "serialize"]
