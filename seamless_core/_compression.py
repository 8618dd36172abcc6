"""Reading stored files: regular files only, bounded, decompressed as a stream.

File names ending in one of :data:`COMPRESSION_SUFFIXES` hold their buffer compressed; the
buffer's checksum is that of the decompressed bytes. This is how hashserver directories,
buffer folders and the command-line tools treat them.

Every read here is bounded: :func:`open_regular` refuses FIFOs, devices and sockets (a FIFO
blocks an ``open`` forever, ``/dev/zero`` never ends), and :func:`read_decompressed` stops
at an output limit, so a compression bomb cannot exhaust memory.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from typing import Any, BinaryIO, Protocol

from .errors import DecompressionError, NotRegularFileError, TooLargeError

COMPRESSION_SUFFIXES = (".zst", ".gz")

# O_NONBLOCK keeps open() of a FIFO from waiting for a writer; it changes nothing for the
# regular files that are then read.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)


def file_kind(mode: int) -> str:
    """A name for the kind of file ``mode`` (from ``stat``) describes."""
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


class Readable(Protocol):
    """What :func:`read_limited` needs of a binary stream."""

    def read(self, size: int = ..., /) -> bytes | None: ...


def open_regular(path: str | os.PathLike) -> io.FileIO:
    """Open ``path`` for reading in binary mode (unbuffered), refusing anything but a
    regular file (symbolic links are followed) with :class:`NotRegularFileError`
    (``IsADirectoryError`` for a directory, as ``open`` raises).

    The check is made on the opened descriptor, so a file swapped for a FIFO in between
    cannot slip through, and the open itself never blocks.
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):  # what open() says of a directory
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fsdecode(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(f"{os.fsdecode(path)}: {file_kind(mode)}, not a regular file")
        if _OPEN_FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return open(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def read_limited(stream: Readable, limit: int, name: str) -> bytes:
    """Everything left in ``stream``, refused with :class:`TooLargeError` as soon as it
    exceeds ``limit`` bytes (at most ``limit + 1`` are read)."""
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = stream.read(min(1 << 20, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
    raise TooLargeError(f"{name}: more than {limit} bytes")


def strip_compression_suffix(name: str) -> tuple[str, str | None]:
    """``(name without the suffix, suffix)``, or ``(name, None)`` when it is not compressed."""
    for suffix in COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)], suffix
    return name, None


def _errors() -> tuple[type[BaseException], ...]:
    import gzip
    import zlib

    import zstandard

    # BadGzipFile is an OSError, EOFError means truncated: both are bad data, not bad I/O.
    return (zstandard.ZstdError, gzip.BadGzipFile, EOFError, zlib.error)


class _DecompressingReader(io.RawIOBase):
    """A readable stream of the decompressed bytes that turns format errors into
    :class:`DecompressionError` naming the file."""

    def __init__(self, inner: Any, name: str) -> None:  # a zstandard or a gzip reader
        self._inner = inner
        self._name = name
        self._bad = _errors()

    def readable(self) -> bool:
        return True

    def _guarded(self, method, argument):
        try:
            return method(argument)
        except self._bad as exc:
            raise DecompressionError(f"{self._name}: corrupt compressed data ({exc})") from exc

    def readinto(self, buffer) -> int:
        return self._guarded(self._inner.readinto, buffer)

    def readall(self) -> bytes:
        # RawIOBase.readall would go 8 KiB at a time.
        chunks: list[bytes] = []
        while True:
            chunk = self._guarded(self._inner.read, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def decompressing_reader(raw: BinaryIO, suffix: str, name: str = "") -> _DecompressingReader:
    """Wrap an open binary file holding ``suffix``-compressed data (``.zst`` or ``.gz``) in a
    stream of the decompressed bytes. Closing the wrapper does not close ``raw``.

    Every zstd frame and every gzip member is read, as ``zstd -d`` and ``gunzip`` do.
    """
    if suffix == ".zst":
        import zstandard

        inner: Any = zstandard.ZstdDecompressor().stream_reader(
            raw, read_size=1 << 20, read_across_frames=True, closefd=False
        )
    elif suffix == ".gz":
        import gzip

        inner = gzip.GzipFile(fileobj=raw, mode="rb")
    else:
        raise ValueError(f"unknown compression suffix {suffix!r}; known: {COMPRESSION_SUFFIXES}")
    return _DecompressingReader(inner, name or getattr(raw, "name", "<stream>"))


def read_decompressed(path: str | os.PathLike, suffix: str, limit: int) -> bytes:
    """The decompressed content of the regular file at ``path``; raises
    :class:`TooLargeError` once it exceeds ``limit`` bytes, without decompressing more."""
    name = os.fspath(path)
    with open_regular(path) as raw, decompressing_reader(raw, suffix, name) as reader:
        try:
            return read_limited(reader, limit, name)
        except TooLargeError:
            raise TooLargeError(f"{name}: decompresses to more than {limit} bytes") from None
