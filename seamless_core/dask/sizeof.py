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


def sizeof_buffer(buffer: Buffer) -> int:
    """Bytes held by ``buffer``: its content (with the bytes object's header) and itself."""
    return sys.getsizeof(buffer.content) + sys.getsizeof(buffer) + CHECKSUM_SIZE


def sizeof_checksum(checksum: Checksum) -> int:
    return CHECKSUM_SIZE


def register(sizeof: Any) -> None:
    """Register the sizes of :class:`Buffer` and :class:`Checksum` with dask's ``sizeof``
    dispatcher (what the entry point calls)."""
    sizeof.register(Buffer, sizeof_buffer)
    sizeof.register(Checksum, sizeof_checksum)
