"""``BufferFolder``: a directory of buffers named by checksum, as a hashserver lays them out."""

from __future__ import annotations

import logging
import os
import time

from .._atomic import TEMP_PREFIX, write_atomic
from .._compression import (
    COMPRESSION_SUFFIXES,
    DecompressionError,
    decompressing_reader,
    read_decompressed,
)
from ..checksum import Checksum, sha256_digest
from .base import BufferStore, CorruptBufferError
from .base import as_checksum as _as_checksum

logger = logging.getLogger(__name__)

PREFIX_SENTINEL = ".HASHSERVER_PREFIX"
# A hashserver that stores a buffer compressed writes its decompressed length beside it.
LENGTH_SIDECAR = ".BUFFERLENGTH"
# Temp files younger than this may belong to a write still in progress in another process
# sharing the folder, so the sweep at start leaves them alone.
DEFAULT_SWEEP_AGE = 15 * 60.0


def _decompressed_length(path: str, suffix: str) -> int:
    block = bytearray(1 << 20)
    total = 0
    with open(path, "rb") as raw, decompressing_reader(raw, suffix, path) as reader:
        while n := reader.readinto(block):
            total += n
    return total


class BufferFolder(BufferStore):
    """A local directory holding one file per buffer, named by its checksum.

    Two layouts exist, as in the ``hashserver`` package: *prefix* (``ab/abcd…``: the first
    two hex characters name a subdirectory), marked by a ``.HASHSERVER_PREFIX`` file at the
    root, and *flat* (``abcd…`` at the root) when that marker is absent. A writable folder
    that is new or empty is created with the prefix layout.

    A buffer may also be stored compressed, as ``<checksum>.zst`` or ``<checksum>.gz``; it
    is read back decompressed. Reads verify the checksum of the (decompressed) content: a
    file that does not match, or does not decompress, is never returned; if no intact copy
    is found, :class:`~seamless_core.stores.base.CorruptBufferError` is raised. Writes
    (always uncompressed) go to a temporary file that is renamed into place, so readers
    never see a partial buffer, and concurrent writers of the same buffer leave one intact
    file. Opening a folder writable removes temporary files left by interrupted writes
    that are older than ``sweep_age`` seconds.

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

    def _candidates(self, checksum: Checksum) -> list[tuple[str, str | None]]:
        # The uncompressed file first, then the compressed ones in the hashserver's order.
        path = self.path_of(checksum)
        return [(path, None)] + [(path + suffix, suffix) for suffix in COMPRESSION_SUFFIXES]

    def get(self, checksum: Checksum | str | bytes) -> bytes | None:
        """The verified buffer for ``checksum``, or ``None`` if the folder does not have it.

        Raises :class:`CorruptBufferError` if every copy found is corrupt.
        """
        checksum = _as_checksum(checksum)
        problems = []
        for path, suffix in self._candidates(checksum):
            try:
                if suffix is None:
                    with open(path, "rb") as f:
                        content = f.read()
                else:
                    content = read_decompressed(path, suffix)
            except FileNotFoundError:
                continue
            except DecompressionError as exc:
                problems.append(str(exc))
                continue
            if sha256_digest(content) == checksum.bytes():
                if problems:
                    logger.warning("%r: using %s; corrupt: %s", self, path, "; ".join(problems))
                return content
            problems.append(f"{path} holds {len(content)} bytes with another checksum")
        if problems:
            raise CorruptBufferError(
                f"{self!r} has no intact copy of buffer {checksum.hex()}: " + "; ".join(problems)
            )
        return None

    def has(self, checksum: Checksum | str | bytes) -> bool:
        """Whether a file for ``checksum`` exists, compressed or not (its content is not
        checked)."""
        checksum = _as_checksum(checksum)
        return any(os.path.isfile(path) for path, _ in self._candidates(checksum))

    def buffer_length(self, checksum: Checksum | str | bytes) -> int | None:
        """The length of the (decompressed) buffer for ``checksum``, or ``None`` if there is
        no file for it. Compressed files are measured by their ``.BUFFERLENGTH`` sidecar
        when there is one, else by decompressing them."""
        checksum = _as_checksum(checksum)
        for path, suffix in self._candidates(checksum):
            try:
                if suffix is None:
                    return os.stat(path).st_size
                if not os.path.isfile(path):
                    continue
                length = self._sidecar_length(path[: -len(suffix)])
                return length if length is not None else _decompressed_length(path, suffix)
            except (FileNotFoundError, DecompressionError):
                continue
        return None

    @staticmethod
    def _sidecar_length(base_path: str) -> int | None:
        try:
            with open(base_path + LENGTH_SIDECAR, "rb") as f:
                return int(f.read(40).strip())
        except (OSError, ValueError):
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
