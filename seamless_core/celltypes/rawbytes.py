"""The ``bytes`` celltype: the buffer is the value's raw bytes."""

from __future__ import annotations

from typing import Any

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
    return str(value).rstrip("\n").encode()


def deserialize(content: bytes, celltype: str = "bytes") -> bytes:
    return content


__all__ = ["deserialize", "serialize"]
