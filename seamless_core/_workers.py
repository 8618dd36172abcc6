"""A few worker threads running calls, their results read back in submission order.

``concurrent.futures`` does this and much more, but importing it (and ``logging`` with it)
costs ``seamless-checksum-index`` about a twentieth of its run over a typical tree.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from queue import SimpleQueue
from types import TracebackType
from typing import Any


class _Skipped(Exception):
    """The outcome of a call that never ran because an earlier one failed."""


class WorkerThreads:
    """Runs ``function(*args)`` calls on up to ``size`` daemon threads, started as needed.

    :meth:`results` waits for every call and yields the results in submission order, raising
    the first failure in that order. Once a call fails, calls not yet started are skipped
    (FIFO: every call submitted before the failing one has started, and runs to its end).
    ``on_done(result)`` is called from the thread that ran a call, after each success (an
    error it raises counts as the call's).

    Use as a context manager: leaving it stops the threads, skipping what has not started.
    One thread submits and reads the results; only the workers run concurrently.
    """

    def __init__(
        self,
        size: int,
        on_done: Callable[[Any], None] | None = None,
        name: str = "seamless-worker",
    ) -> None:
        if size < 1:
            raise ValueError(f"WorkerThreads needs at least one thread, not {size}")
        self._size = size
        self._on_done = on_done
        self._name = name
        self._queue: SimpleQueue[list | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._slots: list[list] = []  # [function, args, result, error], in submission order
        self._failed = False

    def submit(self, function: Callable[..., Any], *args: Any) -> None:
        """Queue a call for the worker threads."""
        slot = [function, args, None, None]
        self._slots.append(slot)
        self._queue.put(slot)
        if len(self._threads) < self._size:
            thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def grow_to(self, size: int) -> None:
        """Allow up to ``size`` threads from now on (more are started as calls come)."""
        self._size = max(self._size, size)

    def run_here(self, function: Callable[..., Any], *args: Any) -> None:
        """Run a call at once, in this thread, its result taking its turn in :meth:`results`
        (for work that threads would only slow down)."""
        slot = [function, args, None, None]
        self._slots.append(slot)
        self._run(slot)

    def results(self) -> Iterator[Any]:
        """Wait for every call; yield their results in submission order."""
        self._stop_threads()
        for _, _, result, error in self._slots:
            if error is not None:
                raise error
            yield result

    def _work(self) -> None:
        while (slot := self._queue.get()) is not None:
            self._run(slot)

    def _run(self, slot: list) -> None:
        function, args = slot[0], slot[1]
        slot[0] = slot[1] = None  # what a call holds is freed as it ends
        if self._failed:
            slot[3] = _Skipped()
            return
        try:
            slot[2] = function(*args)
            if self._on_done is not None:
                self._on_done(slot[2])
        except BaseException as exc:  # re-raised by results(), in the submitting thread
            slot[3] = exc
            self._failed = True

    def _stop_threads(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._threads.clear()

    def __enter__(self) -> WorkerThreads:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is not None:
            self._failed = True  # nothing more starts
        self._stop_threads()
