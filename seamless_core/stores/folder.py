"""``BufferFolder``: a directory of buffers named by checksum, as a hashserver lays them out."""

from __future__ import annotations

import os
import time

from .._atomic import TEMP_PREFIX, write_atomic
from ..checksum import Checksum, sha256_digest
from .base import BufferStore, CorruptBufferError

PREFIX_SENTINEL = ".HASHSERVER_PREFIX"
# Temp files younger than this may belong to a write still in progress in another process
# sharing the folder, so the sweep at start leaves them alone.
DEFAULT_SWEEP_AGE = 15 * 60.0


def _as_checksum(checksum: Checksum | str | bytes) -> Checksum:
    return checksum if isinstance(checksum, Checksum) else Checksum(checksum)


class BufferFolder(BufferStore):
    """A local directory holding one file per buffer, named by its checksum.

    Two layouts exist, as in the ``hashserver`` package: *prefix* (``ab/abcd…``: the first
    two hex characters name a subdirectory), marked by a ``.HASHSERVER_PREFIX`` file at the
    root, and *flat* (``abcd…`` at the root) when that marker is absent. A writable folder
    that is new or empty is created with the prefix layout.

    Reads verify the checksum: a file whose content does not match raises
    :class:`~seamless_core.stores.base.CorruptBufferError`. Writes go to a temporary file
    that is renamed into place, so readers never see a partial buffer. Opening a folder
    writable removes temporary files left by interrupted writes that are older than
    ``sweep_age`` seconds.

    Args:
        path: the directory.
        writable: allow :meth:`put` (the directory is then created when missing).
        sweep_age: minimum age of the leftover temporary files removed at opening.
    """

    verifies = True
    cost_profile = "read_buffer"

    def __init__(
        self,
        path: str | os.PathLike,
        writable: bool = False,
        *,
        sweep_age: float = DEFAULT_SWEEP_AGE,
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.writable = bool(writable)
        self._layout: str | None = None
        if self.writable:
            os.makedirs(self.path, exist_ok=True)
            if self._is_empty():
                write_atomic(os.path.join(self.path, PREFIX_SENTINEL), b"")
            self.sweep_temp_files(older_than=sweep_age)

    def __repr__(self) -> str:
        return f"BufferFolder({self.path!r}, writable={self.writable})"

    # -- layout ----------------------------------------------------------------------------

    @property
    def layout(self) -> str:
        """``"prefix"`` or ``"flat"``, detected from the ``.HASHSERVER_PREFIX`` marker."""
        if self._layout is None:
            if os.path.exists(os.path.join(self.path, PREFIX_SENTINEL)):
                self._layout = "prefix"
            elif os.path.isdir(self.path):
                self._layout = "flat"
            else:
                # Not created yet (by us or another process): decide when it exists.
                return "prefix"
        return self._layout

    def _is_empty(self) -> bool:
        with os.scandir(self.path) as it:
            return all(entry.name.startswith(TEMP_PREFIX) for entry in it)

    def path_of(self, checksum: Checksum | str | bytes) -> str:
        """The file that holds (or would hold) the buffer for ``checksum``."""
        hex_ = _as_checksum(checksum).hex()
        if self.layout == "prefix":
            return os.path.join(self.path, hex_[:2], hex_)
        return os.path.join(self.path, hex_)

    # -- BufferStore -----------------------------------------------------------------------

    def get(self, checksum: Checksum | str | bytes) -> bytes | None:
        """The verified buffer for ``checksum``, or ``None`` if the folder does not have it."""
        checksum = _as_checksum(checksum)
        path = self.path_of(checksum)
        try:
            with open(path, "rb") as f:
                content = f.read()
        except FileNotFoundError:
            return None
        if sha256_digest(content) != checksum.bytes():
            raise CorruptBufferError(
                f"{path} does not hold the buffer for checksum {checksum.hex()} "
                f"({len(content)} bytes with another checksum)"
            )
        return content

    def has(self, checksum: Checksum | str | bytes) -> bool:
        """Whether a file for ``checksum`` exists (its content is not checked)."""
        return os.path.isfile(self.path_of(checksum))

    def buffer_length(self, checksum: Checksum | str | bytes) -> int | None:
        """The size of the file for ``checksum``, or ``None`` if there is none."""
        try:
            return os.stat(self.path_of(checksum)).st_size
        except FileNotFoundError:
            return None

    def put(self, checksum: Checksum | str | bytes, content: bytes) -> None:
        """Write ``content`` under ``checksum`` atomically; skipped when a file of the same
        length is already there (the names are content addresses)."""
        self._require_writable()
        path = self.path_of(checksum)
        try:
            if os.stat(path).st_size == len(content):
                return
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomic(path, content)

    # -- maintenance -----------------------------------------------------------------------

    def sweep_temp_files(self, older_than: float = 0.0) -> int:
        """Remove temporary files of interrupted writes last modified more than
        ``older_than`` seconds ago; returns how many were removed."""
        deadline = time.time() - older_than
        removed = 0
        for directory in self._directories():
            try:
                entries = list(os.scandir(directory))
            except FileNotFoundError:
                continue
            for entry in entries:
                if entry.name.startswith(TEMP_PREFIX) and self._older(entry, deadline):
                    try:
                        os.unlink(entry.path)
                        removed += 1
                    except FileNotFoundError:
                        pass  # another process swept it first
        return removed

    def _directories(self) -> list[str]:
        directories = [self.path]
        try:
            with os.scandir(self.path) as it:
                directories += [e.path for e in it if len(e.name) == 2 and e.is_dir()]
        except FileNotFoundError:
            pass
        return directories

    @staticmethod
    def _older(entry: os.DirEntry, deadline: float) -> bool:
        try:
            return entry.stat(follow_symlinks=False).st_mtime <= deadline
        except FileNotFoundError:
            return False
