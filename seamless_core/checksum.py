"""``Checksum``: a SHA-256 digest as a first-class value."""

from __future__ import annotations

import builtins
import hashlib
import os
import sys
from typing import TYPE_CHECKING, Any

from ._atomic import sweep_once, write_atomic
from ._errors import CacheMissError, preview
from ._interest import DEFAULT_FADE_FACTOR, DEFAULT_FADE_INTERVAL, DEFAULT_TEMPREF_INTEREST

if TYPE_CHECKING:
    from .buffer import Buffer
    from .cache.interest import TempRef

CHECKSUM_SUFFIX = ".CHECKSUM"
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")


def sha256_digest(content: bytes | bytearray | memoryview) -> bytes:
    """The raw 32-byte SHA-256 digest of ``content`` (hashlib releases the GIL on large inputs)."""
    return hashlib.sha256(content).digest()


def _cache_or_none(create: bool = True) -> Any:
    """The buffer cache for reference bookkeeping, or None when there is none to use.

    References are dropped from ``__del__`` methods, also while the interpreter shuts
    down, when importing no longer works ("sys.meta_path is None"): so an imported cache
    module is taken from ``sys.modules``, and without one there is nothing to release.
    """
    module: Any = sys.modules.get("seamless_core.cache")
    if module is None:
        if not create or sys.meta_path is None:
            return None
        try:
            from . import cache as module
        except ImportError:  # the interpreter is going away
            return None
    return module.get_buffer_cache()


def _hex_to_bytes(text: str) -> bytes:
    if len(text) != 64:
        raise ValueError(
            f"a checksum is 64 hexadecimal characters, got {len(text)}: {preview(text)}"
        )
    if not _HEXDIGITS.issuperset(text):
        raise ValueError(f"a checksum must be hexadecimal, got {preview(text)}")
    return bytes.fromhex(text)


class Checksum:
    """The SHA-256 checksum of a buffer.

    ``Checksum(x)`` accepts a 64-character hex string (either case), 32 raw bytes, or another
    ``Checksum``. Checksums are immutable, hashable, ordered, and compare equal to their hex string
    and raw bytes.
    """

    __slots__ = ("_digest",)
    _digest: bytes  # the 32 raw bytes; set once, in __init__

    def __init__(self, checksum: Checksum | str | bytes) -> None:
        if isinstance(checksum, Checksum):
            digest = checksum._digest
        elif isinstance(checksum, str):
            digest = _hex_to_bytes(checksum)
        elif isinstance(checksum, (bytes, bytearray, memoryview)):
            digest = bytes(checksum)
            if len(digest) != 32:
                raise ValueError(
                    f"a raw checksum is 32 bytes, got {len(digest)}: {preview(digest)}"
                )
        else:
            raise TypeError(
                "Checksum() takes a 64-character hex string, 32 bytes or a Checksum, "
                f"not {type(checksum).__name__}: {preview(checksum)}"
            )
        object.__setattr__(self, "_digest", digest)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Checksum objects are immutable")

    @classmethod
    def of(cls, content: bytes | bytearray | memoryview) -> Checksum:
        """The checksum of raw ``content``."""
        return cls(sha256_digest(content))

    # -- representations -------------------------------------------------------------------

    def hex(self) -> str:
        """The checksum as 64 lowercase hexadecimal characters."""
        return self._digest.hex()

    def bytes(self) -> bytes:
        """The checksum as 32 raw bytes."""
        return self._digest

    def __str__(self) -> str:
        return self._digest.hex()

    def __repr__(self) -> str:
        return f"Checksum('{self._digest.hex()}')"

    def _repr_html_(self) -> str:
        from .jupyter.html import checksum_html

        return checksum_html(self)

    def __reduce__(self):
        return (Checksum, (self._digest,))

    def __dask_tokenize__(self) -> str:
        return self._digest.hex()

    # -- comparison ------------------------------------------------------------------------

    @staticmethod
    def _other_digest(other: Any) -> builtins.bytes | None:
        if isinstance(other, Checksum):
            return other._digest
        if isinstance(other, str):
            try:
                return _hex_to_bytes(other)
            except ValueError:
                return None
        if isinstance(other, (bytes, bytearray)) and len(other) == 32:
            return bytes(other)
        return None

    def __eq__(self, other: object) -> bool:
        digest = self._other_digest(other)
        if digest is None:
            return NotImplemented if not isinstance(other, (str, bytes, bytearray)) else False
        return digest == self._digest

    def __hash__(self) -> int:
        return hash(self._digest)

    def _compare_key(self, other: Any) -> builtins.bytes:
        digest = self._other_digest(other)
        if digest is None:
            raise TypeError(f"cannot order a Checksum against {type(other).__name__}")
        return digest

    def __lt__(self, other: Any) -> bool:
        return self._digest < self._compare_key(other)

    def __le__(self, other: Any) -> bool:
        return self._digest <= self._compare_key(other)

    def __gt__(self, other: Any) -> bool:
        return self._digest > self._compare_key(other)

    def __ge__(self, other: Any) -> bool:
        return self._digest >= self._compare_key(other)

    # -- files -----------------------------------------------------------------------------

    @staticmethod
    def _checksum_path(path: str | os.PathLike) -> str:
        path = os.fspath(path)
        return path if path.endswith(CHECKSUM_SUFFIX) else path + CHECKSUM_SUFFIX

    @classmethod
    def load(cls, path: str | os.PathLike) -> Checksum:
        """Read a ``.CHECKSUM`` file (the extension is added when missing)."""
        from ._compression import open_regular

        path = cls._checksum_path(path)
        with open_regular(path) as f:  # a FIFO must not block, nor a device be read
            head = f.read(200)
        try:
            text = head.decode("ascii").strip()
            return cls(text)
        except (ValueError, UnicodeDecodeError):
            raise ValueError(f"{path} does not hold a SHA-256 checksum: {preview(head)}") from None

    def save(self, path: str | os.PathLike) -> str:
        """Write the hex checksum and a newline to a ``.CHECKSUM`` file, atomically.

        The extension is added when missing; the path written is returned.
        """
        path = self._checksum_path(path)
        write_atomic(path, (self.hex() + "\n").encode())
        sweep_once(os.path.dirname(os.path.abspath(path)))
        return path

    # -- the buffer behind the checksum ----------------------------------------------------
    # These reach the cache and stores, which sit above this module; they are imported
    # when called so that the data model itself stays independent of them.

    def resolve(self, celltype: str | None = None) -> Buffer | Any:
        """The buffer for this checksum (or its value under ``celltype``).

        Looks in the buffer cache, then in the configured stores; raises ``CacheMissError``
        when nothing has it. Safe to call from inside a running event loop.
        """
        from .resolution import resolve_sync

        buffer = resolve_sync(self)
        return buffer if celltype is None else buffer.get_value(celltype)

    async def resolution(self, celltype: str | None = None) -> Buffer | Any:
        """Async twin of :meth:`resolve`."""
        from .resolution import resolve_async

        buffer = await resolve_async(self)
        return buffer if celltype is None else await buffer.get_value_async(celltype)

    # fingertip goes through self.resolution / self.resolve, not the functions behind them:
    # a Seamless worker replaces those two methods to fetch buffers from its parent.

    async def fingertip(self, celltype: str | None = None) -> Buffer | Any:
        """Like :meth:`resolution`, but on a miss ask the registered recomputation providers."""
        from .resolution import recompute_async

        try:
            return await self.resolution(celltype)
        except CacheMissError as miss:
            buffer = await recompute_async(self, miss)
        return buffer if celltype is None else await buffer.get_value_async(celltype)

    def fingertip_sync(self, celltype: str | None = None) -> Buffer | Any:
        """Synchronous :meth:`fingertip`, usable inside a running event loop."""
        from .resolution import recompute_sync

        try:
            return self.resolve(celltype)
        except CacheMissError as miss:
            buffer = recompute_sync(self, miss)
        return buffer if celltype is None else buffer.get_value(celltype)

    def incref(self, *, scratch: bool = False) -> None:
        """Add a normal reference in the buffer cache, keeping the buffer in memory."""
        cache = _cache_or_none()
        if cache is not None:
            cache.incref(self, scratch=scratch)

    def decref(self) -> None:
        """Remove a normal reference added by :meth:`incref`."""
        cache = _cache_or_none(create=False)
        if cache is not None:
            cache.decref(self)

    def tempref(
        self,
        interest: float = DEFAULT_TEMPREF_INTEREST,
        fade_factor: float = DEFAULT_FADE_FACTOR,
        fade_interval: float = DEFAULT_FADE_INTERVAL,
        scratch: bool = False,
    ) -> TempRef | None:
        """Add or refresh this checksum's decaying reference in the buffer cache (None when
        there is no cache to hold it: in a worker, or while the interpreter shuts down)."""
        cache = _cache_or_none()
        if cache is None:
            return None
        return cache.tempref(
            self,
            interest=interest,
            fade_factor=fade_factor,
            fade_interval=fade_interval,
            scratch=scratch,
        )


#: What the functions that take a checksum accept.
ChecksumLike = Checksum | str | bytes


def as_checksum(checksum: ChecksumLike) -> Checksum:
    """``checksum`` as a :class:`Checksum`: itself when it is one, else ``Checksum(checksum)``
    (a 64-character hex string or 32 raw bytes; ``ValueError``/``TypeError`` otherwise)."""
    return checksum if isinstance(checksum, Checksum) else Checksum(checksum)
