"""The background evictor: one daemon thread per cache that has gone over its soft cap.

The thread runs a pass whenever it is woken (the cache wakes it when usage first exceeds
the soft cap, and at once whenever an operation pushes usage above the hard cap), and every
``eviction_interval`` seconds while usage stays above the soft cap. It holds its cache only
weakly between passes, ends when the cache is closed or collected, and every running
evictor is stopped at interpreter exit, after the pass in progress. It sees its cache only
through :class:`EvictorHost`.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from typing import Protocol

logger = logging.getLogger(__name__)

# Between the caps a pass may find nothing worth evicting, and keep finding nothing until
# temprefs have faded: the polling interval then doubles, up to this factor, and returns to
# normal after a pass that evicted something.
_MAX_BACKOFF = 16


class EvictorHost(Protocol):
    """What the evictor thread needs of its cache."""

    @property
    def closed(self) -> bool:
        """Whether the evictor should stop."""

    def evictor_pass(self) -> bool | None:
        """A pass if one is due: whether it evicted anything (``None``: none was due)."""

    def evictor_idle(self) -> float | None:
        """Before waiting: seconds until the next pass, or ``None`` to wait for a wake-up."""

    def close(self, timeout: float | None = ...) -> None:
        """Stop the evictor (at interpreter exit)."""


def start_evictor(cache: EvictorHost, wake: threading.Event) -> threading.Thread:
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
        if cache is None or cache.closed:
            return
        try:
            evicted = cache.evictor_pass()
            if evicted is not None:
                backoff = 1 if evicted else min(2 * backoff, _MAX_BACKOFF)
        except Exception:  # keep evicting in later passes, whatever this one ran into
            logger.exception("buffer cache eviction pass failed")
        interval = cache.evictor_idle()
        del cache
        wake.wait(None if interval is None else interval * backoff)
        wake.clear()


_running_caches: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _stop_evictors() -> None:
    for cache in list(_running_caches):
        cache.close(timeout=5.0)
