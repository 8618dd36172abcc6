"""Transparent decompression of ``.zst`` and ``.gz`` files, streamed.

File names ending in one of :data:`COMPRESSION_SUFFIXES` hold their buffer compressed; the
buffer's checksum is that of the decompressed bytes. This is how hashserver directories,
buffer folders and the command-line tools treat them.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

COMPRESSION_SUFFIXES = (".zst", ".gz")


class DecompressionError(ValueError):
    """A compressed file is not valid in the format its suffix names."""


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

    def __init__(self, inner: BinaryIO, name: str) -> None:
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

    def readinto(self, buffer) -> int:  # type: ignore[override]
        return self._guarded(self._inner.readinto, buffer)

    def readall(self) -> bytes:
        # RawIOBase.readall would go 8 KiB at a time.
        chunks = []
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


def decompressing_reader(raw: BinaryIO, suffix: str, name: str = "") -> BinaryIO:
    """Wrap an open binary file holding ``suffix``-compressed data (``.zst`` or ``.gz``) in a
    stream of the decompressed bytes. Closing the wrapper does not close ``raw``.

    Every zstd frame and every gzip member is read, as ``zstd -d`` and ``gunzip`` do.
    """
    if suffix == ".zst":
        import zstandard

        inner = zstandard.ZstdDecompressor().stream_reader(
            raw, read_size=1 << 20, read_across_frames=True, closefd=False
        )
    elif suffix == ".gz":
        import gzip

        inner = gzip.GzipFile(fileobj=raw, mode="rb")
    else:
        raise ValueError(f"unknown compression suffix {suffix!r}; known: {COMPRESSION_SUFFIXES}")
    return _DecompressingReader(inner, name or getattr(raw, "name", "<stream>"))  # type: ignore[return-value]


def read_decompressed(path: str | os.PathLike, suffix: str) -> bytes:
    """The decompressed content of the file at ``path``."""
    with open(path, "rb") as raw, decompressing_reader(raw, suffix, os.fspath(path)) as reader:
        return reader.read()
