"""The ``mixed`` celltype: pure JSON, a single array (.npy), or JSON holding arrays (container).

Which of the three a value becomes is decided by what it holds, exactly as the Seamless
ecosystem decides; which one a buffer holds is told by its first bytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import type_error, value_error
from ..checksum import Checksum
from . import container, forms
from ._json import NeedsStandardJSON, NotPureJSON, dumps_python_flavour, loads_python_flavour
from .npy import MAGIC_NUMPY, check_storable, read_npy, write_npy


def _json_default(obj: Any) -> Any:
    """orjson/json hook: NumPy scalars as numbers, Checksums as hex; arrays abort the JSON path."""
    if isinstance(obj, (np.ndarray, np.void, bytes)):
        raise NotPureJSON
    if isinstance(obj, Checksum):
        return obj.hex()
    if isinstance(obj, np.generic):
        if isinstance(obj, forms.INTEGER_TYPES):
            return int(obj)
        if isinstance(obj, forms.FLOAT_TYPES):
            return float(obj)
        if isinstance(obj, np.str_):
            return str(obj)
    elif isinstance(obj, (str, int, float, list, tuple, dict)):
        raise NeedsStandardJSON  # a subclass: the standard library writes it as its base type
    raise TypeError(f"{type(obj).__name__} cannot be stored in a mixed value")


def serialize(value: Any, celltype: str = "mixed") -> bytes:
    if isinstance(value, Checksum):
        value = value.hex()
    if isinstance(value, bytes):
        value = np.array(value)
    elif isinstance(value, np.void):
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        check_storable(value, celltype)
        return write_npy(value, celltype)
    try:
        try:
            return dumps_python_flavour(value, _json_default)
        except NotPureJSON:
            return container.write_container(value)
    except TypeError as exc:
        raise type_error(celltype, str(exc), value) from None
    except ValueError as exc:
        raise value_error(celltype, str(exc), value) from None


def parse(content: bytes, celltype: str = "mixed") -> tuple[Any, str]:
    """(value, storage) of a mixed buffer; storage is pure-plain, pure-binary or mixed-plain."""
    if content.startswith(MAGIC_NUMPY):
        return read_npy(content, celltype), forms.PURE_BINARY
    if content.startswith(container.MAGIC_MIXED):
        try:
            return container.read_container(content), forms.MIXED_PLAIN
        except container.MalformedContainer as exc:
            raise value_error(celltype, f"malformed mixed container: {exc}", content) from None
    try:
        return loads_python_flavour(content), forms.PURE_PLAIN
    except UnicodeDecodeError:
        raise value_error(
            celltype, "buffer is neither JSON, .npy, nor a container", content
        ) from None
    except (ValueError, RecursionError):
        # Text that is not JSON is, by the ecosystem's rule, a 0-d bytes array.
        return np.array(content), forms.PURE_BINARY


def deserialize(content: bytes, celltype: str = "mixed") -> Any:
    return parse(content, celltype)[0]


__all__ = ["deserialize", "parse", "serialize"]
