"""Atomic file writes: a temporary file in the target directory, then a rename."""

from __future__ import annotations

import os
from collections.abc import Iterable

TEMP_PREFIX = ".seamless-tmp-"


def _create_temp(directory: str) -> tuple[int, str]:
    # What tempfile.mkstemp does, without importing tempfile (and random, shutil, ...) into
    # every process that imports seamless_core.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        name = os.path.join(directory, TEMP_PREFIX + os.urandom(6).hex())
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name in {directory}")


def _stage(path: str, chunks: bytes | Iterable[bytes]) -> str:
    """Write ``chunks`` to a new temporary file beside ``path``, flushed to disk; returns
    its name. On any error the temporary file is removed."""
    fd, tmp = _create_temp(os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(chunks, (bytes, bytearray, memoryview)):
                f.write(chunks)
            else:
                for chunk in chunks:
                    f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        _discard(tmp)
        raise
    return tmp


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def write_atomic(path: str | os.PathLike, chunks: bytes | Iterable[bytes]) -> None:
    """Write ``chunks`` to ``path`` so that readers see either the old file or the whole new one.

    The data is flushed to disk before the rename; on any error the temporary file is removed.
    """
    path = os.fspath(path)
    tmp = _stage(path, chunks)
    try:
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


def write_atomic_many(files: Iterable[tuple[str | os.PathLike, bytes]]) -> None:
    """Write several files, each atomically, and none unless all could be written: every
    content is staged in a temporary file first, and the renames happen only after."""
    staged: list[tuple[str, str]] = []
    try:
        for path, content in files:
            path = os.fspath(path)
            staged.append((_stage(path, content), path))
        while staged:
            tmp, path = staged[0]
            os.replace(tmp, path)
            staged.pop(0)
    finally:
        for tmp, _ in staged:
            _discard(tmp)
