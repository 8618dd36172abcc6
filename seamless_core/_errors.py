"""The helpers that make error messages show the offending data.

The exception classes live in :mod:`seamless_core.errors`; the three imported here keep
their old import path working.
"""

from __future__ import annotations

from typing import Any

from .errors import CacheMissError, CelltypeTypeError, CelltypeValueError

_PREVIEW_CHARS = 60


def preview(data: Any, limit: int = _PREVIEW_CHARS) -> str:
    """A short, printable description of the start of ``data`` for error messages."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        head = bytes(data[: limit + 1])
        text = repr(head[:limit])
        return text + ("..." if len(head) > limit else "") + f" ({len(data)} bytes)"
    if isinstance(data, str):
        text = repr(data[:limit])
        return text + ("..." if len(data) > limit else "")
    try:
        text = repr(data)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(data).__name__} object>"
    if len(text) > limit:
        text = text[:limit] + "..."
    return text


def value_error(celltype: str, problem: str, data: Any) -> CelltypeValueError:
    return CelltypeValueError(f"celltype {celltype!r}: {problem}; got {preview(data)}")


def type_error(celltype: str, problem: str, data: Any) -> CelltypeTypeError:
    return CelltypeTypeError(f"celltype {celltype!r}: {problem}; got {preview(data)}")


__all__ = [
    "CacheMissError",
    "CelltypeTypeError",
    "CelltypeValueError",
    "preview",
    "type_error",
    "value_error",
]
