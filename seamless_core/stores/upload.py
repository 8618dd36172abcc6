"""Background upload of buffers to the writable stores.

The buffer cache hands every buffer that gets a non-scratch reference to
:func:`request_upload`. One daemon thread takes the buffers off a queue, in batches: for each
upload target (:func:`~.registry.upload_targets`) it asks which buffers the store lacks
(one batch query), then puts those. A failed put is retried with exponential backoff; when
the retries are spent the failure is reported with an :class:`UploadFailedWarning` and kept
in :func:`failed_uploads`, and the store is suspended for a while (further uploads to it are
reported as failed at once), so that a dead server cannot hold up :func:`flush`, or the
exit of the interpreter, for long.

:func:`flush` waits until the queue is empty; it runs at interpreter exit too.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import warnings
from collections import deque
from typing import Any, NamedTuple

from .._progress import ProgressBar
from ..checksum import Checksum
from . import registry
from .base import BufferStore, CorruptBufferError, StoreNotWritableError

__all__ = [
    "FailedUpload",
    "UploadFailedWarning",
    "failed_uploads",
    "flush",
    "pending_uploads",
    "request_upload",
]

logger = logging.getLogger(__name__)

# Read at each use, so that they can be tuned (or patched by tests) at run time.
RETRIES = 3  # attempts after the first one
BACKOFF = 0.5  # seconds before the first retry; doubles at each retry
SUSPEND_SECONDS = 30.0  # how long a store whose upload failed is skipped
BATCH_SIZE = 64  # buffers taken off the queue at once (one has_batch query per store)


class UploadFailedWarning(RuntimeWarning):
    """A buffer could not be uploaded to a store."""


class FailedUpload(NamedTuple):
    """A buffer that did not reach a store, and why."""

    checksum: Checksum
    store: BufferStore
    error: BaseException


def _content(buffer: Any) -> bytes:
    content = getattr(buffer, "content", buffer)
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise TypeError(f"cannot upload a {type(buffer).__name__}: it has no bytes content")
    return content


class Uploader:
    """The upload queue and its worker thread (one per process: see the module functions)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[tuple[Checksum, Any]] = deque()
        self._pending: set[bytes] = set()  # digests queued or being uploaded
        self._busy = 0  # buffers taken by the worker and not finished
        self._submitted = 0
        self._finished = 0
        self._failed: list[FailedUpload] = []
        self._suspended: dict[BufferStore, tuple[float, BaseException]] = {}
        self._thread: threading.Thread | None = None

    # -- producer side ---------------------------------------------------------------------

    def request(self, checksum: Checksum, buffer: Any) -> bool:
        """Queue ``buffer`` unless there is nowhere to upload it or it is queued already."""
        if not registry.upload_targets():
            return False
        key = checksum.bytes()
        with self._cond:
            if key in self._pending:
                return False
            self._pending.add(key)
            self._queue.append((checksum, buffer))
            self._submitted += 1
            if self._thread is None:
                self._start()
            self._cond.notify()
        return True

    def _start(self) -> None:
        # Under the condition's lock.
        self._thread = threading.Thread(target=self._run, name="seamless-uploader", daemon=True)
        self._thread.start()
        _register_exit_flush()

    def pending(self) -> int:
        """Buffers queued or being uploaded."""
        with self._cond:
            return len(self._queue) + self._busy

    # -- worker side -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                batch = [self._queue.popleft() for _ in range(min(BATCH_SIZE, len(self._queue)))]
                self._busy = len(batch)
            try:
                self._upload(batch)
            except BaseException:  # the worker must survive anything, or flush() would hang
                logger.exception("the background uploader failed on a batch")
            finally:
                with self._cond:
                    for checksum, _ in batch:
                        self._pending.discard(checksum.bytes())
                    self._busy = 0
                    self._finished += len(batch)
                    self._cond.notify_all()

    def _upload(self, batch: list[tuple[Checksum, Any]]) -> None:
        for store in registry.upload_targets():
            suspension = self._suspension(store)
            if suspension is not None:
                for checksum, _ in batch:
                    self._record(checksum, store, suspension)
                continue
            try:
                present = store.has_batch([c for c, _ in batch], include_promises=False)
            except Exception:  # the puts will find out what is wrong, with retries
                present = [False] * len(batch)
            for index, ((checksum, buffer), there) in enumerate(zip(batch, present)):
                if there:
                    _notify(checksum, store)
                    continue
                error, attempts = self._put(store, checksum, buffer)
                if error is None:
                    continue
                if isinstance(error, (CorruptBufferError, TypeError)):  # this buffer's problem
                    self._record(checksum, store, error)
                    _warn(f"could not upload buffer {checksum} to {store!r}: {error}")
                    continue
                # The store's problem: down, broken, or refusing uploads (retries are spent,
                # or would not help). Skip it for a while, and report this batch's remaining
                # buffers for it as failed too.
                self._suspended[store] = (time.monotonic() + SUSPEND_SECONDS, error)
                rest = batch[index:]
                for other, _ in rest:
                    self._record(other, store, error)
                tries = f" after {attempts} attempts" if attempts > 1 else ""
                _warn(
                    f"could not upload buffer {checksum} to {store!r}{tries}: {error}. "
                    f"Uploads to it fail at once for the next {SUSPEND_SECONDS:g} s; "
                    "seamless_core.stores.failed_uploads() lists the buffers that did not "
                    "reach it."
                )
                break

    def _suspension(self, store: BufferStore) -> BaseException | None:
        entry = self._suspended.get(store)
        if entry is None:
            return None
        until, error = entry
        if time.monotonic() >= until:
            del self._suspended[store]
            return None
        return error

    def _put(self, store: BufferStore, checksum: Checksum, buffer: Any) -> tuple[Any, int]:
        """Put with retries; returns ``(None, attempts)`` or ``(last error, attempts)``."""
        error: BaseException | None = None
        attempt = 0
        for attempt in range(1, RETRIES + 2):
            if attempt > 1:
                time.sleep(BACKOFF * 2 ** (attempt - 2))
            try:
                store.put(checksum, _content(buffer))
            except (StoreNotWritableError, CorruptBufferError, TypeError) as exc:
                return exc, attempt  # retrying cannot help
            except Exception as exc:
                error = exc
                logger.debug(
                    "upload of %s to %r failed (attempt %d): %s", checksum, store, attempt, exc
                )
                continue
            _notify(checksum, store)
            return None, attempt
        return error, attempt

    def _record(self, checksum: Checksum, store: BufferStore, error: BaseException) -> None:
        with self._cond:
            self._failed.append(FailedUpload(checksum, store, error))

    # -- waiting ---------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued buffer has been processed; False if ``timeout`` seconds
        passed first."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("flush() cannot be called from the uploader thread")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            start = self._finished
        with ProgressBar(None, "uploading buffers", "buffers") as progress:
            while True:
                with self._cond:
                    if not self._queue and not self._busy:
                        return True
                    wait = 0.1
                    if deadline is not None:
                        wait = min(wait, deadline - time.monotonic())
                        if wait <= 0:
                            return False
                    self._cond.wait(wait)
                    done, total = self._finished - start, self._submitted - start
                progress.update(done, total)  # outside the lock: writing may block

    def failed(self, clear: bool = False) -> list[FailedUpload]:
        with self._cond:
            failed = list(self._failed)
            if clear:
                self._failed.clear()
        return failed

    def forget_suspensions(self) -> None:
        self._suspended.clear()


def _notify(checksum: Checksum, store: BufferStore) -> None:
    try:
        registry.notify_stored(checksum, store)
    except Exception:  # a listener's problem is not an upload failure
        logger.exception("store listener failed for %s", checksum)


def _warn(message: str) -> None:
    warnings.warn(message, UploadFailedWarning, stacklevel=2)


_uploader = Uploader()
_exit_flush_registered = False


def _register_exit_flush() -> None:
    global _exit_flush_registered
    if not _exit_flush_registered:
        atexit.register(_flush_at_exit)
        _exit_flush_registered = True


def _flush_at_exit() -> None:
    try:
        _uploader.flush()
    except KeyboardInterrupt:
        pending = _uploader.pending()
        if pending:
            os.write(
                2, f"seamless-core: exiting with {pending} buffer uploads unfinished\n".encode()
            )


def _after_fork_in_child() -> None:
    # The worker thread does not survive a fork; the child starts with an empty queue.
    global _uploader
    _uploader = Uploader()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -- module API ----------------------------------------------------------------------------


def _stores_configured() -> bool:
    # Cheap, lock-free and without I/O: the buffer cache calls it under its lock.
    return (
        bool(registry._stores)
        or not registry._environment_read
        or registry._configured_elsewhere() != ()
    )


def request_upload(checksum: Checksum, buffer: Any) -> None:
    """Queue ``buffer`` (with its ``checksum``) for upload to the writable stores, unless
    there are none or it is queued already. Returns at once."""
    _uploader.request(checksum, buffer)


# The buffer cache asks this before handing over a buffer: while no store is configured,
# its entries wait (and are handed over at their next reference once one is).
request_upload.gate = _stores_configured  # type: ignore[attr-defined]


def flush(timeout: float | None = None) -> bool:
    """Wait until every buffer queued for upload has been uploaded (or has failed: see
    :func:`failed_uploads`). Shows a progress bar on an interactive stderr when this takes
    a while. Returns False if ``timeout`` seconds passed first."""
    return _uploader.flush(timeout)


def failed_uploads(clear: bool = False) -> list[FailedUpload]:
    """The uploads that failed, oldest first; ``clear=True`` also forgets them."""
    return _uploader.failed(clear)


def pending_uploads() -> int:
    """How many buffers are queued or being uploaded."""
    return _uploader.pending()


def reset() -> None:
    """Forget failed uploads and suspended stores (for tests, and after fixing a store)."""
    _uploader.failed(clear=True)
    _uploader.forget_suspensions()
