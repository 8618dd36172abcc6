"""Every exception and warning that seamless-core raises to its users, in one place.

All of them are also importable from ``seamless_core`` itself, and from the module that
raised them before this one existed (``seamless_core.stores``, ``seamless_core.conversion``,
...). Each is a subclass of the built-in exception a caller would catch without knowing
seamless-core (``ValueError``, ``LookupError``, ``ConnectionError``, ...).

This module sits at the bottom of the package: it imports nothing from it at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .checksum import Checksum


# -- buffers and values ----------------------------------------------------------------------


class CacheMissError(LookupError):
    """No buffer could be found for a checksum: not in the cache, not in any store.

    ``CacheMissError(checksum)`` or ``CacheMissError(checksum, message)``; ``.checksum`` is
    the :class:`~seamless_core.Checksum` (None when the first argument was not a checksum,
    e.g. ``CacheMissError("some message")``, which then is the message).
    """

    def __init__(self, checksum: Any = None, message: str | None = None) -> None:
        # Function-level: the checksum module imports this one.
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


class LossyCoercionWarning(UserWarning):
    """A value was converted to a scalar celltype as 0.1.4 does, losing information."""


class SeamlessConversionError(ValueError):
    """A buffer cannot be converted from one celltype to another."""

    def __init__(
        self,
        message: str,
        *,
        checksum: Checksum | None = None,
        source: str | None = None,
        target: str | None = None,
    ) -> None:
        super().__init__(message)
        self.checksum = checksum
        self.source = source
        self.target = target


# -- stores ----------------------------------------------------------------------------------


class CorruptBufferError(ValueError):
    """A store holds data under a checksum that the data does not have."""


class BufferTooLargeError(CorruptBufferError):
    """A store offers more bytes for a buffer than its known length, or than the store is
    configured to accept: refused before they fill memory."""


class StoreNotWritableError(PermissionError):
    """``put`` was called on a store that does not accept buffers."""


class StoreUnavailableError(ConnectionError):
    """A store could not be reached, or did not answer in time or in its protocol."""


class UploadFailedWarning(RuntimeWarning):
    """A buffer could not be uploaded to a store."""


# -- files -----------------------------------------------------------------------------------


class DecompressionError(ValueError):
    """A compressed file is not valid in the format its suffix names."""


class NotRegularFileError(ValueError):
    """A path that should hold a buffer is a FIFO, a device, a socket or a directory."""


class TooLargeError(ValueError):
    """A file holds (or decompresses to) more bytes than the reader allows."""


# -- installation ----------------------------------------------------------------------------


class MissingDependency(ModuleNotFoundError):
    """An optional dependency is not installed; the message says which extra installs it.

    A :class:`ModuleNotFoundError` (so an :class:`ImportError`), so that code which
    already catches those keeps working.
    """


__all__ = [
    "BufferTooLargeError",
    "CacheMissError",
    "CelltypeTypeError",
    "CelltypeValueError",
    "CorruptBufferError",
    "DecompressionError",
    "LossyCoercionWarning",
    "MissingDependency",
    "NotRegularFileError",
    "SeamlessConversionError",
    "StoreNotWritableError",
    "StoreUnavailableError",
    "TooLargeError",
    "UploadFailedWarning",
]
