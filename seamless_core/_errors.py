"""Exception classes and the helpers that make error messages show the offending data."""

from __future__ import annotations

from typing import Any

_PREVIEW_CHARS = 60


class CacheMissError(LookupError):
    """No buffer could be found for a checksum: not in the cache, not in any store.

    ``CacheMissError(checksum)`` or ``CacheMissError(checksum, message)``; ``.checksum`` is
    the :class:`~seamless_core.Checksum` (None when the first argument was not a checksum,
    e.g. ``CacheMissError("some message")``, which then is the message).
    """

    def __init__(self, checksum: Any = None, message: str | None = None) -> None:
        from .checksum import Checksum

        try:
            found = None if checksum is None else Checksum(checksum)
        except (TypeError, ValueError):
            found = None
        if message is None:
            if found is not None:
                message = f"no buffer for checksum {found.hex()}"
            elif checksum is not None:
                message = str(checksum)
        self.checksum = found
        super().__init__(*(() if message is None else (message,)))

    def __reduce__(self) -> tuple:
        # Pickled across processes (workers) with its checksum, not only the message.
        return (type(self), (self.checksum, self.args[0] if self.args else None))


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
