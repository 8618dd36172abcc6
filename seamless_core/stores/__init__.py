"""Buffer stores and the process-wide list of configured stores.

``resolve()`` asks the registered stores in registration order; :func:`write_buffer`
(called by ``Buffer.write()``) puts a buffer into every writable one.

    >>> from seamless_core import stores
    >>> folder = stores.add(stores.BufferFolder("/data/buffers", writable=True))
    >>> stores.list()
    [BufferFolder('/data/buffers', writable=True)]
"""

from __future__ import annotations

import asyncio
import builtins
import threading
from collections.abc import Callable

from ..checksum import Checksum
from .base import BufferStore, CorruptBufferError, StoreNotWritableError
from .folder import BufferFolder

__all__ = [
    "BufferFolder",
    "BufferStore",
    "CorruptBufferError",
    "StoreNotWritableError",
    "add",
    "add_store_listener",
    "list",
    "remove",
    "write_buffer",
]

_stores: tuple[BufferStore, ...] = ()  # replaced, never mutated: readers need no lock
_lock = threading.Lock()
_listeners: tuple[Callable[[Checksum, BufferStore], None], ...] = ()


def add(store: BufferStore) -> BufferStore:
    """Register ``store`` after the ones already registered (once); returns it."""
    global _stores
    if not isinstance(store, BufferStore):
        raise TypeError(f"stores.add() takes a BufferStore, not {type(store).__name__}")
    with _lock:
        if not any(s is store for s in _stores):
            _stores = (*_stores, store)
    return store


def remove(store: BufferStore) -> None:
    """Unregister ``store``; ``ValueError`` if it is not registered."""
    global _stores
    with _lock:
        kept = tuple(s for s in _stores if s is not store)
        if len(kept) == len(_stores):
            raise ValueError(f"{store!r} is not a registered store")
        _stores = kept


def list() -> builtins.list[BufferStore]:
    """The registered stores, in the order ``resolve()`` tries them."""
    return [*_stores]


def add_store_listener(listener: Callable[[Checksum, BufferStore], None]) -> None:
    """Call ``listener(checksum, store)`` whenever :func:`write_buffer` has put a buffer
    into a store (the buffer cache uses this to learn where a buffer can be found again)."""
    global _listeners
    with _lock:
        if listener not in _listeners:
            _listeners = (*_listeners, listener)


def _notify_stored(checksum: Checksum, store: BufferStore) -> None:
    for listener in _listeners:
        listener(checksum, store)


async def write_buffer(buffer) -> int:
    """Put ``buffer`` into every writable registered store; returns how many stores took it.

    The writes run concurrently in worker threads. If some fail, the others still complete
    and the first error is raised.
    """
    try:
        checksum = buffer.checksum
    except AttributeError:
        checksum = buffer.get_checksum()
    targets = [store for store in _stores if store.writable]
    results = await asyncio.gather(
        *(asyncio.to_thread(store.put, checksum, buffer.content) for store in targets),
        return_exceptions=True,
    )
    for store, result in zip(targets, results):
        if not isinstance(result, BaseException):
            _notify_stored(checksum, store)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return len(targets)
