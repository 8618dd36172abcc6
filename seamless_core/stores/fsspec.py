"""``FsspecStore``: buffers in an object store or any other fsspec filesystem.

Buffers are laid out as a hashserver lays out its directory with the prefix layout,
``<root>/<checksum[:2]>/<checksum>``, so that a bucket synced from (or to) a hashserver
directory needs no conversion. fsspec is imported when a store is made, never by
``import seamless_core``; it comes with the ``fsspec`` extra (``s3`` adds s3fs).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, TypeVar

from .._atomic import TEMP_PREFIX
from ..checksum import Checksum, sha256_digest
from .base import BufferStore, BufferTooLargeError, ChecksumLike, CorruptBufferError, as_checksum

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Backends on which one PUT makes the whole object appear at once (or not at all): a
# write there needs no temporary key, which they could only "rename" by a second copy.
ATOMIC_PUT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "oss"})
# Backends whose reads cost what a local disk read costs.
LOCAL_PROTOCOLS = frozenset({"memory", "file", "local"})
#: How many requests a batch keeps in flight at once on an async filesystem.
BATCH_CONCURRENCY = 32

_EXTRAS = {"s3": "s3", "s3a": "s3"}


def _import_fsspec() -> Any:
    try:
        import fsspec  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError("FsspecStore needs fsspec: pip install 'seamless-core[fsspec]'") from None
    return fsspec


def _open_filesystem(url: str, storage_options: dict[str, Any]) -> tuple[Any, str]:
    fsspec = _import_fsspec()
    try:
        return fsspec.core.url_to_fs(url, **storage_options)
    except ImportError as exc:
        protocol = url.split("://", 1)[0]
        extra = _EXTRAS.get(protocol)
        hint = f": pip install 'seamless-core[{extra}]'" if extra else ""
        raise ImportError(f"FsspecStore({url!r}) needs a missing package{hint} ({exc})") from None


def _drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (its filesystem calls are synchronous)."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    coroutine.close()
    raise RuntimeError("a synchronous filesystem call suspended")


class FsspecStore(BufferStore):
    """A buffer store on an fsspec filesystem: ``s3://bucket/prefix``, ``gcs://...``,
    ``memory://name``, ``file:///path`` and every other URL fsspec knows.

    Reads are verified: an object whose content does not have its checksum raises
    :class:`~seamless_core.stores.base.CorruptBufferError` and is never returned. Writes
    never leave a partial object under a buffer's name: on object stores (S3, GCS, Azure)
    one PUT is atomic; elsewhere the buffer is written under a temporary name beside its
    final one, then moved. Only uncompressed objects are read (a hashserver's ``.zst`` and
    ``.gz`` copies are not).

    On an async filesystem (``fs.async_impl``: s3fs, gcsfs, ...) the async twins and the
    batches run on fsspec's own event loop, many requests at once; on the others they run
    the synchronous calls in a worker thread.

    A store pickles as its URL and options (credentials included, if passed as options):
    the copy opens its own filesystem.

    Args:
        url: the root of the store.
        writable: whether :meth:`put` may be called.
        cost_profile: the download-cost profile (default: ``"read_buffer"`` for memory and
            local files, else ``"remote_hashserver"``).
        max_buffer_length: the largest object read, or ``None`` for no limit; a larger one
            raises :class:`~seamless_core.stores.base.BufferTooLargeError` before it is
            downloaded (at the cost of one more request per read).
        storage_options: passed to the filesystem (``key=``, ``endpoint_url=``, ...).
    """

    verifies = True

    def __init__(
        self,
        url: str,
        *,
        writable: bool = True,
        cost_profile: str | None = None,
        max_buffer_length: int | None = None,
        **storage_options: Any,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"FsspecStore() takes a URL string, not {type(url).__name__}")
        if max_buffer_length is not None and max_buffer_length < 0:
            raise ValueError("max_buffer_length must be >= 0 or None")
        self.url = url.strip().rstrip("/")
        self.writable = bool(writable)
        self.max_buffer_length = max_buffer_length
        self.storage_options = dict(storage_options)
        self.fs, root = _open_filesystem(self.url, self.storage_options)
        self.root = root.rstrip("/")
        protocols = self.fs.protocol
        protocols = {protocols} if isinstance(protocols, str) else set(protocols)
        self._atomic_put = bool(protocols & ATOMIC_PUT_PROTOCOLS)
        if cost_profile is None:
            cost_profile = "read_buffer" if protocols & LOCAL_PROTOCOLS else "remote_hashserver"
        self.cost_profile = cost_profile
        self._async = bool(getattr(self.fs, "async_impl", False))

    def __repr__(self) -> str:
        extra = "" if self.writable else ", writable=False"
        return f"FsspecStore({self.url!r}{extra})"

    def __reduce__(self) -> tuple[Any, ...]:
        # The filesystem (sessions, event loop) is not shipped; the copy opens its own.
        options = dict(self.storage_options)
        options.update(
            writable=self.writable,
            cost_profile=self.cost_profile,
            max_buffer_length=self.max_buffer_length,
        )
        return (_restore, (type(self), self.url, options))

    def path_of(self, checksum: ChecksumLike) -> str:
        """The filesystem path that holds (or would hold) the buffer for ``checksum``."""
        hex_ = as_checksum(checksum).hex()
        return f"{self.root}/{hex_[:2]}/{hex_}"

    # -- filesystem calls, awaited on an async filesystem ----------------------------------

    async def _cat(self, path: str) -> bytes | None:
        try:
            if self._async:
                return await self.fs._cat_file(path)
            return self.fs.cat_file(path)
        except FileNotFoundError:
            return None

    async def _size(self, path: str) -> int | None:
        try:
            info = await self.fs._info(path) if self._async else self.fs.info(path)
        except FileNotFoundError:
            return None
        if info.get("type", "file") != "file":
            return None
        return int(info["size"])

    async def _exists(self, path: str) -> bool:
        return (await self._size(path)) is not None

    async def _write(self, path: str, content: bytes) -> None:
        if self._atomic_put:
            if self._async:
                await self.fs._pipe_file(path, content)
            else:
                self.fs.pipe_file(path, content)
            return
        directory = path.rsplit("/", 1)[0]
        temp = f"{directory}/{TEMP_PREFIX}{os.urandom(6).hex()}"
        try:
            if self._async:
                await self.fs._makedirs(directory, exist_ok=True)
                await self.fs._pipe_file(temp, content)
                await self.fs._mv(temp, path)
            else:
                self.fs.makedirs(directory, exist_ok=True)
                self.fs.pipe_file(temp, content)
                self.fs.mv(temp, path)
        except BaseException:
            await self._discard(temp)
            raise

    async def _discard(self, path: str) -> None:
        try:
            if self._async:
                await self.fs._rm_file(path)
            else:
                self.fs.rm_file(path)
        except Exception as exc:  # the write's own error is the one to raise
            logger.debug("%r: could not remove %s (%s)", self, path, exc)

    # -- the store's logic, once for both worlds -------------------------------------------

    async def _get(self, checksum: Checksum) -> bytes | None:
        path = self.path_of(checksum)
        if self.max_buffer_length is not None:
            size = await self._size(path)
            if size is None:
                return None
            if size > self.max_buffer_length:
                raise BufferTooLargeError(
                    f"{self!r}: {path} holds {size} bytes, more than max_buffer_length "
                    f"({self.max_buffer_length})"
                )
        content = await self._cat(path)
        if content is None:
            return None
        if sha256_digest(content) != checksum.bytes():
            raise CorruptBufferError(
                f"{self!r} has no intact copy of buffer {checksum.hex()}: {path} holds "
                f"{len(content)} bytes with another checksum (starting {content[:16]!r})"
            )
        return content

    async def _put(self, checksum: Checksum, content: bytes) -> bool:
        path = self.path_of(checksum)
        size = await self._size(path)
        if size == len(content) and await self._cat(path) == content:
            return True  # an intact copy, read back
        if size is not None:
            logger.warning("%r: replacing the damaged copy at %s", self, path)
        await self._write(path, content)
        return True

    async def _has_batch(self, checksums: Sequence[Checksum]) -> list[bool]:
        if not self._async:
            return [await self._exists(self.path_of(c)) for c in checksums]
        limit = asyncio.Semaphore(BATCH_CONCURRENCY)

        async def one(checksum: Checksum) -> bool:
            async with limit:
                return await self._exists(self.path_of(checksum))

        return list(await asyncio.gather(*(one(c) for c in checksums)))

    async def _length_batch(self, checksums: Sequence[Checksum]) -> list[int | None]:
        if not self._async:
            return [await self._size(self.path_of(c)) for c in checksums]
        limit = asyncio.Semaphore(BATCH_CONCURRENCY)

        async def one(checksum: Checksum) -> int | None:
            async with limit:
                return await self._size(self.path_of(checksum))

        return list(await asyncio.gather(*(one(c) for c in checksums)))

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if not self._async:
            return _drive(coroutine)
        from fsspec.asyn import sync  # type: ignore[import-untyped]

        async def wrapped() -> T:
            return await coroutine

        return sync(self.fs.loop, wrapped)

    async def _arun(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if not self._async:
            return await asyncio.to_thread(_drive, coroutine)
        loop = self.fs.loop
        if asyncio.get_running_loop() is loop:
            return await coroutine
        # The filesystem's sessions belong to its own loop: the work runs there.
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, loop))

    # -- BufferStore -----------------------------------------------------------------------

    def get(self, checksum: ChecksumLike) -> bytes | None:
        """The verified buffer for ``checksum``, or ``None`` if the store does not have it."""
        return self._run(self._get(as_checksum(checksum)))

    async def get_async(self, checksum: ChecksumLike) -> bytes | None:
        """Async twin of :meth:`get`."""
        return await self._arun(self._get(as_checksum(checksum)))

    def has(self, checksum: ChecksumLike) -> bool:
        """Whether an object for ``checksum`` exists (its content is not checked)."""
        return self._run(self._exists(self.path_of(checksum)))

    async def has_async(self, checksum: ChecksumLike) -> bool:
        """Async twin of :meth:`has`."""
        return await self._arun(self._exists(self.path_of(checksum)))

    def has_batch(
        self, checksums: Iterable[ChecksumLike], *, include_promises: bool = True
    ) -> list[bool]:
        """:meth:`has` of each checksum, asked concurrently on an async filesystem (an
        object store knows no promises: ``include_promises`` changes nothing)."""
        return self._run(self._has_batch([as_checksum(c) for c in checksums]))

    async def has_batch_async(
        self, checksums: Sequence[ChecksumLike], *, include_promises: bool = True
    ) -> list[bool]:
        """Async twin of :meth:`has_batch`."""
        return await self._arun(self._has_batch([as_checksum(c) for c in checksums]))

    def buffer_length(self, checksum: ChecksumLike) -> int | None:
        """The size of the object for ``checksum``, or ``None`` if there is none."""
        return self._run(self._size(self.path_of(checksum)))

    async def buffer_length_async(self, checksum: ChecksumLike) -> int | None:
        """Async twin of :meth:`buffer_length`."""
        return await self._arun(self._size(self.path_of(checksum)))

    def buffer_length_batch(self, checksums: Iterable[ChecksumLike]) -> list[int | None]:
        """:meth:`buffer_length` of each checksum, asked concurrently on an async filesystem."""
        return self._run(self._length_batch([as_checksum(c) for c in checksums]))

    async def buffer_length_batch_async(
        self, checksums: Sequence[ChecksumLike]
    ) -> list[int | None]:
        """Async twin of :meth:`buffer_length_batch`."""
        return await self._arun(self._length_batch([as_checksum(c) for c in checksums]))

    def put(self, checksum: ChecksumLike, content: bytes) -> bool:
        """Make the store hold an intact copy of ``content``; returns ``True`` (it then
        does). An existing object of the same size is read back and kept if intact; a
        damaged one is replaced."""
        self._require_writable()
        return self._run(self._put(as_checksum(checksum), bytes(content)))

    async def put_async(self, checksum: ChecksumLike, content: bytes) -> bool:
        """Async twin of :meth:`put` (same return value)."""
        self._require_writable()
        return await self._arun(self._put(as_checksum(checksum), bytes(content)))


def _restore(cls: type[FsspecStore], url: str, options: dict[str, Any]) -> FsspecStore:
    return cls(url, **options)
