"""``BufferFolder``: a directory of buffers named by checksum, as a hashserver lays them out."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple, Protocol

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
from .._units import GIB, parse_size
from ..checksum import Checksum, sha256_digest
from .base import BufferStore, CorruptBufferError
from .base import as_checksum as _as_checksum

logger = logging.getLogger(__name__)

SIZE_LIMIT_ENV = "SEAMLESS_BUFFER_FOLDER_SIZE_LIMIT"
PREFIX_SENTINEL = ".HASHSERVER_PREFIX"
# Held (flock) while a folder is garbage-collected: one collector at a time, across
# processes and threads.
GC_LOCK = ".seamless-gc.lock"
#: The running total of :meth:`BufferFolder.disk_usage` is trusted this many seconds;
#: older, it is rescanned (other processes write to the folder too).
USAGE_RESCAN_SECONDS = 30.0
#: A collection that a put starts brings usage down to this fraction of the limit, so
#: that the next puts do not each rescan the folder.
LOW_WATER = 0.9
# A hashserver that stores a buffer compressed writes its decompressed length beside it.
LENGTH_SIDECAR = ".BUFFERLENGTH"
#: A compressed file without a ``.BUFFERLENGTH`` sidecar is decompressed up to this many
#: bytes at most: beyond, it is refused as a likely compression bomb.
DEFAULT_MAX_DECOMPRESSED = GIB

# What makes one copy of a buffer unusable: it is then skipped (get) or replaced (put).
_BAD_COPY = (DecompressionError, NotRegularFileError, TooLargeError)


def _decompressed_length(path: str, suffix: str, limit: int) -> int:
    total = 0
    with open_regular(path) as raw, decompressing_reader(raw, suffix, path) as reader:
        while chunk := reader.read(1 << 20):
            total += len(chunk)
            if total > limit:
                raise TooLargeError(f"{path}: decompresses to more than {limit} bytes")
    return total


def _read_plain(path: str) -> bytes:
    # Bounded by the size the file has when opened: /dev/zero or a file that keeps
    # growing cannot fill memory.
    with open_regular(path) as f:
        return read_limited(f, os.fstat(f.fileno()).st_size, path)


class RetentionAdvisor(Protocol):
    """What a size-limited folder asks before it removes a buffer (the buffer cache is
    one): buffers still referenced are never removed, the others lowest score first."""

    def is_referenced(self, checksum: Checksum) -> bool: ...

    def keep_score(self, checksum: Checksum) -> float: ...


class _Entry(NamedTuple):
    """The files of one buffer in the folder (copies and sidecar)."""

    hex: str
    paths: list[str]
    size: int
    last_access: float


_HEX_DIGITS = frozenset("0123456789abcdef")


def _entry_key(name: str) -> str | None:
    # The checksum that names a buffer file ("<hex>", "<hex>.zst", "<hex>.BUFFERLENGTH").
    hex_, suffix = name[:64], name[64:]
    if suffix not in ("", LENGTH_SIDECAR, *COMPRESSION_SUFFIXES) or len(hex_) != 64:
        return None
    return hex_ if _HEX_DIGITS.issuperset(hex_) else None


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

    A writable folder may be given a size limit: when a put brings the buffers' total size
    above it, buffers are removed until usage is back under 90% of the limit, least
    valuable first (see :meth:`reduce_size` and :meth:`set_retention`; without an advisor,
    least recently used first). Collections hold a lock file in the folder, so that two
    processes sharing it do not collect at once; files that another process removes
    meanwhile are tolerated. A buffer put by this process is protected while its put
    runs; one that another process relies on is protected only by that process's
    advisor being this folder's too, or by being recent.

    Args:
        path: the directory.
        writable: allow :meth:`put` (the directory is then created when missing).
        sweep_age: minimum age of the leftover temporary files removed at opening.
        max_decompressed: the most bytes a compressed file without a sidecar may
            decompress to.
        size_limit: the most bytes the buffers may take (an int or a string such as
            ``"10GiB"``, see :func:`parse_size`); ``None``: no limit. Writable folders only.
        upload_target: whether buffers may be uploaded here (False for the cache's spill
            folder, which holds what nothing else does).
    """

    verifies = True
    cost_profile = "read_buffer"
    _size_limit: int | None

    def __init__(
        self,
        path: str | os.PathLike,
        writable: bool = False,
        *,
        sweep_age: float = DEFAULT_SWEEP_AGE,
        max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
        size_limit: int | str | None = None,
        upload_target: bool = True,
    ) -> None:
        path = os.fspath(path)
        if "\0" in (path if isinstance(path, str) else os.fsdecode(path)):
            raise ValueError(f"BufferFolder: the path {path!r} contains a NUL byte")
        self.path = os.path.abspath(path)
        self.writable = bool(writable)
        self.upload_target = bool(upload_target)
        self.max_decompressed = int(max_decompressed)
        self._layout: str | None = None
        self._init_tiering()
        if size_limit is not None:
            if not self.writable:
                raise ValueError(f"{self!r}: only a writable folder takes a size_limit")
            self._size_limit = parse_size(size_limit, "size_limit")
        if self.writable:
            self._create()
            self.sweep_temp_files(older_than=sweep_age)

    def _create(self) -> None:
        os.makedirs(self.path, exist_ok=True)
        if self._is_empty():
            write_atomic(os.path.join(self.path, PREFIX_SENTINEL), b"")

    def _init_tiering(self) -> None:
        self._size_limit = None
        self._advisor: RetentionAdvisor | None = None
        self._state_lock = threading.Lock()
        self._usage: int | None = None  # None: not counted yet
        self._usage_time = 0.0
        self._inflight: dict[str, int] = {}  # puts running now, per checksum
        self._put_while_collecting: set[str] | None = None

    def __repr__(self) -> str:
        return f"BufferFolder({self.path!r}, writable={self.writable})"

    def __getstate__(self) -> dict[str, Any]:
        # The folder's configuration; the lock, the running total and the retention
        # advisor (this process's cache) stay here.
        return {
            "path": self.path,
            "writable": self.writable,
            "upload_target": self.upload_target,
            "max_decompressed": self.max_decompressed,
            "size_limit": self._size_limit,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = state["path"]
        self.writable = state["writable"]
        self.upload_target = state.get("upload_target", True)
        self.max_decompressed = state["max_decompressed"]
        self._layout = None
        self._init_tiering()
        self._size_limit = state["size_limit"]
        # Unpickled in another process (a dask worker, maybe on another machine): a writable
        # folder is created there as __init__ would, so that its first buffer does not land
        # in an unmarked (flat) folder.
        if self.writable:
            self._create()

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
            return all(e.name.startswith(TEMP_PREFIX) or e.name == GC_LOCK for e in it)

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
                self._touch(path)
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

        In a size-limited folder a put may start a collection (see :meth:`reduce_size`);
        the buffer just put is never one it removes.
        """
        self._require_writable()
        checksum = _as_checksum(checksum)
        content = bytes(content)
        hex_ = checksum.hex()
        with self._state_lock:
            self._inflight[hex_] = self._inflight.get(hex_, 0) + 1
            counting = self._usage is not None
        try:
            before = self._stored_size(hex_) if counting else 0
            self._put(checksum, content)
            if counting:
                self._add_usage(self._stored_size(hex_) - before)
        finally:
            with self._state_lock:
                self._inflight[hex_] -= 1
                if not self._inflight[hex_]:
                    del self._inflight[hex_]
                if self._put_while_collecting is not None:
                    self._put_while_collecting.add(hex_)
        limit = self._size_limit
        if limit is not None and self.disk_usage() > limit:
            self._collect(int(limit * LOW_WATER), wait=False, keep=hex_)
        return True

    def _put(self, checksum: Checksum, content: bytes) -> None:
        damaged: list[tuple[str, str | None]] = []
        for path, suffix in self._candidates(checksum):
            state = self._copy_state(path, suffix, content)
            if state == "intact" and not (suffix is not None and damaged):
                self._touch(path)
                return
            if state == "damaged":
                damaged.append((path, suffix))
        path = self.path_of(checksum)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomic(path, content)
        self._remove_damaged([p for p, suffix in damaged if suffix is not None], path)

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

    # -- size limit and garbage collection -------------------------------------------------

    @property
    def size_limit(self) -> int | None:
        """The most bytes the buffers may take, or ``None``. Setting a lower limit than
        the usage collects at once; an int or a string such as ``"10GiB"``."""
        return self._size_limit

    @size_limit.setter
    def size_limit(self, value: int | str | None) -> None:
        if value is not None and not self.writable:
            raise ValueError(f"{self!r}: only a writable folder takes a size_limit")
        self._size_limit = None if value is None else parse_size(value, "size_limit")
        if self._size_limit is not None and self.disk_usage() > self._size_limit:
            self._collect(int(self._size_limit * LOW_WATER), wait=False)

    def set_retention(self, advisor: RetentionAdvisor | None) -> None:
        """Ask ``advisor`` which buffers to keep: ``advisor.is_referenced(checksum)``
        buffers are never removed, the others go lowest ``advisor.keep_score(checksum)``
        first, ties oldest access first. ``None``: least recently used first.

        The advisor is called during collections, from the thread that put a buffer or
        called :meth:`reduce_size`, with no lock of the folder's held."""
        self._advisor = advisor

    def disk_usage(self) -> int:
        """Bytes taken by the buffers' files (copies, compressed copies, sidecars): a
        running total of this process's puts and removals, recounted from the disk when
        older than ``USAGE_RESCAN_SECONDS``."""
        with self._state_lock:
            usage, counted = self._usage, self._usage_time
        if usage is not None and time.monotonic() - counted <= USAGE_RESCAN_SECONDS:
            return usage
        return sum(entry.size for entry in self._scan())

    def reduce_size(self, target: int | str | None = None) -> int:
        """Remove buffers, least valuable first (see :meth:`set_retention`), until the
        buffers take at most ``target`` bytes (default: the size limit; without either,
        nothing is removed), or only referenced ones are left. Returns the bytes removed.

        Waits for a collection that another thread or process is running. Do not call it
        while holding a lock that the retention advisor takes."""
        self._require_writable()
        if target is None:
            if self._size_limit is None:
                return 0
            goal = self._size_limit
        else:
            goal = parse_size(target, "target")
        return self._collect(goal, wait=True)

    def _touch(self, path: str) -> None:
        # Access order for collections: a read or a re-put makes a buffer recent.
        if self._size_limit is None or not self.writable:
            return
        try:
            os.utime(path)
        except OSError:
            pass

    def _add_usage(self, delta: int) -> None:
        with self._state_lock:
            if self._usage is not None:
                self._usage = max(self._usage + delta, 0)

    def _stored_size(self, hex_: str) -> int:
        base = self.path_of(hex_)
        total = 0
        for path in (base, base + LENGTH_SIDECAR, *(base + s for s in COMPRESSION_SUFFIXES)):
            try:
                total += os.stat(path).st_size
            except OSError:
                pass
        return total

    def _scan(self) -> list[_Entry]:
        """Every buffer's files, counted afresh (the running total is reset to them)."""
        started = time.monotonic()
        found: dict[str, list[tuple[str, int, float]]] = {}
        for directory in self._directories():
            try:
                with os.scandir(directory) as it:
                    for item in it:
                        hex_ = _entry_key(item.name)
                        if hex_ is None:
                            continue
                        try:
                            st = item.stat(follow_symlinks=False)
                        except FileNotFoundError:  # removed meanwhile (another process)
                            continue
                        last = max(st.st_mtime, st.st_atime)
                        found.setdefault(hex_, []).append((item.path, st.st_size, last))
            except (FileNotFoundError, NotADirectoryError):
                continue
        entries = [
            _Entry(hex_, [f[0] for f in files], sum(f[1] for f in files), max(f[2] for f in files))
            for hex_, files in found.items()
        ]
        with self._state_lock:
            self._usage = sum(entry.size for entry in entries)
            self._usage_time = started
        return entries

    @contextmanager
    def _gc_lock(self, wait: bool) -> Iterator[bool]:
        """Hold the folder's collection lock (yields False if ``wait`` is False and
        another collector holds it)."""
        fcntl: Any
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: one collector per process
            fcntl = None
        if fcntl is None:  # pragma: no cover
            with _fallback_lock(self.path, wait) as held:
                yield held
            return
        fd = os.open(os.path.join(self.path, GC_LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # releases the lock

    def _ranked(self, entries: list[_Entry]) -> list[_Entry]:
        """Removable entries, least valuable first."""
        advisor = self._advisor
        if advisor is None:
            return sorted(entries, key=lambda e: e.last_access)
        scored = []
        for entry in entries:
            checksum = Checksum(entry.hex)
            if advisor.is_referenced(checksum):
                continue
            scored.append((float(advisor.keep_score(checksum)), entry.last_access, entry))
        scored.sort(key=lambda item: item[:2])
        return [entry for _, _, entry in scored]

    def _collect(self, target: int, wait: bool, keep: str | None = None) -> int:
        with self._gc_lock(wait) as held:
            if not held:
                return 0  # another collector is at it
            with self._state_lock:
                self._put_while_collecting = set() if keep is None else {keep}
            try:
                return self._collect_locked(target)
            finally:
                with self._state_lock:
                    self._put_while_collecting = None

    def _collect_locked(self, target: int) -> int:
        entries = self._scan()
        total = sum(entry.size for entry in entries)
        if total <= target:
            return 0
        removed = 0
        advisor = self._advisor
        for entry in self._ranked(entries):
            if total - removed <= target:
                break
            # Asked again right before removal: it may have been referenced since.
            if advisor is not None and advisor.is_referenced(Checksum(entry.hex)):
                continue
            with self._state_lock:
                assert self._put_while_collecting is not None
                if entry.hex in self._inflight or entry.hex in self._put_while_collecting:
                    continue  # put by this process since the scan: it must stay
                freed = self._remove_entry(entry)
            removed += freed
        self._add_usage(-removed)
        if removed:
            logger.info("%r: removed %d bytes of buffers (limit %s)", self, removed, target)
        return removed

    @staticmethod
    def _remove_entry(entry: _Entry) -> int:
        # The copies first, the sidecar last: a sidecar never outlives its copy
        # describing nothing but an absent file.
        freed = 0
        for path in sorted(entry.paths, key=lambda p: p.endswith(LENGTH_SIDECAR)):
            try:
                size = os.stat(path).st_size
                os.unlink(path)
                freed += size
            except FileNotFoundError:  # another process removed it first
                pass
            except OSError as exc:
                logger.warning("could not remove %s (%s)", path, str(exc))
        return freed


_fallback_locks: dict[str, threading.Lock] = {}


@contextmanager
def _fallback_lock(path: str, wait: bool) -> Iterator[bool]:  # pragma: no cover - not POSIX
    lock = _fallback_locks.setdefault(path, threading.Lock())
    held = lock.acquire(blocking=wait)
    try:
        yield held
    finally:
        if held:
            lock.release()
