"""``BufferFolder``: a directory of buffers named by checksum, as a hashserver lays them out."""

from __future__ import annotations

import logging
import os

from .._atomic import DEFAULT_SWEEP_AGE, TEMP_PREFIX, sweep_temp_files, write_atomic
from .._compression import (
    COMPRESSION_SUFFIXES,
    DecompressionError,
    NotRegularFileError,
    TooLargeError,
    decompressing_reader,
    open_regular,
    read_decompressed,
    read_limited,
)
from ..checksum import Checksum, sha256_digest
from .base import BufferStore, CorruptBufferError
from .base import as_checksum as _as_checksum

logger = logging.getLogger(__name__)

PREFIX_SENTINEL = ".HASHSERVER_PREFIX"
# A hashserver that stores a buffer compressed writes its decompressed length beside it.
LENGTH_SIDECAR = ".BUFFERLENGTH"
#: A compressed file without a ``.BUFFERLENGTH`` sidecar is decompressed up to this many
#: bytes at most: beyond, it is refused as a likely compression bomb.
DEFAULT_MAX_DECOMPRESSED = 1 << 30

# What makes one copy of a buffer unusable: it is then skipped (get) or replaced (put).
_BAD_COPY = (DecompressionError, NotRegularFileError, TooLargeError)


def _decompressed_length(path: str, suffix: str, limit: int) -> int:
    block = bytearray(1 << 20)
    total = 0
    with open_regular(path) as raw, decompressing_reader(raw, suffix, path) as reader:
        while n := reader.readinto(block):
            total += n
            if total > limit:
                raise TooLargeError(f"{path}: decompresses to more than {limit} bytes")
    return total


def _read_plain(path: str) -> bytes:
    # Bounded by the size the file has when opened: /dev/zero or a file that keeps
    # growing cannot fill memory.
    with open_regular(path) as f:
        return read_limited(f, os.fstat(f.fileno()).st_size, path)


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

    Reads are bounded: FIFOs, devices and other non-regular files are refused (as corrupt
    copies, naming the path), an uncompressed file is read up to the size it has when
    opened, and a compressed one up to its ``.BUFFERLENGTH`` sidecar or, without one,
    ``max_decompressed`` bytes.

    Args:
        path: the directory.
        writable: allow :meth:`put` (the directory is then created when missing).
        sweep_age: minimum age of the leftover temporary files removed at opening.
        max_decompressed: the most bytes a compressed file without a sidecar may
            decompress to.
        upload_target: whether buffers may be uploaded here (False for the cache's spill
            folder, which holds what nothing else does).
    """

    verifies = True
    cost_profile = "read_buffer"

    def __init__(
        self,
        path: str | os.PathLike,
        writable: bool = False,
        *,
        sweep_age: float = DEFAULT_SWEEP_AGE,
        max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
        upload_target: bool = True,
    ) -> None:
        path = os.fspath(path)
        if "\0" in (path if isinstance(path, str) else os.fsdecode(path)):
            raise ValueError(f"BufferFolder: the path {path!r} contains a NUL byte")
        self.path = os.path.abspath(path)
        self.writable = bool(writable)
        # False for a folder that must never receive uploads (the cache's spill folder).
        self.upload_target = bool(upload_target)
        self.max_decompressed = int(max_decompressed)
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
                content = self._read_copy(path, suffix)
            except FileNotFoundError:
                continue
            except _BAD_COPY as exc:
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

    def _read_copy(self, path: str, suffix: str | None, limit: int | None = None) -> bytes:
        """The (decompressed) content of one copy; raises one of ``_BAD_COPY`` if the
        copy is not a regular file, is corrupt, or would exceed its known length."""
        if suffix is None:
            return _read_plain(path)
        if limit is None:
            limit = self._sidecar_length(path[: -len(suffix)])
        if limit is None:
            limit = self.max_decompressed
        return read_decompressed(path, suffix, limit)

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
                if not os.path.isfile(path):
                    continue
                if suffix is None:
                    return os.stat(path).st_size
                length = self._sidecar_length(path[: -len(suffix)])
                if length is not None:
                    return length
                return _decompressed_length(path, suffix, self.max_decompressed)
            except FileNotFoundError:
                continue
            except _BAD_COPY as exc:
                logger.warning("%r: %s", self, str(exc))
                continue
        return None

    @staticmethod
    def _sidecar_length(base_path: str) -> int | None:
        try:
            with open(base_path + LENGTH_SIDECAR, "rb") as f:
                return int(f.read(40).strip())
        except (OSError, ValueError):
            return None

    def put(self, checksum: Checksum | str | bytes, content: bytes) -> bool:
        """Make the folder hold an intact copy of ``content`` under ``checksum``; returns
        ``True`` (the folder is then known to hold it).

        An existing copy (uncompressed or compressed) is read back and compared with
        ``content``: an intact one is kept and nothing is written. A damaged one (wrong
        bytes, truncated, not a regular file) does not count: the uncompressed file is then
        written atomically, replacing any damaged one, and damaged compressed copies are
        removed so that no reader of the folder (a hashserver serving it) meets them.
        """
        self._require_writable()
        checksum = _as_checksum(checksum)
        content = bytes(content)
        damaged = []
        for path, suffix in self._candidates(checksum):
            state = self._copy_state(path, suffix, content)
            if state == "intact" and not (suffix is not None and damaged):
                return True
            if state == "damaged":
                damaged.append((path, suffix))
        path = self.path_of(checksum)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomic(path, content)
        self._remove_damaged([p for p, suffix in damaged if suffix is not None], path)
        return True

    def _copy_state(self, path: str, suffix: str | None, content: bytes) -> str:
        """``"absent"``, ``"intact"`` or ``"damaged"``: one copy compared with ``content``."""
        try:
            if suffix is None and os.stat(path).st_size != len(content):
                return "damaged"
            existing = self._read_copy(path, suffix, limit=len(content))
        except FileNotFoundError:
            return "absent"
        except (OSError, *_BAD_COPY) as exc:
            # The message, not the exception: a kept log record must not keep the
            # traceback's frames (and the buffer being put) alive.
            logger.warning("%r: replacing the copy at %s: %s", self, path, str(exc))
            return "damaged"
        return "intact" if existing == content else "damaged"

    def _remove_damaged(self, paths: list[str], kept: str) -> None:
        for path in paths:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:  # get() verifies, so a leftover is refused, never served
                logger.warning("%r: could not remove damaged %s (%s)", self, path, str(exc))
        if paths and not any(os.path.exists(kept + s) for s in COMPRESSION_SUFFIXES):
            try:
                os.unlink(kept + LENGTH_SIDECAR)
            except OSError:
                pass

    # -- maintenance -----------------------------------------------------------------------

    def sweep_temp_files(self, older_than: float = 0.0) -> int:
        """Remove temporary files of interrupted writes last modified more than
        ``older_than`` seconds ago; returns how many were removed."""
        return sum(sweep_temp_files(d, older_than) for d in self._directories())

    def _directories(self) -> list[str]:
        directories = [self.path]
        try:
            with os.scandir(self.path) as it:
                directories += [e.path for e in it if len(e.name) == 2 and e.is_dir()]
        except FileNotFoundError:
            pass
        return directories
