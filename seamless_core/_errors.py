"""Exception classes and the helpers that make error messages show the offending data."""

from __future__ import annotations

from typing import Any

_PREVIEW_CHARS = 60


class CacheMissError(LookupError):
    """No buffer could be found for a checksum: not in the cache, not in any store."""


class CelltypeValueError(ValueError):
    """A value or buffer is not valid for a celltype."""


class CelltypeTypeError(TypeError):
    """A value of the wrong Python type was given for a celltype."""


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
