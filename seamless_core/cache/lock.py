"""The buffer cache's lock: a plain lock that knows its owner, and work for after it.

A cache operation can be re-entered on the thread that already holds the lock: any
allocation under it may start a garbage collection, and the collector then runs
``__del__`` methods and weakref callbacks on that thread, which may call ``decref`` (the
Seamless packages' objects do). Waiting for the lock there would wait forever, and running
the operation at once would see the outer operation half done. So the cache asks
:meth:`CacheLock.held_here` first and, when it is true, queues the call with
:meth:`CacheLock.defer`. Queued calls run as soon as the lock is released, on the thread
that releases it, one at a time and in the order they were queued, each taking the lock
like any other call.

The lock also carries what an operation leaves for after it, without a per-operation
object (the cache's hot paths are a microsecond or two): :meth:`CacheLock.release_later`
keeps objects the operation let go of alive until the lock is released (their last
reference may fire foreign weakref callbacks), and setting :attr:`CacheLock.follow_up`
under the lock makes the releasing thread call the ``on_release`` function once the lock
is free (the cache hands buffers to the upload hook there, and brings strong usage back
under the hard cap before the operation returns).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from threading import Lock, get_ident
from typing import Any

logger = logging.getLogger(__name__)


class CacheLock:
    """A non-reentrant lock that records its owner and runs deferred calls after release.

    Use it as a context manager. ``owner`` is the holding thread's identifier, or
    ``None``. ``on_release`` is called (without the lock) after a release whose holder set
    ``follow_up``.
    """

    __slots__ = ("_lock", "owner", "_after", "_released", "follow_up", "_on_release")

    def __init__(self, on_release: Callable[[], Any] | None = None) -> None:
        self._lock = Lock()
        self.owner: int | None = None
        self._after: deque[tuple[Callable[..., Any], tuple]] = deque()
        self._released: list | None = None
        self.follow_up = False  # set under the lock: call on_release after it
        self._on_release = on_release

    def __enter__(self) -> CacheLock:
        ident = get_ident()  # before acquiring: nothing that could allocate once held
        self._lock.acquire()
        self.owner = ident
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._released is None and not self.follow_up:  # the common case, kept short
            self.owner = None
            self._lock.release()
            if self._after:
                self.run_deferred()
            return
        # Taken while still holding the lock: after the release they belong to the next
        # holder.
        released, self._released = self._released, None
        follow_up, self.follow_up = self.follow_up, False
        self.owner = None
        self._lock.release()
        if self._after:
            self.run_deferred()
        del released  # the last references go here, outside the lock
        if follow_up and self._on_release is not None:
            self._on_release()

    def release_later(self, released: Any) -> None:
        """Under the lock: keep ``released`` (anything; ``None`` is ignored) alive until
        the lock is released."""
        if released is not None:
            if self._released is None:
                self._released = [released]
            else:
                self._released.append(released)

    def locked(self) -> bool:
        """Whether some thread holds the lock."""
        return self._lock.locked()

    def held_here(self) -> bool:
        """Whether the calling thread holds the lock (a re-entrant call)."""
        return self.owner == get_ident()

    def defer(self, function: Callable[..., Any], *args: Any) -> None:
        """Call ``function(*args)`` after the lock is next released (at once if it is free)."""
        self._after.append((function, args))
        if self.owner is None:
            self.run_deferred()

    def run_deferred(self) -> None:
        """Run the queued calls (without the lock; each may take it)."""
        after = self._after
        while after and not self.held_here():
            try:
                function, args = after.popleft()
            except IndexError:  # another thread ran the last one first
                return
            try:
                function(*args)
            except Exception:
                logger.exception("deferred buffer cache call %s failed", function)
