"""Checksums of files and directories, as the ``seamless-checksum*`` scripts compute them.

- A file's checksum is the SHA-256 of its content; for a file named ``*.zst`` or ``*.gz``,
  of its decompressed content.
- A directory's *index* maps each file's path relative to the directory, compression
  suffix removed, to that file's checksum. As a ``plain`` buffer (:func:`index_buffer`),
  its checksum is the directory's checksum.
- ``.CHECKSUM`` sidecars are named as :func:`checksum_sidecar_path` says.

Files are read in blocks of :data:`BLOCK_SIZE`, compressed ones decompressed as a stream,
so memory use does not grow with file size.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from ._compression import COMPRESSION_SUFFIXES, decompressing_reader, strip_compression_suffix
from .buffer import Buffer
from .checksum import Checksum

__all__ = [
    "BLOCK_SIZE",
    "checksum_sidecar_path",
    "directory_index",
    "file_checksum",
    "index_buffer",
    "stream_checksum",
]

BLOCK_SIZE = 1 << 20
# Files up to this size are read in one call by the thread that walks a directory: for
# small files a thread pool costs more in handovers than the reads themselves.
SMALL_FILE = 1 << 16
# If reading small files takes longer than this on average (a cold cache, a network file
# system), their latency dominates and they go to the thread pool too.
SLOW_READ_SECONDS = 100e-6
_SLOW_SAMPLE = 256  # files read before deciding
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)

Progress = Callable[[int], None]


def default_workers() -> int:
    """Threads that hash directory files: enough to overlap I/O latency, a few per core."""
    return max(4, min(32, 4 * (os.cpu_count() or 1)))


def checksum_sidecar_path(path: str | os.PathLike) -> str:
    """The ``.CHECKSUM`` file for ``path``: its compression suffix and a final ``.INDEX``
    extension are dropped first (``data.txt.gz`` -> ``data.txt.CHECKSUM``,
    ``dir.INDEX`` -> ``dir.CHECKSUM``)."""
    base, _ = strip_compression_suffix(os.fspath(path))
    if base.endswith(".INDEX"):
        base = os.path.splitext(base)[0]
    return base + ".CHECKSUM"


def _digest_stream(stream: BinaryIO, progress: Progress | None = None) -> bytes:
    hasher = hashlib.sha256()
    block = bytearray(BLOCK_SIZE)
    view = memoryview(block)
    readinto = stream.readinto
    while True:
        size = readinto(block)
        if not size:
            return hasher.digest()
        hasher.update(view[:size])  # releases the GIL for blocks this size
        if progress is not None:
            progress(size)


def stream_checksum(stream: BinaryIO, progress: Progress | None = None) -> Checksum:
    """The checksum of everything left to read in a binary stream (e.g. ``sys.stdin.buffer``).
    ``progress(n)`` is called after each block of ``n`` bytes."""
    return Checksum(_digest_stream(stream, progress))


def _file_digest(path: str, decompress: bool, progress: Progress | None = None) -> bytes:
    suffix = strip_compression_suffix(path)[1] if decompress else None
    with open(path, "rb", buffering=0) as raw:
        if suffix is None:
            return _digest_stream(raw, progress)
        # Progress counts compressed bytes read, which is what the file size measures.
        counted = raw if progress is None else _CountingReader(raw, progress)
        with decompressing_reader(counted, suffix, path) as reader:  # type: ignore[arg-type]
            return _digest_stream(reader)


class _CountingReader:
    """Reports the bytes read through it."""

    def __init__(self, raw: BinaryIO, progress: Progress) -> None:
        self._raw = raw
        self._progress = progress
        self.name = getattr(raw, "name", "")

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._progress(len(data))
        return data

    def readinto(self, buffer) -> int:
        size = self._raw.readinto(buffer)
        self._progress(size or 0)
        return size

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass

    @property
    def closed(self) -> bool:
        return self._raw.closed


def file_checksum(
    path: str | os.PathLike, *, decompress: bool = True, progress: Progress | None = None
) -> Checksum:
    """The checksum of a file's content, decompressed for ``.zst`` and ``.gz`` names unless
    ``decompress=False``. ``progress(n)`` is called as ``n`` more bytes of the file are read.

    Raises ``OSError`` when the file cannot be read and
    :class:`~seamless_core._compression.DecompressionError` (a ``ValueError``) when a
    compressed file is corrupt.
    """
    return Checksum(_file_digest(os.fspath(path), decompress, progress))


# -- directories -----------------------------------------------------------------------------


def _not_utf8(key: str, path: str) -> bool:
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"{path!r}: the file name is not valid UTF-8, so an index cannot hold it"
        ) from None
    return False


def _with_filename(error: OSError, path: str) -> OSError:
    """``error`` naming ``path`` (a full path, where the call only knew a relative name)."""
    if error.errno is None:
        return error
    return type(error)(error.errno, error.strerror, path)


def _pooled_digest(path: str) -> bytes:
    try:
        return _file_digest(path, decompress=True)
    except OSError as exc:
        raise _with_filename(exc, path) from exc


# Relative opens (openat) skip resolving the directory part of every path again.
_RELATIVE_OPENS = os.open in os.supports_dir_fd and os.scandir in os.supports_fd
_DIRECTORY_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)


class _Indexer:
    """One directory index being computed; see :func:`directory_index`."""

    def __init__(self, workers: int | None, progress: Callable[[int, int], None] | None):
        self.workers = workers or default_workers()
        self.progress = progress
        self.keys: list[str] = []
        self.digests: list[str | None] = []
        self.pooled: dict[int, Any] = {}  # position -> Future
        self.pool: Any = None
        self.slow = False
        self.sampled = False
        self.done_in_pool = 0
        self.started = time.perf_counter()

    def run(self, root: str) -> dict[str, str]:
        try:
            # Depth first, each directory's files before its subdirectories, in the order
            # the directory lists them: the order of os.walk, which decides (as in 0.1.4)
            # which of "a" and "a.gz" wins a key.
            pending = [(root, "")]
            while pending:
                pending += reversed(self.directory(*pending.pop()))
            for position, future in self.pooled.items():
                self.digests[position] = future.result().hex()
            if self.progress is not None:
                self.progress(len(self.keys), len(self.keys))
            return dict(zip(self.keys, self.digests))  # type: ignore[arg-type]
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, path: str) -> None:
        if self.pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(self.workers, "seamless-hash")
        future = self.pool.submit(_pooled_digest, path)
        if self.progress is not None:
            future.add_done_callback(self.pooled_done)
        self.pooled[len(self.digests)] = future
        self.digests.append(None)

    def pooled_done(self, _future: Any) -> None:
        self.done_in_pool += 1  # from pool threads; only drives a progress display
        self.report()

    def report(self) -> None:
        done = len(self.digests) - len(self.pooled) + self.done_in_pool
        self.progress(done, len(self.keys))  # type: ignore[misc]

    def directory(self, path: str, key_prefix: str) -> list[tuple[str, str]]:
        """Index the files of one directory; returns its subdirectories to visit."""
        # The hot loop: locals only.
        sep, suffixes, small = os.sep, COMPRESSION_SUFFIXES, SMALL_FILE
        open_, read, close, sha256 = os.open, os.read, os.close, hashlib.sha256
        keys, digests, flags, slow = self.keys, self.digests, _OPEN_FLAGS, self.slow
        prefix = path if path.endswith(sep) else path + sep
        subdirectories = []
        dir_fd = open_(path, _DIRECTORY_FLAGS) if _RELATIVE_OPENS else None
        try:
            with os.scandir(path if dir_fd is None else dir_fd) as entries:
                for entry in entries:
                    try:
                        is_dir = entry.is_dir()
                    except OSError:
                        is_dir = False
                    name = entry.name
                    if is_dir:
                        if not entry.is_symlink():  # links to directories are not followed
                            subdirectories.append((prefix + name, key_prefix + name + sep))
                        continue
                    if name.endswith(suffixes):
                        key = key_prefix + strip_compression_suffix(name)[0]
                        pooled = True
                    else:
                        key = key_prefix + name
                        pooled = slow
                    if not key.isascii():
                        _not_utf8(key, prefix + name)
                    keys.append(key)
                    if pooled:
                        self.submit(prefix + name)
                        continue
                    try:
                        if dir_fd is None:
                            fd = open_(prefix + name, flags)
                        else:
                            fd = open_(name, flags, dir_fd=dir_fd)
                        try:
                            data = read(fd, small)
                        finally:
                            close(fd)
                    except OSError as exc:
                        raise _with_filename(exc, prefix + name) from exc
                    if len(data) < small:  # a short read of a regular file: the whole file
                        digests.append(sha256(data).hexdigest())
                    else:
                        self.submit(prefix + name)
                    if not len(keys) & 255:
                        slow = self.checkpoint()
        finally:
            if dir_fd is not None:
                close(dir_fd)
        return subdirectories

    def checkpoint(self) -> bool:
        """Every 256 files: report progress, and (once) decide whether reading is slow;
        returns whether it is."""
        if self.progress is not None:
            self.report()
        if not self.sampled and len(self.keys) >= _SLOW_SAMPLE:
            self.sampled = True
            elapsed = time.perf_counter() - self.started
            self.slow = elapsed > SLOW_READ_SECONDS * len(self.keys)
        return self.slow


def directory_index(
    directory: str | os.PathLike,
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, str]:
    """The index of a directory: ``{relative path without compression suffix: hex
    checksum}`` for every file below it (symbolic links to files are followed, those to
    directories are not, as ``os.walk`` does).

    Small uncompressed files are hashed by the calling thread as the directory is walked;
    larger and compressed ones by a pool of ``workers`` threads (default
    :func:`default_workers`), and all files once reading them turns out to be slow (a cold
    cache, a network file system: then their latency dominates). ``progress(done, total)``
    is called now and then (from any thread), ``total`` growing as the walk proceeds. The
    first file or subdirectory that cannot be read aborts the whole index with its error.
    """
    return _Indexer(workers, progress).run(os.fspath(directory))


def index_buffer(index: dict[str, str]) -> Buffer:
    """The index as a ``plain`` buffer, byte for byte as seamless-core 0.1.4 writes it; its
    checksum is the directory's checksum."""
    return Buffer(index, "plain")
