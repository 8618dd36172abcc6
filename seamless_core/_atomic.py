"""Atomic file writes: a temporary file in the target directory, then a rename.

Temporary files are named ``.seamless-tmp-<random>``. A process killed while writing leaves
its temporary file behind; :func:`sweep_temp_files` removes those that have not been
modified for a while (a write in progress keeps touching its file, so an age threshold
never hits a live writer), and :func:`sweep_once` does so at most once per directory and
process, which is what ``Buffer.save`` and ``Checksum.save`` call.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable

TEMP_PREFIX = ".seamless-tmp-"
#: Temporary files younger than this may belong to a write in progress in another process,
#: so sweeps leave them alone.
DEFAULT_SWEEP_AGE = 15 * 60.0

_swept: set[str] = set()
_swept_lock = threading.Lock()
_SWEPT_MAX = 4096  # directories remembered; past that, the memory is dropped and rebuilt


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


def write_sealed(
    path: str | os.PathLike, content: bytes, seal_path: str | os.PathLike, seal: bytes
) -> None:
    """Write ``content`` to ``path`` and ``seal`` (a statement about that content, e.g. its
    checksum) to ``seal_path``, so that at every moment, whatever is interrupted, a seal
    present on disk describes the file beside it.

    Both are staged first; then the old seal is removed, the new content renamed in, and
    only then the new seal. A crash between the steps leaves the old content or the new one
    *without* a seal: a reader can tell that it is unconfirmed, and never sees an old seal
    beside new content. (A reader that opens the two files at different moments can still
    pair them wrongly; it can check the seal against the content it read.)
    """
    path, seal_path = os.fspath(path), os.fspath(seal_path)
    new_content = _stage(path, content)
    staged_content: str | None = new_content
    staged_seal: str | None = None
    try:
        staged_seal = new_seal = _stage(seal_path, seal)
        _discard(seal_path)
        os.replace(new_content, path)
        staged_content = None
        os.replace(new_seal, seal_path)
        staged_seal = None
    finally:
        for tmp in (staged_content, staged_seal):
            if tmp is not None:
                _discard(tmp)


def sweep_temp_files(
    directory: str | os.PathLike[str], older_than: float = DEFAULT_SWEEP_AGE
) -> int:
    """Remove the temporary files of interrupted writes in ``directory`` (not below it)
    last modified more than ``older_than`` seconds ago; returns how many were removed.
    A directory that cannot be listed is skipped."""
    deadline = time.time() - older_than
    removed = 0
    try:
        with os.scandir(directory) as it:
            entries = [entry for entry in it if entry.name.startswith(TEMP_PREFIX)]
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.stat(follow_symlinks=False).st_mtime > deadline:
                continue
            os.unlink(entry.path)
            removed += 1
        except FileNotFoundError:
            pass  # another process swept it first
        except OSError:
            pass  # not ours to remove (permissions): leave it
    return removed


def sweep_once(directory: str | os.PathLike, older_than: float = DEFAULT_SWEEP_AGE) -> int:
    """:func:`sweep_temp_files` for ``directory``, the first time this process asks for
    it; later calls for the same directory do nothing (and return 0)."""
    key = os.path.abspath(os.fspath(directory))
    with _swept_lock:
        if key in _swept:
            return 0
        if len(_swept) >= _SWEPT_MAX:
            _swept.clear()
        _swept.add(key)
    return sweep_temp_files(key, older_than)
