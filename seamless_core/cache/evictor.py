"""The background evictor: one daemon thread per cache that has gone over its soft cap.

The thread runs a pass whenever it is woken (the cache wakes it when usage first exceeds
the soft cap, and at once whenever an operation pushes usage above the hard cap), and every
``eviction_interval`` seconds while usage stays above the soft cap. It holds its cache only
weakly between passes, ends when the cache is closed or collected, and every running
evictor is stopped at interpreter exit, after the pass in progress.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from typing import Any

logger = logging.getLogger(__name__)

# Between the caps a pass may find nothing worth evicting, and keep finding nothing until
# temprefs have faded: the polling interval then doubles, up to this factor, and returns to
# normal after a pass that evicted something.
_MAX_BACKOFF = 16


def start_evictor(cache: Any, wake: threading.Event) -> threading.Thread:
    """Start the evictor thread of ``cache``, woken by ``wake``."""
    thread = threading.Thread(
        target=_evictor_loop,
        args=(weakref.ref(cache), wake),
        name="seamless-buffer-cache-evictor",
        daemon=True,
    )
    _running_caches.add(cache)
    thread.start()
    return thread


def _evictor_loop(cache_ref: weakref.ref, wake: threading.Event) -> None:
    """The evictor thread: a pass whenever woken, and every ``eviction_interval`` seconds
    (longer after fruitless passes) while usage stays above the soft cap. Holds the cache
    only weakly between passes."""
    backoff = 1
    while True:
        cache = cache_ref()
        if cache is None or cache._closed:
            return
        try:
            if cache._strong_bytes > cache._soft_cap:
                evicted = cache.run_eviction_once().evicted
                backoff = 1 if evicted else min(2 * backoff, _MAX_BACKOFF)
        except Exception:  # keep evicting in later passes, whatever this one ran into
            logger.exception("buffer cache eviction pass failed")
        # Say "idle" before the last look at usage: an operation that pushes usage over the
        # soft cap after that look then sees "idle" and wakes us.
        cache._polling = False
        polling = cache._polling = cache._strong_bytes > cache._soft_cap
        interval = cache._interval * backoff
        del cache
        wake.wait(interval if polling else None)
        wake.clear()


_running_caches: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _stop_evictors() -> None:
    for cache in list(_running_caches):
        cache.close(timeout=5.0)
