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
import io
import os
import stat
import time
from collections.abc import Callable
from typing import Any, BinaryIO, Protocol, cast

from ._compression import (
    COMPRESSION_SUFFIXES,
    NotRegularFileError,
    decompressing_reader,
    file_kind,
    open_regular,
    strip_compression_suffix,
)
from ._native import read_files, read_files_python
from ._workers import WorkerThreads
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

#: Files are streamed in blocks of this many bytes.
BLOCK_SIZE = 1 << 20
#: Files up to this size are read whole, in one call, and hashed from memory; larger ones
#: are streamed in blocks.
SMALL_FILE = 1 << 16
#: Small files of one directory go to the worker threads this many at a time: enough that
#: handing a batch over costs little next to reading it, few enough that a large directory
#: keeps every worker busy.
READ_BATCH = 256
#: Reading small files slower than this each, on average (a cold cache, a network file
#: system), means their latency dominates: from then on they go in batches of
#: :data:`SLOW_READ_BATCH` to more threads, whose waits overlap.
SLOW_READ_SECONDS = 100e-6
#: Batch size once reads are slow.
SLOW_READ_BATCH = 8
#: The first batch is read by the walking thread itself, timed, before any other is handed
#: out: it tells how the rest should go.
FIRST_BATCH = 32
# What times the reads (a module attribute, so that a test decides the latency measured
# rather than the machine's load).
_read_clock = time.perf_counter

Progress = Callable[[int], None]


def default_workers() -> int:
    """Threads that read and hash files: one per core, at least two. Hashing small files
    holds the GIL between reads, so more threads contend more than they overlap; on a network
    file system, where each file's latency dominates, more threads pay (pass ``workers``)."""
    return max(2, min(32, os.cpu_count() or 1))


def latency_workers() -> int:
    """Threads once reading files turns out slow: enough to overlap many waits."""
    return max(8, min(32, 4 * (os.cpu_count() or 1)))


def checksum_sidecar_path(path: str | os.PathLike) -> str:
    """The ``.CHECKSUM`` file for ``path``: its compression suffix and a final ``.INDEX``
    extension are dropped first (``data.txt.gz`` -> ``data.txt.CHECKSUM``,
    ``dir.INDEX`` -> ``dir.CHECKSUM``)."""
    base, _ = strip_compression_suffix(os.fspath(path))
    if base.endswith(".INDEX"):
        base = os.path.splitext(base)[0]
    return base + ".CHECKSUM"


class _ReadsInto(Protocol):
    def readinto(self, buffer: bytearray, /) -> int | None: ...


def _digest_stream(stream: _ReadsInto, progress: Progress | None = None) -> bytes:
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
    # binary files have readinto, which typing.BinaryIO does not declare
    return Checksum(_digest_stream(cast(_ReadsInto, stream), progress))


def _file_digest(path: str, decompress: bool, progress: Progress | None = None) -> bytes:
    suffix = strip_compression_suffix(path)[1] if decompress else None
    with open_regular(path) as raw:
        if suffix is None:
            return _digest_stream(raw, progress)
        # Progress counts compressed bytes read, which is what the file size measures.
        counted = raw if progress is None else _CountingReader(raw, progress)
        with decompressing_reader(counted, suffix, path) as reader:  # type: ignore[arg-type]
            return _digest_stream(reader)


class _CountingReader:
    """Reports the bytes read through it."""

    def __init__(self, raw: io.FileIO, progress: Progress) -> None:
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

    Raises ``OSError`` when the file cannot be read,
    :class:`~seamless_core._compression.DecompressionError` (a ``ValueError``) when a
    compressed file is corrupt, and
    :class:`~seamless_core._compression.NotRegularFileError` (a ``ValueError``) for a FIFO,
    a device or a socket (which would block or never end).
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


def _refuse_special(entry: os.DirEntry, path: str) -> None:
    """Raise for a FIFO, device or socket (reading one blocks or never ends); anything
    else that is not a file (a broken link) is left to fail when it is read."""
    try:
        mode = entry.stat().st_mode
    except OSError:
        return
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):  # changed since it was listed
        return
    raise NotRegularFileError(f"{path}: {file_kind(mode)}, not a regular file")


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


# Reading a directory's files relative to it (openat) skips resolving its path for each.
_RELATIVE_OPENS = os.open in os.supports_dir_fd
_DIRECTORY_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)

# Batches of small files go to the worker threads only when read without the GIL.
_BATCHES_IN_POOL = read_files is not None and _RELATIVE_OPENS

Digests = list[tuple[int, str]]  # (position of the key, hex checksum)


def _read_starts(directory: str, prefix: str, names: list[str]) -> tuple[bytes, list[int]]:
    """The first SMALL_FILE bytes of each file, as :func:`_native.read_files` returns them."""
    if not _RELATIVE_OPENS:
        return read_files_python(prefix, names, SMALL_FILE)
    dir_fd = os.open(directory, _DIRECTORY_FLAGS)
    try:
        return (read_files or read_files_python)(dir_fd, names, SMALL_FILE)
    finally:
        os.close(dir_fd)


# hashlib lets go of the GIL while it hashes 2048 bytes or more at once; for a few KiB, the
# wait to get it back from another worker costs more than the hashing, so such files are fed
# to it in pieces just below that size.
_HASH_PIECE = 2047
_PIECES_UP_TO = 4 * _HASH_PIECE


def _digest_in_memory(data: memoryview) -> str:
    if not _HASH_PIECE < len(data) <= _PIECES_UP_TO:
        return hashlib.sha256(data).hexdigest()
    hasher = hashlib.sha256()
    for offset in range(0, len(data), _HASH_PIECE):
        hasher.update(data[offset : offset + _HASH_PIECE])
    return hasher.hexdigest()


OnUnreadable = Callable[[OSError], None]


def _hash_read(
    content: bytes,
    sizes: list[int],
    prefix: str,
    names: list[str],
    positions: list[int],
    on_unreadable: OnUnreadable | None = None,
) -> Digests:
    """Checksums of files read by :func:`_read_starts`; the few that turn out larger than
    SMALL_FILE are streamed. A file that cannot be read raises, or with ``on_unreadable``
    is handed to it and left out."""
    view, start, digests = memoryview(content), 0, []
    for position, name, size in zip(positions, names, sizes):
        if size < 0:
            error = OSError(-size, os.strerror(-size), prefix + name)
            if on_unreadable is None:
                raise error
            on_unreadable(error)
            continue
        if size < SMALL_FILE:  # a short read of a regular file: the whole file
            digests.append((position, _digest_in_memory(view[start : start + size])))
        else:
            digests += _hash_compressed(prefix + name, position, on_unreadable)
        start += size
    return digests


def _hash_compressed(path: str, position: int, on_unreadable: OnUnreadable | None) -> Digests:
    try:
        return [(position, _pooled_digest(path).hex())]
    except OSError as exc:
        if on_unreadable is None:
            raise
        on_unreadable(exc)
        return []


class _Indexer:
    """One directory index being computed; see :func:`directory_index`.

    The calling thread walks the tree and hands the files to worker threads: small ones in
    batches per directory (see :data:`READ_BATCH`), compressed ones alone.
    """

    def __init__(
        self,
        workers: int | None,
        progress: Callable[[int, int], None] | None,
        on_unreadable: OnUnreadable | None = None,
    ):
        self.progress = progress
        self.on_unreadable = on_unreadable
        self.keys: list[str] = []
        self.done = 0  # files hashed so far; only drives a progress display
        on_done = None if progress is None else self.hashed
        self.workers = WorkerThreads(workers or default_workers(), on_done, "seamless-hash")
        self.adaptive = workers is None  # may grow the pool when reads turn out slow
        self.sampled = False  # whether the first batch was read
        self.slow = False  # set by a worker, read by the walker: a plain flag suffices

    def run(self, root: str) -> dict[str, str]:
        with self.workers:
            # Depth first, each directory's files before its subdirectories, in the order
            # the directory lists them: the order of os.walk, which decides (as in 0.1.4)
            # which of "a" and "a.gz" wins a key.
            pending = [(root, "")]
            while pending:
                path, key_prefix = pending.pop()
                try:
                    pending += reversed(self.directory(path, key_prefix))
                except OSError as exc:
                    if self.on_unreadable is None or path == root:
                        raise
                    self.on_unreadable(_with_filename(exc, path))
            digests: list[str | None] = [None] * len(self.keys)
            for batch in self.workers.results():  # a file's error: the first in walk order
                for position, digest in batch:
                    digests[position] = digest
        if self.progress is not None:
            self.progress(len(self.keys), len(self.keys))
        if self.on_unreadable is not None:  # the files left out have no digest
            return {key: digest for key, digest in zip(self.keys, digests) if digest is not None}
        return dict(zip(self.keys, digests))  # type: ignore[arg-type]

    def hash_batch(
        self, directory: str, prefix: str, names: list[str], positions: list[int]
    ) -> Digests:
        """Checksums of some uncompressed files of one directory, read in one call (timed:
        see :data:`SLOW_READ_SECONDS`), hashed from memory."""
        started = _read_clock()
        content, sizes = _read_starts(directory, prefix, names)
        if _read_clock() - started > SLOW_READ_SECONDS * len(names):
            self.slow = True
        return _hash_read(content, sizes, prefix, names, positions, self.on_unreadable)

    def batch_size(self) -> int:
        if not self.sampled:
            return FIRST_BATCH
        return SLOW_READ_BATCH if self.slow else READ_BATCH

    def submit_batch(self, *args: Any) -> None:
        if not self.sampled:
            self.sampled = True
            self.workers.run_here(self.hash_batch, *args)
        elif self.slow:  # waits overlap in threads, whether or not reads hold the GIL
            if self.adaptive:
                self.workers.grow_to(latency_workers())
            self.workers.submit(self.hash_batch, *args)
        elif _BATCHES_IN_POOL:
            self.workers.submit(self.hash_batch, *args)
        else:  # pure-Python reads in several threads would only fight over the GIL
            self.workers.run_here(self.hash_batch, *args)

    def hashed(self, batch: Digests) -> None:
        self.done += len(batch)  # from worker threads: a display may lag by a batch
        self.progress(self.done, len(self.keys))  # type: ignore[misc]

    def directory(self, path: str, key_prefix: str) -> list[tuple[str, str]]:
        """Index the files of one directory; returns its subdirectories to visit."""
        # The hot loop: locals only.
        sep, suffixes, keys = os.sep, COMPRESSION_SUFFIXES, self.keys
        batch_size = self.batch_size()
        prefix = path if path.endswith(sep) else path + sep
        names: list[str] = []  # small files to read next, and their keys' positions
        positions: list[int] = []
        subdirectories = []
        with os.scandir(path) as entries:
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
                if not entry.is_file():  # free for regular files: scandir knows their type
                    _refuse_special(entry, prefix + name)
                compressed = name.endswith(suffixes)
                key = key_prefix + (strip_compression_suffix(name)[0] if compressed else name)
                if not key.isascii():
                    _not_utf8(key, prefix + name)
                keys.append(key)
                if compressed:
                    self.workers.submit(
                        _hash_compressed, prefix + name, len(keys) - 1, self.on_unreadable
                    )
                    continue
                names.append(name)
                positions.append(len(keys) - 1)
                if len(names) >= batch_size:
                    self.submit_batch(path, prefix, names, positions)
                    names, positions = [], []
                    batch_size = self.batch_size()
        if names:
            self.submit_batch(path, prefix, names, positions)
        return subdirectories


def directory_index(
    directory: str | os.PathLike,
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_unreadable: OnUnreadable | None = None,
) -> dict[str, str]:
    """The index of a directory: ``{relative path without compression suffix: hex
    checksum}`` for every file below it (symbolic links to files are followed, those to
    directories are not, as ``os.walk`` does).

    The calling thread walks the tree; a pool of ``workers`` threads (default
    :func:`default_workers`) reads and hashes the files: small uncompressed ones of one
    directory :data:`READ_BATCH` at a time, each in a single call that runs without the GIL
    when the C speedups are built, compressed ones one by one. The walking thread reads the
    first :data:`FIRST_BATCH` files itself and times them: once reads turn out slow (see
    :data:`SLOW_READ_SECONDS`), batches become small and, unless ``workers`` was given, the
    pool grows to :func:`latency_workers`. ``progress(done, total)`` is
    called now and then (from any thread), ``total`` growing as the walk proceeds. A file or
    subdirectory that cannot be read aborts the whole index with its error (for files, the
    first in the order of the walk). So does a FIFO, device or socket
    (:class:`~seamless_core._compression.NotRegularFileError`), found before any is read.
    With ``on_unreadable``, a file or subdirectory that cannot be read (a broken link, no
    permission, an I/O error) is passed to it (from any thread) as an ``OSError`` naming
    it, and left out of the index instead.
    """
    return _Indexer(workers, progress, on_unreadable).run(os.fspath(directory))


def index_buffer(index: dict[str, str]) -> Buffer:
    """The index as a ``plain`` buffer, byte for byte as seamless-core 0.1.4 writes it; its
    checksum is the directory's checksum.

    An index is a flat mapping of strings, so its canonical JSON (sorted keys, 2-space
    indent, UTF-8, only ``"``, ``\\`` and control characters escaped) is written here
    directly: the general ``plain`` serializer would cost the command-line tool the import of
    orjson, a fifth of its running time on a typical tree. The tests hold the two equal.
    """
    from json.encoder import encode_basestring  # the C escaper of the json module

    if all(map(_is_str_pair, index.items())):
        keys = sorted(index)
        values = map(encode_basestring, map(index.__getitem__, keys))
        lines = map("  {}: {}".format, map(encode_basestring, keys), values)
        body = "{\n" + ",\n".join(lines) + "\n}\n" if keys else "{}\n"
        try:
            return Buffer(body.encode())
        except UnicodeEncodeError:
            pass  # lone surrogates: the general path names the problem
    return Buffer(index, "plain")


def _is_str_pair(item: tuple[object, object]) -> bool:
    return type(item[0]) is str and type(item[1]) is str
