"""The interface every buffer store implements.

A store maps checksums to buffers. Stores sit below the buffer cache: they know nothing of
it, and the cache (or :mod:`seamless_core.resolution`) decides when to ask them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..checksum import Checksum

DOWNLOAD_PROFILES = ("read_buffer", "local_hashserver", "remote_hashserver")


class CorruptBufferError(ValueError):
    """A store holds data under a checksum that the data does not have."""


class StoreNotWritableError(PermissionError):
    """``put`` was called on a store opened read-only."""


class BufferStore(ABC):
    """Abstract content-addressed buffer store.

    Subclasses implement :meth:`get`, :meth:`has`, :meth:`put` and :meth:`buffer_length`.

    Attributes:
        writable: whether :meth:`put` may be called.
        cost_profile: the download-cost profile under which buffers served by this store are
            declared to the buffer cache: ``"read_buffer"``, ``"local_hashserver"`` or
            ``"remote_hashserver"``.
        verifies: ``True`` if :meth:`get` checks that the data matches the checksum itself;
            callers verify the data of stores that do not.
    """

    writable: bool = False
    cost_profile: str = "read_buffer"
    verifies: bool = False

    @abstractmethod
    def get(self, checksum: Checksum) -> bytes | None:
        """The buffer stored under ``checksum``, or ``None`` when the store does not have it.

        Raises :class:`CorruptBufferError` if the stored data does not match the checksum
        (stores with ``verifies = True``).
        """

    @abstractmethod
    def has(self, checksum: Checksum) -> bool:
        """Whether the store holds a buffer for ``checksum`` (without reading it)."""

    @abstractmethod
    def put(self, checksum: Checksum, content: bytes) -> None:
        """Store ``content`` under ``checksum``; a no-op when it is already there.

        The caller guarantees that ``checksum`` is the checksum of ``content``. Raises
        :class:`StoreNotWritableError` when the store is read-only.
        """

    @abstractmethod
    def buffer_length(self, checksum: Checksum) -> int | None:
        """The length in bytes of the buffer for ``checksum``, or ``None`` if not stored."""

    def _require_writable(self) -> None:
        if not self.writable:
            raise StoreNotWritableError(f"{self!r} is read-only")
