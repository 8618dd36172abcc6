"""The ``bytes`` celltype: the buffer is the value's raw bytes."""

from __future__ import annotations

from typing import Any

from .._errors import value_error
from ..checksum import Checksum


def serialize(value: Any, celltype: str = "bytes") -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, Checksum):
        value = value.hex()
    tobytes = getattr(value, "tobytes", None)
    if callable(tobytes):
        try:
            result = tobytes()
        except Exception:  # not every tobytes() is NumPy's; fall back to the text form
            result = None
        if isinstance(result, bytes):
            return result
    try:
        return str(value).rstrip("\n").encode()
    except UnicodeEncodeError as exc:
        raise value_error(
            celltype, f"text cannot be encoded as UTF-8 ({exc.reason})", value
        ) from None
    except ValueError as exc:  # e.g. an integer with more digits than str() allows
        raise value_error(celltype, f"value has no text form ({exc})", value) from None


def deserialize(content: bytes, celltype: str = "bytes") -> bytes:
    return content


__all__ = ["deserialize", "serialize"]
