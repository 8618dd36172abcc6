"""The cache lock's work for after the release: objects kept until it, and the follow-up."""

from __future__ import annotations

import weakref

from seamless_core import Buffer
from seamless_core.cache.lock import CacheLock


class Thing:
    pass


def test_released_objects_die_after_the_lock():
    lock = CacheLock()
    seen = []
    with lock:
        thing = Thing()
        weakref.finalize(thing, lambda: seen.append(lock.locked()))
        lock.release_later(thing)
        lock.release_later(None)  # ignored
        del thing
        assert seen == []
    assert seen == [False]


def test_follow_up_runs_once_after_the_release_that_asked():
    calls = []
    lock = CacheLock(on_release=lambda: calls.append(lock.locked()))
    with lock:
        pass
    assert calls == []
    with lock:
        lock.follow_up = True
    assert calls == [False]
    with lock:
        pass
    assert calls == [False]


def test_a_buffer_the_cache_lets_go_of_dies_outside_its_lock(cache):
    buffer = Buffer(b"let go" * 100)
    checksum = buffer.compute_checksum()
    cache.incref_buffer(buffer)
    seen = []
    weakref.finalize(buffer, lambda: seen.append(cache._lock.locked()))
    del buffer  # only the cache holds it now
    cache.decref(checksum)
    assert seen == [False]
