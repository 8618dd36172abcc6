"""The process-wide list of configured stores, and direct writes to them.

The list starts with the stores of the environment (``SEAMLESS_BUFFER_FOLDERS``, then
``SEAMLESS_HASHSERVER_URLS``, then ``SEAMLESS_BUFFER_STORE_URLS``; see :mod:`.environment`), read when the list is first used,
followed by the stores added with :func:`add`.
"""

from __future__ import annotations

import builtins
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from ..checksum import Checksum
from .base import BufferStore
from .environment import folder_size_limit, stores_from_environment
from .folder import BufferFolder

# listener(checksum, store, verified): verified means the store is known to hold an
# intact copy (a confirmed put); otherwise the store only says it has one.
StoreListener = Callable[[Checksum, BufferStore, bool], None]
ChangeListener = Callable[[BufferStore, bool], None]  # (store, added): added or removed

# seamless-remote's module that holds its buffer clients (.remote.BUFFER_REMOTE_MODULE)
_REMOTE_MODULE = "seamless_remote.buffer_remote"

# Replaced, never mutated: readers need no lock.
_stores: tuple[BufferStore, ...] = ()
_from_environment: tuple[BufferStore, ...] = ()
_environment_read = False
_lock = threading.RLock()
_listeners: tuple[StoreListener, ...] = ()
_change_listeners: tuple[ChangeListener, ...] = ()


def _read_environment() -> None:
    global _stores, _from_environment, _environment_read
    with _lock:
        if _environment_read:
            return
        found = tuple(stores_from_environment())
        others = tuple(s for s in _stores if not any(s is e for e in _from_environment))
        gone = [s for s in _from_environment if not any(s is f for f in found)]
        _stores, _from_environment = found + others, found
        _environment_read = True
    for store in gone:
        _changed(store, added=False)
    for store in found:
        _changed(store, added=True)


def reload_environment() -> builtins.list[BufferStore]:
    """Read the store variables (see :mod:`.environment`) again: the stores
    they configured before are replaced by the ones they configure now, at the front of
    the list. Returns the new environment stores."""
    global _environment_read
    with _lock:
        _environment_read = False
        _read_environment()
        return [*_from_environment]


def _as_store(store: Any, writable: bool | None) -> BufferStore:
    if isinstance(store, BufferStore):
        if writable is not None:
            raise TypeError("writable= applies to a URL or a path, not to a store object")
        return store
    if isinstance(store, str) and store.startswith(("http://", "https://")):
        from .hashserver import HashServer

        return HashServer(store, writable=True if writable is None else writable)
    if isinstance(store, str) and _is_object_store_url(store):
        from .fsspec import FsspecStore

        return FsspecStore(store, writable=True if writable is None else writable)
    if isinstance(store, (str, os.PathLike)):
        limit = folder_size_limit() if writable else None
        return BufferFolder(store, writable=bool(writable), size_limit=limit)
    raise TypeError(
        f"stores.add() takes a BufferStore, a store URL or a folder path, "
        f"not {type(store).__name__}"
    )


def _is_object_store_url(value: str) -> bool:
    # "s3://...", "memory://...": a scheme of letters, digits, "+", "-" or "." (so that a
    # Windows path such as C:\x, which has no "://", stays a folder path).
    scheme, sep, _ = value.partition("://")
    return bool(sep) and scheme[:1].isalpha() and all(c.isalnum() or c in "+-." for c in scheme)


def add(store: BufferStore | str | os.PathLike, *, writable: bool | None = None) -> BufferStore:
    """Register a store after the ones already registered (once); returns it.

    ``store`` is a :class:`BufferStore`; or a hashserver URL (``http(s)://``: a writable
    :class:`HashServer`), another URL (``s3://``, ``memory://``, ...: a writable
    :class:`FsspecStore`) or a folder path (a read-only :class:`BufferFolder`; a writable
    one takes its size limit from ``SEAMLESS_BUFFER_FOLDER_SIZE_LIMIT``);
    ``writable`` overrides the default for these three.
    """
    global _stores
    store = _as_store(store, writable)
    with _lock:
        _read_environment()
        new = not any(s is store for s in _stores)
        if new:
            _stores = (*_stores, store)
    if new:
        _changed(store, added=True)
    return store


def _matches(store: BufferStore, key: Any) -> bool:
    if store is key:
        return True
    if isinstance(key, str) and "://" in key and not isinstance(store, BufferFolder):
        # a hashserver or an object store, named by its URL
        return getattr(store, "url", None) == key.strip().rstrip("/")
    if isinstance(key, (str, os.PathLike)) and isinstance(store, BufferFolder):
        return store.path == os.path.abspath(os.fspath(key))
    return False


def remove(store: BufferStore | str | os.PathLike) -> None:
    """Unregister a store (or the stores with that URL or folder path); ``ValueError`` if
    none is registered."""
    global _stores
    with _lock:
        _read_environment()
        kept = tuple(s for s in _stores if not _matches(s, store))
        if len(kept) == len(_stores):
            raise ValueError(f"{store!r} is not a registered store")
        gone = [s for s in _stores if _matches(s, store)]
        _stores = kept
    for removed in gone:
        _changed(removed, added=False)


def _configured_elsewhere() -> tuple[BufferStore, ...]:
    # Stores that another package's configuration brings (seamless-remote's servers, see
    # .remote): looked up at each use, so that they follow that configuration. Until
    # seamless-remote is imported there are none, and the bridge module stays unloaded.
    if _REMOTE_MODULE not in sys.modules:
        return ()
    from .remote import configured_store

    remote = configured_store()
    return (remote,) if remote is not None else ()


def list() -> builtins.list[BufferStore]:
    """The registered stores, in the order ``resolve()`` tries them; then the store of
    seamless-remote's servers while seamless-remote is configured (see :mod:`.remote`)."""
    if not _environment_read:
        _read_environment()
    return [*_stores, *_configured_elsewhere()]


def is_upload_target(store: BufferStore) -> bool:
    """Whether uploads go to ``store`` when it is registered: it is writable and does not
    decline them (``upload_target=False``, as the buffer cache's spill folder does: it
    holds what nothing else does, even if it was registered)."""
    return bool(store.writable) and getattr(store, "upload_target", True)


def upload_targets() -> builtins.list[BufferStore]:
    """The registered stores that buffers are uploaded to (see :func:`is_upload_target`)."""
    if not _environment_read:
        _read_environment()
    return [s for s in (*_stores, *_configured_elsewhere()) if is_upload_target(s)]


def may_upload() -> bool:
    """Whether buffers could be uploaded now: a writable store is registered, or the
    environment has not been read yet (it may configure one). Cheap, lock-free and
    without I/O: the buffer cache asks it under its lock."""
    if not _environment_read or any(s.writable for s in _stores):
        return True
    return any(s.writable for s in _configured_elsewhere())


def add_store_listener(listener: StoreListener) -> None:
    """Call ``listener(checksum, store, verified)`` whenever a buffer has been put into a
    store by :func:`write_buffer` or the background uploader (the buffer cache uses this to
    learn where a buffer can be found again). ``verified`` is True when the store confirmed
    that it holds an intact copy, False when it only said it already had one."""
    global _listeners
    with _lock:
        if listener not in _listeners:
            _listeners = (*_listeners, listener)


def add_change_listener(listener: ChangeListener) -> None:
    """Call ``listener(store, added)`` after a store joins (``added=True``) or leaves the
    list (through :func:`add`, :func:`remove` or :func:`reload_environment`). The buffer
    cache uses this so that what it counts as recoverable follows the store list."""
    global _change_listeners
    with _lock:
        if listener not in _change_listeners:
            _change_listeners = (*_change_listeners, listener)


def _changed(store: BufferStore, added: bool) -> None:
    for listener in _change_listeners:
        listener(store, added)


def notify_stored(checksum: Checksum, store: BufferStore, verified: bool = True) -> None:
    """Tell the listeners that ``store`` now holds (``verified``) or says it holds the
    buffer of ``checksum``."""
    for listener in _listeners:
        listener(checksum, store, verified)


async def write_buffer(buffer: Any) -> int:
    """Put ``buffer`` into every upload target (see :func:`upload_targets`); returns how
    many stores took it.

    The writes run concurrently. If some fail, the others still complete and the first
    error is raised.
    """
    try:
        checksum = buffer.checksum
    except AttributeError:
        checksum = buffer.get_checksum()
    import asyncio  # here: importing the registry stays cheap

    targets = upload_targets()
    # As the ecosystem's clients do: readers elsewhere wait for a promised buffer.
    await asyncio.gather(
        *(s.promise_async(checksum) for s in targets if hasattr(s, "promise_async")),
        return_exceptions=True,  # best effort: the put says what is wrong
    )
    results = await asyncio.gather(
        *(store.put_async(checksum, buffer.content) for store in targets),
        return_exceptions=True,
    )
    for store, result in zip(targets, results):
        if not isinstance(result, BaseException):
            notify_stored(checksum, store, verified=result is True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return len(targets)
