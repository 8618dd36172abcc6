"""``Buffer``: immutable bytes with a lazily computed checksum."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ._atomic import sweep_once, write_atomic
from ._errors import preview
from ._interest import DEFAULT_FADE_FACTOR, DEFAULT_FADE_INTERVAL, DEFAULT_TEMPREF_INTEREST
from .checksum import Checksum, sha256_digest

# From this size on, get_checksum_async hashes in a worker thread.
_ASYNC_HASH_THRESHOLD = 1 << 20

if TYPE_CHECKING:
    from .cache.interest import TempRef


class Buffer:
    """Raw content (bytes) paired with its SHA-256 checksum.

    ``Buffer(content)`` wraps bytes (any bytes-like object is copied into ``bytes``, so a
    buffer never changes after creation). ``Buffer(value, celltype)`` serializes a Python
    value under a celltype. ``checksum=`` may be given when it is already known; it is
    trusted, not recomputed.
    """

    __slots__ = ("_content", "_checksum", "__weakref__")

    def __init__(
        self,
        value: Any,
        celltype: str | None = None,
        *,
        checksum: Checksum | str | bytes | None = None,
    ) -> None:
        if celltype is None:
            if isinstance(value, Buffer):
                content = value._content
                if checksum is None:
                    checksum = value._checksum
            elif isinstance(value, bytes):
                content = value
            elif isinstance(value, (bytearray, memoryview)):
                content = bytes(value)
            else:
                raise TypeError(
                    "Buffer(content) takes bytes; to serialize a value give a celltype, "
                    f"e.g. Buffer(value, 'mixed'). Got {type(value).__name__}: {preview(value)}"
                )
        else:
            from .celltypes import serialize

            content = serialize(value, celltype)
        # bytes, or (only as received out of band, see _unpickle_buffer) a read-only view
        # that `content` turns into bytes on first use.
        self._content: bytes | memoryview = content
        self._checksum: Checksum | None = None if checksum is None else Checksum(checksum)

    # -- content and checksum --------------------------------------------------------------

    @property
    def content(self) -> bytes:
        """The raw bytes."""
        content = self._content
        if type(content) is not bytes:
            # A buffer received from dask holds the frame it arrived in: copied into bytes
            # only now, once, by the first reader that needs them (len, equality, hashing
            # and sending on do not).
            content = bytes(content)
            self._content = content
        return content

    @property
    def checksum(self) -> Checksum:
        """The checksum, once computed by :meth:`get_checksum` (``AttributeError`` before)."""
        if self._checksum is None:
            raise AttributeError("checksum not computed yet: call Buffer.get_checksum()")
        return self._checksum

    def compute_checksum(self) -> Checksum:
        """The checksum of the content, hashed once and then remembered by this buffer. Nothing
        else happens: unlike :meth:`get_checksum`, the buffer is not registered in the cache."""
        if self._checksum is None:
            self._checksum = Checksum(sha256_digest(self._content))
        return self._checksum

    def get_checksum(self) -> Checksum:
        """:meth:`compute_checksum`, then register the buffer in the weak cache (so that the
        checksum resolves while the buffer is alive)."""
        checksum = self.compute_checksum()
        from .cache import get_buffer_cache

        get_buffer_cache().register(self)
        return checksum

    async def get_checksum_async(self) -> Checksum:
        """Async twin of :meth:`get_checksum`; large buffers are hashed in a worker thread
        (hashlib releases the GIL) so that the event loop keeps running."""
        if self._checksum is None and len(self._content) >= _ASYNC_HASH_THRESHOLD:
            import asyncio

            digest = await asyncio.to_thread(sha256_digest, self._content)
            if self._checksum is None:
                self._checksum = Checksum(digest)
        return self.get_checksum()

    @classmethod
    async def from_async(
        cls,
        value: Any,
        celltype: str,
        *,
        use_cache: bool = True,
        checksum: Checksum | str | bytes | None = None,
    ) -> Buffer:
        """Async twin of ``Buffer(value, celltype, checksum=...)``. ``use_cache`` is
        accepted for compatibility: values are always serialized afresh."""
        return cls(value, celltype, checksum=checksum)

    def get_value(self, celltype: str) -> Any:
        """Parse the content as ``celltype``; under ``bytes``, the buffer itself (as in 0.1.4)."""
        from .celltypes import deserialize, normalize_celltype

        if normalize_celltype(celltype) == "bytes":
            return self  # 0.1.4 returns the Buffer; it compares equal to its bytes
        return deserialize(self.content, celltype)

    async def get_value_async(self, celltype: str, copy: bool = True) -> Any:
        """Async twin of :meth:`get_value`; values are always freshly parsed, so ``copy``
        is accepted for compatibility and has no further effect."""
        return self.get_value(celltype)

    def decode(self, encoding: str = "utf-8") -> str:
        """The content as text."""
        return self.content.decode(encoding)

    # -- files -----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike) -> Buffer:
        """Read a file's bytes into a Buffer. Only regular files (symbolic links are
        followed): a FIFO or a device raises ``ValueError`` instead of blocking or reading
        without end."""
        from ._compression import open_regular

        with open_regular(path) as f:
            return cls(f.read())

    def save(self, path: str | os.PathLike) -> None:
        """Write the content to ``path`` atomically.

        The first save into a directory also removes the temporary files that interrupted
        writes left there long ago (see :func:`seamless_core._atomic.sweep_once`)."""
        write_atomic(path, self.content)
        sweep_once(os.path.dirname(os.path.abspath(path)))

    # -- cache and stores ------------------------------------------------------------------

    def incref(self, *, scratch: bool = False) -> None:
        """Add a normal reference in the buffer cache, keeping this buffer in memory."""
        from .cache import get_buffer_cache

        get_buffer_cache().incref_buffer(self, scratch=scratch)

    def decref(self) -> None:
        """Remove a normal reference added by :meth:`incref`."""
        self.get_checksum().decref()

    def tempref(
        self,
        interest: float = DEFAULT_TEMPREF_INTEREST,
        fade_factor: float = DEFAULT_FADE_FACTOR,
        fade_interval: float = DEFAULT_FADE_INTERVAL,
        scratch: bool = False,
    ) -> TempRef:
        """Add or refresh a decaying reference that keeps this buffer in memory for a while."""
        from .cache import get_buffer_cache

        return get_buffer_cache().tempref_buffer(
            self,
            interest=interest,
            fade_factor=fade_factor,
            fade_interval=fade_interval,
            scratch=scratch,
        )

    async def write(self) -> bool:
        """Upload the buffer to every writable store. Returns whether any store took it
        (False when no writable store is configured); a failing store raises."""
        from .stores import write_buffer

        return await write_buffer(self) > 0

    # -- dunder ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._content)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Buffer):
            if self._checksum is not None and other._checksum is not None:
                return self._checksum == other._checksum
            return self._content == other._content
        if isinstance(other, (bytes, bytearray, memoryview)):
            return self._content == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.compute_checksum())

    def __bytes__(self) -> bytes:
        return self.content

    def __repr__(self) -> str:
        checksum = "" if self._checksum is None else f", checksum='{self._checksum.hex()}'"
        return f"Buffer({preview(self._content, 40)}{checksum})"

    def _repr_html_(self) -> str:
        from .jupyter.html import buffer_html

        return buffer_html(self)

    # -- dask and pickling -----------------------------------------------------------------

    def __dask_tokenize__(self) -> tuple[str, str]:
        # The checksum names the content: equal buffers get one dask key in every process,
        # and a buffer is hashed once however often it is tokenized. The tag keeps a task
        # on a Buffer apart from the same task on its Checksum (which tokenizes as the hex).
        return ("seamless_core.Buffer", self.compute_checksum().hex())

    def __reduce_ex__(self, protocol: Any) -> tuple:
        # Protocol 5 hands the content over as a PickleBuffer: a pickler with a
        # buffer_callback (dask.distributed's) sends it out of band, without a copy. The
        # checksum travels along when known, so that the receiver does not hash again.
        digest = None if self._checksum is None else self._checksum.bytes()
        if isinstance(protocol, int) and protocol >= 5:
            import pickle

            return (_unpickle_buffer, (pickle.PickleBuffer(self._content), digest))
        return (_unpickle_buffer, (self.content, digest))


def _unpickle_buffer(content: Any, digest: bytes | None) -> Buffer:
    """A Buffer from its pickled state: ``content`` is bytes (in band) or the out-of-band
    buffer the unpickler was given (a memoryview or another bytes-like object)."""
    buffer = Buffer.__new__(Buffer)
    if type(content) is not bytes:
        view = memoryview(content)
        owner = view.obj
        if type(owner) is bytes and view.nbytes == len(owner) and view.c_contiguous:
            content = owner  # a view of a whole bytes object (in-process): that object
        elif view.c_contiguous:
            # The frame it arrived in (dask's receive buffer), kept without a copy; nobody
            # writes into a received frame, and the view is read-only for us.
            content = view.cast("B").toreadonly()
        else:
            content = view.tobytes()
    buffer._content = content
    buffer._checksum = None if digest is None else Checksum(digest)
    return buffer
