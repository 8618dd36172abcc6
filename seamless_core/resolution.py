"""From a checksum to its buffer: memory, the spill folder, the stores, recomputation.

Lookup order: the trivial buffers (empty, ``{}``, ``[]``, with or without a newline) are
known without looking anywhere; then the buffer cache; then the cache's spill folder;
then each registered store in order. A hit from a folder or store is registered in the
cache, with that store's download-cost profile declared. ``fingertip`` adds a last resort:
the registered recomputation providers.

The synchronous functions never start an event loop of their own when one is running, so
they work inside Jupyter; the asynchronous ones use the stores' async methods (which run
blocking reads in a worker thread, or talk to a server without blocking the loop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from . import stores
from ._errors import CacheMissError
from .buffer import Buffer
from .cache import get_buffer_cache
from .checksum import Checksum, as_checksum
from .stores.base import BufferStore, CorruptBufferError

logger = logging.getLogger(__name__)

TRIVIAL_CONTENTS = (b"", b"{}", b"{}\n", b"[]", b"[]\n")
_TRIVIAL: dict[Checksum, bytes] = {Checksum.of(content): content for content in TRIVIAL_CONTENTS}

FingertipProvider = Callable[[Checksum], "Buffer | bytes | None | Awaitable[Buffer | bytes | None]"]
_providers: tuple[FingertipProvider, ...] = ()
_providers_lock = threading.Lock()

__all__ = [
    "TRIVIAL_CONTENTS",
    "fingertip_async",
    "fingertip_sync",
    "recompute_async",
    "recompute_sync",
    "register_fingertip_provider",
    "resolve_async",
    "resolve_sync",
    "unregister_fingertip_provider",
]


_as_checksum = as_checksum


# -- lookups ---------------------------------------------------------------------------------


def _from_memory(checksum: Checksum) -> Buffer | None:
    content = _TRIVIAL.get(checksum)
    cache = get_buffer_cache()
    if content is not None:
        buffer = Buffer(content, checksum=checksum)
        cache.register(buffer)
        return buffer
    return cache.get(checksum)


def _sources() -> list[BufferStore]:
    spill = get_buffer_cache().spill_folder
    return ([spill] if spill is not None else []) + stores.list()


class _StoreFailure(Exception):
    """An unexpected error of one store, named after it for the cache miss to report."""

    def __init__(self, store: BufferStore, error: Exception) -> None:
        super().__init__(f"{store!r}: {type(error).__name__}: {error}")
        self.__cause__ = error


def _failed(store: BufferStore, checksum: Checksum, exc: Exception, errors: list) -> None:
    # Any exception, not only a store's own (which name it): one broken store (a bad URL,
    # a bug in a third-party store) must not hide the buffer that the next store holds.
    expected = isinstance(exc, (CorruptBufferError, OSError))
    logger.warning(
        "%r could not serve %s: %s", store, checksum, exc, exc_info=None if expected else exc
    )
    errors.append(exc if expected else _StoreFailure(store, exc))


def _accept_content(
    store: BufferStore, checksum: Checksum, content: bytes, errors: list[Exception]
) -> Buffer | None:
    """The buffer for what ``store`` served, registered in the cache with the store's
    download profile; None (and an error noted) if the content has another checksum."""
    if not store.verifies and Checksum.of(content) != checksum:
        errors.append(CorruptBufferError(f"{store!r} served wrong data for {checksum}"))
        return None
    buffer = Buffer(content, checksum=checksum)
    cache = get_buffer_cache()
    cache.costs.add_holder(checksum, store)  # served and verified: an intact copy
    cache.register(buffer)
    return buffer


def _from_storage(checksum: Checksum) -> tuple[Buffer | None, list[Exception]]:
    """Blocking: ask the spill folder and the stores in turn. Returns the buffer (or None)
    and the errors met on the way (corrupt copies, unreachable stores)."""
    errors: list[Exception] = []
    for store in _sources():
        try:
            content = store.get(checksum)
        except Exception as exc:
            _failed(store, checksum, exc, errors)
            continue
        if content is not None:
            buffer = _accept_content(store, checksum, content, errors)
            if buffer is not None:
                return buffer, errors
    return None, errors


async def _from_storage_async(checksum: Checksum) -> tuple[Buffer | None, list[Exception]]:
    """Async twin of :func:`_from_storage`, through the stores' async methods."""
    errors: list[Exception] = []
    for store in _sources():
        try:
            content = await store.get_async(checksum)
        except Exception as exc:
            _failed(store, checksum, exc, errors)
            continue
        if content is not None:
            buffer = _accept_content(store, checksum, content, errors)
            if buffer is not None:
                return buffer, errors
    return None, errors


def _miss(checksum: Checksum, errors: list[Exception], what: str = "") -> CacheMissError:
    # Every problem is listed: each names its store, and the user needs to know which
    # server is down or which folder holds a corrupt copy.
    problems = ""
    if errors:
        problems = f" ({len(errors)} failed: " + "; ".join(str(e) for e in errors) + ")"
    return CacheMissError(
        checksum,
        f"no buffer for checksum {checksum.hex()}: not in memory, the spill folder or any "
        f"of the {len(stores.list())} registered stores{what}{problems}",
    )


def resolve_sync(checksum: Checksum | str | bytes) -> Buffer:
    """The buffer for ``checksum``; ``CacheMissError`` if nothing has it. Blocks on store
    I/O, and is safe to call inside a running event loop."""
    checksum = _as_checksum(checksum)
    buffer = _from_memory(checksum)
    if buffer is not None:
        return buffer
    buffer, errors = _from_storage(checksum)
    if buffer is None:
        raise _miss(checksum, errors) from (errors[0] if errors else None)
    return buffer


async def resolve_async(checksum: Checksum | str | bytes) -> Buffer:
    """Async twin of :func:`resolve_sync`; stores are read through their async methods."""
    checksum = _as_checksum(checksum)
    buffer = _from_memory(checksum)
    if buffer is not None:
        return buffer
    buffer, errors = await _from_storage_async(checksum)
    if buffer is None:
        raise _miss(checksum, errors) from (errors[0] if errors else None)
    return buffer


# -- recomputation ---------------------------------------------------------------------------


def register_fingertip_provider(provider: FingertipProvider) -> FingertipProvider:
    """Add ``provider(checksum) -> Buffer | bytes | None`` (or an awaitable of that) as a
    last resort for ``fingertip``; its result is used only if its checksum matches.
    Returns ``provider``, so this works as a decorator."""
    global _providers
    if not callable(provider):
        raise TypeError(f"a fingertip provider must be callable, not {type(provider).__name__}")
    with _providers_lock:
        if provider not in _providers:
            _providers = (*_providers, provider)
    return provider


def unregister_fingertip_provider(provider: FingertipProvider) -> None:
    """Remove a provider added by :func:`register_fingertip_provider` (no error if absent)."""
    global _providers
    with _providers_lock:
        _providers = tuple(p for p in _providers if p is not provider)


def _accept(checksum: Checksum, result: Any, provider: FingertipProvider) -> Buffer | None:
    if result is None:
        return None
    if isinstance(result, Buffer):
        content = result.content
    elif isinstance(result, (bytes, bytearray, memoryview)):
        content = bytes(result)
    else:
        raise TypeError(
            f"fingertip provider {provider!r} returned {type(result).__name__}; "
            "expected a Buffer, bytes or None"
        )
    if Checksum.of(content) != checksum:
        logger.warning("fingertip provider %r returned a buffer with another checksum", provider)
        return None
    buffer = Buffer(content, checksum=checksum)
    get_buffer_cache().register(buffer)
    return buffer


async def _awaited(awaitable: Awaitable) -> Any:
    return await awaitable


def _wait_for(awaitable: Awaitable) -> Any:
    """Run an awaitable to completion from synchronous code, even inside a running loop
    (where it runs on a fresh loop in a helper thread instead of re-entering this one)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_awaited(awaitable))
    with concurrent.futures.ThreadPoolExecutor(1) as executor:
        return executor.submit(asyncio.run, _awaited(awaitable)).result()


def recompute_sync(checksum: Checksum | str | bytes, miss: CacheMissError | None = None) -> Buffer:
    """Ask the fingertip providers, in registration order, for the buffer of ``checksum``;
    ``CacheMissError`` (chained to ``miss``, the failed lookup) if none can recompute it."""
    checksum = _as_checksum(checksum)
    for provider in _providers:
        result = provider(checksum)
        if inspect.isawaitable(result):
            result = _wait_for(result)
        buffer = _accept(checksum, result, provider)
        if buffer is not None:
            return buffer
    raise _miss(checksum, [], ", and no fingertip provider could recompute it") from miss


async def recompute_async(
    checksum: Checksum | str | bytes, miss: CacheMissError | None = None
) -> Buffer:
    """Async twin of :func:`recompute_sync`; synchronous providers run in a worker thread."""
    checksum = _as_checksum(checksum)
    for provider in _providers:
        if inspect.iscoroutinefunction(provider):
            result = await provider(checksum)
        else:
            result = await asyncio.to_thread(provider, checksum)
            if inspect.isawaitable(result):
                result = await result
        buffer = _accept(checksum, result, provider)
        if buffer is not None:
            return buffer
    raise _miss(checksum, [], ", and no fingertip provider could recompute it") from miss


def fingertip_sync(checksum: Checksum | str | bytes) -> Buffer:
    """:func:`resolve_sync`, then the fingertip providers in registration order."""
    checksum = _as_checksum(checksum)
    try:
        return resolve_sync(checksum)
    except CacheMissError as exc:
        return recompute_sync(checksum, exc)


async def fingertip_async(checksum: Checksum | str | bytes) -> Buffer:
    """Async twin of :func:`fingertip_sync`."""
    checksum = _as_checksum(checksum)
    try:
        return await resolve_async(checksum)
    except CacheMissError as exc:
        return await recompute_async(checksum, exc)


# As in seamless-core 0.1.4, fingertip recomputes from the transformations known to
# seamless-transformer and to seamless-remote's databases; a no-op without those packages.
def _register_downstream_provider() -> None:
    from .stores.remote import fingertip_provider

    register_fingertip_provider(fingertip_provider)


_register_downstream_provider()
