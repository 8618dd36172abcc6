"""From a checksum to its buffer: memory, the spill folder, the stores, recomputation.

Lookup order: the trivial buffers (empty, ``{}``, ``[]``, with or without a newline) are
known without looking anywhere; then the buffer cache; then the cache's spill folder;
then each registered store in order. A hit from a folder or store is registered in the
cache, with that store's download-cost profile declared. ``fingertip`` adds a last resort:
the registered recomputation providers.

Concurrent resolves of one checksum, in threads or tasks, download it once (single
flight: the first one leads, the others wait for its outcome). :func:`resolve_batch_sync`
and :func:`resolve_batch_async` resolve many checksums with a bounded number of downloads
at once. The lookup and the recomputation are each written once, as a generator, and
driven by a sync and an async runner.

The synchronous functions never start an event loop of their own when one is running, so
they work inside Jupyter; the asynchronous ones use the stores' async methods (which run
blocking reads in a worker thread, or talk to a server without blocking the loop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any

from . import stores
from ._errors import CacheMissError
from .buffer import Buffer
from .cache import get_buffer_cache
from .checksum import Checksum, as_checksum
from .stores.base import BufferStore, CorruptBufferError
from .stores.http import drive, drive_async, env_int, map_bounded, map_bounded_async

logger = logging.getLogger(__name__)

_Found = tuple[Buffer | None, list[Exception]]

#: Downloads at once in :func:`resolve_batch_sync` / :func:`resolve_batch_async`.
DEFAULT_RESOLVE_CONCURRENCY = 8
RESOLVE_CONCURRENCY_ENV = "SEAMLESS_RESOLVE_CONCURRENCY"

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
    "resolve_batch_async",
    "resolve_batch_sync",
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


def _lookup(checksum: Checksum) -> Generator[BufferStore, bytes | None, _Found]:
    """The lookup, once for both runners: yields each store to ask in turn (the spill
    folder first), receives what its ``get`` returned (or has its exception thrown in),
    and returns the buffer (or None) with the errors met on the way (corrupt copies,
    unreachable stores)."""
    errors: list[Exception] = []
    for store in _sources():
        try:
            content = yield store
        except Exception as exc:
            _failed(store, checksum, exc, errors)
            continue
        if content is not None:
            buffer = _accept_content(store, checksum, content, errors)
            if buffer is not None:
                return buffer, errors
    return None, errors


def _from_storage(checksum: Checksum) -> _Found:
    """Blocking: ask the spill folder and the stores in turn."""
    return drive(_lookup(checksum), lambda store: store.get(checksum))


async def _from_storage_async(checksum: Checksum) -> _Found:
    """Async twin of :func:`_from_storage`, through the stores' async methods."""
    return await drive_async(_lookup(checksum), lambda store: store.get_async(checksum))


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


class _Abandoned(Exception):
    """The leader of a flight stopped without an outcome (cancelled, interrupted): its
    followers try again themselves."""


class _Flight:
    """One download in progress, which concurrent resolves of the same checksum join
    (sync or async) instead of downloading it again."""

    __slots__ = ("future", "thread")

    def __init__(self) -> None:
        self.future: concurrent.futures.Future = concurrent.futures.Future()
        # Running: a follower's cancelled wait (asyncio.wrap_future) cannot cancel it.
        self.future.set_running_or_notify_cancel()
        self.thread = threading.get_ident()


_flights: dict[Checksum, _Flight] = {}
_flights_lock = threading.Lock()


def _forget_flights_in_child() -> None:
    # Their leaders are threads of the parent: nothing would ever land them here.
    global _flights_lock
    _flights.clear()
    _flights_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_flights_in_child)


def _board(checksum: Checksum) -> tuple[_Flight, bool]:
    """The flight of ``checksum`` and whether the caller leads it (starting it now)."""
    with _flights_lock:
        flight = _flights.get(checksum)
        if flight is not None:
            return flight, False
        flight = _flights[checksum] = _Flight()
        return flight, True


def _land(checksum: Checksum, flight: _Flight, outcome: Any) -> None:
    with _flights_lock:
        if _flights.get(checksum) is flight:
            del _flights[checksum]
    if isinstance(outcome, Exception):
        flight.future.set_exception(outcome)
    elif isinstance(outcome, BaseException):
        flight.future.set_exception(_Abandoned())
    else:
        flight.future.set_result(outcome)


def _fetch(checksum: Checksum) -> Buffer:
    # Again: the flight that ended just before this one began may have brought it.
    buffer = _from_memory(checksum)
    if buffer is not None:
        return buffer
    buffer, errors = _from_storage(checksum)
    if buffer is None:
        raise _miss(checksum, errors) from (errors[0] if errors else None)
    return buffer


async def _fetch_async(checksum: Checksum) -> Buffer:
    buffer = _from_memory(checksum)
    if buffer is not None:
        return buffer
    buffer, errors = await _from_storage_async(checksum)
    if buffer is None:
        raise _miss(checksum, errors) from (errors[0] if errors else None)
    return buffer


def resolve_sync(checksum: Checksum | str | bytes) -> Buffer:
    """The buffer for ``checksum``; ``CacheMissError`` if nothing has it. Blocks on store
    I/O, and is safe to call inside a running event loop. Concurrent resolves of one
    checksum (in threads or tasks) download it once."""
    checksum = _as_checksum(checksum)
    buffer = _from_memory(checksum)
    if buffer is not None:
        return buffer
    while True:
        flight, leader = _board(checksum)
        if leader:
            break
        if flight.thread == threading.get_ident():
            # Led by a task of the event loop this thread runs: waiting here would stop
            # that loop, and the flight with it.
            return _fetch(checksum)
        try:
            return flight.future.result()
        except _Abandoned:
            continue
    try:
        buffer = _fetch(checksum)
    except BaseException as exc:
        _land(checksum, flight, exc)
        raise
    _land(checksum, flight, buffer)
    return buffer


async def resolve_async(checksum: Checksum | str | bytes) -> Buffer:
    """Async twin of :func:`resolve_sync`; stores are read through their async methods."""
    checksum = _as_checksum(checksum)
    buffer = _from_memory(checksum)
    if buffer is not None:
        return buffer
    while True:
        flight, leader = _board(checksum)
        if leader:
            break
        try:
            return await asyncio.wrap_future(flight.future)
        except _Abandoned:
            continue
    try:
        buffer = await _fetch_async(checksum)
    except BaseException as exc:
        _land(checksum, flight, exc)
        raise
    _land(checksum, flight, buffer)
    return buffer


def _concurrency(concurrency: int | None) -> int:
    if concurrency is not None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        return concurrency
    return env_int(RESOLVE_CONCURRENCY_ENV, DEFAULT_RESOLVE_CONCURRENCY)


def _all_or_raise(results: list[Any]) -> list[Buffer]:
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def resolve_batch_sync(
    checksums: Iterable[Checksum | str | bytes], concurrency: int | None = None
) -> list[Buffer]:
    """:func:`resolve_sync` of each checksum, in order, with up to ``concurrency``
    (default 8, or ``SEAMLESS_RESOLVE_CONCURRENCY``) downloads at once; after all have
    finished, the first failure (a ``CacheMissError``) is raised."""
    items = [_as_checksum(c) for c in checksums]
    return _all_or_raise(map_bounded(resolve_sync, items, _concurrency(concurrency)))


async def resolve_batch_async(
    checksums: Iterable[Checksum | str | bytes], concurrency: int | None = None
) -> list[Buffer]:
    """Async twin of :func:`resolve_batch_sync`."""
    items = [_as_checksum(c) for c in checksums]
    limit = _concurrency(concurrency)
    return _all_or_raise(await map_bounded_async(resolve_async, items, limit))


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


def _recompute(checksum: Checksum, miss: CacheMissError | None) -> Generator[Any, Any, Buffer]:
    """Recomputation, once for both runners: yields each provider in registration order,
    receives its (awaited) result, returns the first acceptable buffer."""
    for provider in _providers:
        buffer = _accept(checksum, (yield provider), provider)
        if buffer is not None:
            return buffer
    raise _miss(checksum, [], ", and no fingertip provider could recompute it") from miss


def _call_provider(provider: FingertipProvider, checksum: Checksum) -> Any:
    result = provider(checksum)
    return _wait_for(result) if inspect.isawaitable(result) else result


async def _call_provider_async(provider: FingertipProvider, checksum: Checksum) -> Any:
    if inspect.iscoroutinefunction(provider):
        return await provider(checksum)
    result = await asyncio.to_thread(provider, checksum)
    return (await result) if inspect.isawaitable(result) else result


def recompute_sync(checksum: Checksum | str | bytes, miss: CacheMissError | None = None) -> Buffer:
    """Ask the fingertip providers, in registration order, for the buffer of ``checksum``;
    ``CacheMissError`` (chained to ``miss``, the failed lookup) if none can recompute it."""
    checksum = _as_checksum(checksum)
    return drive(_recompute(checksum, miss), lambda p: _call_provider(p, checksum))


async def recompute_async(
    checksum: Checksum | str | bytes, miss: CacheMissError | None = None
) -> Buffer:
    """Async twin of :func:`recompute_sync`; synchronous providers run in a worker thread."""
    checksum = _as_checksum(checksum)
    plan = _recompute(checksum, miss)
    return await drive_async(plan, lambda p: _call_provider_async(p, checksum))


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
