"""The interface every buffer store implements.

A store maps checksums to buffers. Stores sit below the buffer cache: they know nothing of
it, and the cache (or :mod:`seamless_core.resolution`) decides when to ask them.

Four operations make a store: :meth:`~BufferStore.get`, :meth:`~BufferStore.has`,
:meth:`~BufferStore.put` and :meth:`~BufferStore.buffer_length`. Each has an async twin
(``get_async``, ...) and the queries have batch forms; by default the twins run the
synchronous methods in a worker thread and the batches loop, and stores with a better way
(a network client, a batch endpoint) override them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..checksum import Checksum, ChecksumLike, as_checksum  # noqa: F401  (the stores' names)
from ..errors import (  # noqa: F401  (their import path before seamless_core.errors)
    BufferTooLargeError,
    CorruptBufferError,
    StoreNotWritableError,
    StoreUnavailableError,
)


async def _in_thread(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    # asyncio imported here: a process that uses its stores synchronously never loads it
    import asyncio

    return await asyncio.to_thread(function, *args, **kwargs)


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
        upload_target: whether a writable store receives the buffers that are uploaded to
            every store (:func:`seamless_core.stores.upload_targets`). The buffer cache's
            spill folder is writable but is not one.
    """

    writable: bool = False
    upload_target: bool = True
    cost_profile: str = "read_buffer"
    verifies: bool = False

    @abstractmethod
    def get(self, checksum: ChecksumLike) -> bytes | None:
        """The buffer stored under ``checksum``, or ``None`` when the store does not have it.

        Raises :class:`CorruptBufferError` if the stored data does not match the checksum
        (stores with ``verifies = True``), :class:`StoreUnavailableError` (an ``OSError``)
        if the store cannot be reached.
        """

    @abstractmethod
    def has(self, checksum: ChecksumLike) -> bool:
        """Whether the store holds a buffer for ``checksum`` (without reading it)."""

    @abstractmethod
    def put(self, checksum: ChecksumLike, content: bytes) -> bool:
        """Store ``content`` under ``checksum``; returns whether the store is now *known*
        to hold an intact copy.

        ``True``: this call wrote the buffer and the write was confirmed, or an existing
        copy was read back and verified. ``False``: the store only *claims* to hold it (for
        example a server that answers "already there" without checking its copy); a caller
        that must not lose the buffer keeps it elsewhere too.

        The caller guarantees that ``checksum`` is the checksum of ``content``. Raises
        :class:`StoreNotWritableError` when the store is read-only, and an ``OSError``
        (:class:`StoreUnavailableError`) or :class:`CorruptBufferError` when the write
        fails.
        """

    @abstractmethod
    def buffer_length(self, checksum: ChecksumLike) -> int | None:
        """The length in bytes of the buffer for ``checksum``, or ``None`` if not stored."""

    # -- batches ---------------------------------------------------------------------------

    def has_batch(
        self, checksums: Iterable[ChecksumLike], *, include_promises: bool = True
    ) -> list[bool]:
        """:meth:`has` of each checksum, in order. ``include_promises=False`` counts only
        buffers present now, not those a producer has promised (hashservers)."""
        return [self.has(checksum) for checksum in checksums]

    def buffer_length_batch(self, checksums: Iterable[ChecksumLike]) -> list[int | None]:
        """:meth:`buffer_length` of each checksum, in order."""
        return [self.buffer_length(checksum) for checksum in checksums]

    # -- async twins -----------------------------------------------------------------------

    async def get_async(self, checksum: ChecksumLike) -> bytes | None:
        """Async twin of :meth:`get`."""
        return await _in_thread(self.get, checksum)

    async def has_async(self, checksum: ChecksumLike) -> bool:
        """Async twin of :meth:`has`."""
        return await _in_thread(self.has, checksum)

    async def put_async(self, checksum: ChecksumLike, content: bytes) -> bool:
        """Async twin of :meth:`put` (same return value)."""
        return await _in_thread(self.put, checksum, content)

    async def buffer_length_async(self, checksum: ChecksumLike) -> int | None:
        """Async twin of :meth:`buffer_length`."""
        return await _in_thread(self.buffer_length, checksum)

    async def has_batch_async(
        self, checksums: Sequence[ChecksumLike], *, include_promises: bool = True
    ) -> list[bool]:
        """Async twin of :meth:`has_batch`."""
        return await _in_thread(self.has_batch, checksums, include_promises=include_promises)

    async def buffer_length_batch_async(
        self, checksums: Sequence[ChecksumLike]
    ) -> list[int | None]:
        """Async twin of :meth:`buffer_length_batch`."""
        return await _in_thread(self.buffer_length_batch, checksums)

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:  # noqa: B027 - a no-op is the right default
        """Release connections or other resources; the store reopens them if used again."""

    def _require_writable(self) -> None:
        if not self.writable:
            raise StoreNotWritableError(f"{self!r} is read-only")
