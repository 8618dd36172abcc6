"""The ``dask.sizeof`` hook: dask's memory manager sees a Buffer's real size.

Loaded by dask through the ``dask.sizeof`` entry point when ``dask.sizeof`` is first
imported; it imports neither dask nor distributed itself (dask hands its ``sizeof``
dispatcher over), and nothing in ``import seamless_core`` imports it.
"""

from __future__ import annotations

import sys
from typing import Any

from ..buffer import Buffer
from ..checksum import Checksum

# A Checksum: the object and its 32-byte digest.
CHECKSUM_SIZE = sys.getsizeof(Checksum(bytes(32))) + sys.getsizeof(bytes(32))


# What a Buffer holds besides its content: itself, the bytes object's header, a checksum.
_OVERHEAD = sys.getsizeof(Buffer(b"")) + sys.getsizeof(b"") + CHECKSUM_SIZE


def sizeof_buffer(buffer: Buffer) -> int:
    """Bytes held by ``buffer``: its length plus a small overhead. ``len`` and not the
    content: a buffer received out of band keeps its frame until its bytes are needed."""
    return len(buffer) + _OVERHEAD


def sizeof_checksum(checksum: Checksum) -> int:
    return CHECKSUM_SIZE


def register(sizeof: Any) -> None:
    """Register the sizes of :class:`Buffer` and :class:`Checksum` with dask's ``sizeof``
    dispatcher (what the entry point calls)."""
    sizeof.register(Buffer, sizeof_buffer)
    sizeof.register(Checksum, sizeof_checksum)
