"""The cache survives being re-entered by the garbage collector on the thread that holds
its lock: a ``__del__`` (or weakref callback) that calls back into the cache while an
operation is under way must neither deadlock nor see a half-done operation."""

from __future__ import annotations

import gc
import threading

import pytest

from seamless_core import Buffer, Checksum
from seamless_core.cache import BufferCache, set_buffer_cache


@pytest.fixture
def make_cache(tmp_path):
    made = []

    def make(**kwargs) -> BufferCache:
        cache = BufferCache(
            background=False, spill_folder=tmp_path / "spill", upload_hook=None, **kwargs
        )
        set_buffer_cache(cache)  # Buffer.get_checksum() registers there
        made.append(cache)
        return cache

    yield make
    set_buffer_cache(None)
    for cache in made:
        cache.close()


class _CallsTheCache:
    """Cyclic garbage whose ``__del__`` calls back into the cache (as the Seamless
    packages' Transformation objects do)."""

    def __init__(self, cache: BufferCache, action: str, checksum: Checksum) -> None:
        self.cache, self.action, self.checksum = cache, action, checksum
        self.cycle = self  # only the cyclic collector can free it

    def __del__(self) -> None:
        cache, checksum = self.cache, self.checksum
        if self.action == "decref":
            cache.decref(checksum)
        elif self.action == "incref":
            cache.incref(checksum)
        elif self.action == "tempref":
            cache.tempref(checksum, interest=4.0)
        elif self.action == "get":
            cache.get(checksum)
        elif self.action == "stats":
            cache.stats()
        elif self.action == "entries":
            cache.entries()


def _in_thread(function, timeout: float = 60.0) -> None:
    """Run ``function`` in a thread; fail (instead of hanging the suite) if it deadlocks."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            function()
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the cache deadlocked: a __del__ re-entered it"
    if errors:
        raise errors[0]


@pytest.fixture
def collections_inside_operations():
    """Arrange for objects whose ``__del__`` calls the cache to be collected by collections
    that start while the cache's lock is held: ``arm(cache, action, checksums)`` makes one
    such object (as garbage) at the start of each collection that finds the lock held, one
    per checksum. Collections then run at almost every allocation."""
    armed: list = []

    def callback(phase: str, info: dict) -> None:
        for cache, action, pending in armed:
            if phase == "start" and pending and cache._lock.locked():
                _CallsTheCache(cache, action, pending.pop())  # garbage for this collection

    def arm(cache: BufferCache, action: str, checksums: list) -> list:
        pending = list(checksums)
        armed.append((cache, action, pending))
        return pending

    old = gc.get_threshold()
    gc.collect()
    gc.callbacks.append(callback)
    gc.set_threshold(1, 1, 1)
    try:
        yield arm
    finally:
        gc.set_threshold(*old)
        gc.callbacks.remove(callback)
        gc.collect()


@pytest.mark.parametrize("action", ["decref", "incref", "tempref", "get", "stats", "entries"])
def test_a_del_that_calls_the_cache_during_an_operation(
    action, collections_inside_operations, make_cache
):
    cache = make_cache(soft_cap=1 << 40, hard_cap=1 << 40)
    targets = [Buffer(f"target {i}".encode()) for i in range(20)]
    for buffer in targets:
        cache.incref_buffer(buffer)  # what the __del__s decref
    others = [Buffer(f"other {i}".encode()) for i in range(200)]
    pending = collections_inside_operations(cache, action, [t.get_checksum() for t in targets])

    def work() -> None:
        for other in others:
            cache.incref_buffer(other)
            cache.register(Buffer(other.content + b"!"))
            cache.tempref(other.get_checksum(), interest=2.0)
            cache.decref(other.get_checksum())
            if not pending:
                break
        gc.collect()

    _in_thread(work)
    assert not pending, "no collection started inside a cache operation"
    cache.check_totals()
    refs = {"decref": 0, "incref": 2}.get(action, 1)
    for target in targets:
        row = cache.entry(target.get_checksum())
        assert row is not None and row["normal_refs"] == refs
        if action == "tempref":
            assert row["tempref_interest"] > 0


def test_deferred_calls_run_in_order_once_the_lock_is_free(make_cache):
    cache = make_cache()
    buffer = Buffer(b"ordered")
    checksum = buffer.get_checksum()
    with cache._lock:  # what a collection inside an operation sees
        cache.incref_buffer(buffer)
        cache.decref(checksum)
        cache.incref(checksum)
        assert cache.get(checksum) is buffer  # looked up without changing anything
        assert checksum not in cache._strong  # nothing applied yet
    row = cache.entry(checksum)
    assert row["normal_refs"] == 1 and row["strong"]
    cache.check_totals()


def test_an_unmatched_deferred_decref_is_logged_not_raised(caplog, make_cache):
    cache = make_cache()
    checksum = Buffer(b"never referenced").get_checksum()
    with cache._lock:
        cache.decref(checksum)
    assert "without a matching incref" in caplog.text
    cache.check_totals()


def test_eviction_asked_for_from_a_del_during_an_operation(make_cache):
    cache = make_cache(soft_cap=0, hard_cap=1 << 40)
    with cache._lock:
        result = cache.run_eviction_once()
    assert result.evicted == 0
