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

Nothing is lost when a store is down: a buffer that no upload target took is handed to the
*rescue* function (:func:`set_rescue`; the buffer cache writes it to its spill folder), and
:func:`flush` and the exit report say how many buffers that was, where they are and how to
upload them later (:func:`seamless_core.stores.retry.retry_uploads`).

A store confirms a put when it knows it holds an intact copy afterwards (``put`` returns
True); a store that says it has a buffer already, or a put it does not confirm, is passed on
to the listeners as a claim (``verified=False``), which the cache does not rely on.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple

from .._progress import ProgressBar
from ..checksum import Checksum, as_checksum
from ..errors import UploadFailedWarning
from . import registry
from .base import BufferStore, CorruptBufferError, StoreNotWritableError

__all__ = [
    "FailedUpload",
    "UploadFailedWarning",
    "failed_uploads",
    "flush",
    "pending_uploads",
    "request_upload",
    "wait_for_upload",
]

logger = logging.getLogger(__name__)

# Read at each use, so that they can be tuned (or patched by tests) at run time.
RETRIES = 3  # attempts after the first one
BACKOFF = 0.5  # seconds before the first retry; doubles at each retry
SUSPEND_SECONDS = 30.0  # how long a store whose upload failed is skipped
BATCH_SIZE = 64  # buffers taken off the queue at once (one has_batch query per store)


class FailedUpload(NamedTuple):
    """A buffer that did not reach a store, and why; ``saved_in`` is where a copy was
    saved instead (the spill folder's path), or ``None`` if no copy could be saved."""

    checksum: Checksum
    store: BufferStore
    error: BaseException
    saved_in: str | None = None


# rescue(checksum, buffer) -> where the buffer was saved, or None
Rescue = Callable[[Checksum, Any], "str | None"]
_rescue: Rescue | None = None


def set_rescue(rescue: Rescue | None) -> None:
    """Set the function that saves a buffer no upload target took (``None``: none)."""
    global _rescue
    _rescue = rescue


def _content(buffer: Any) -> bytes:
    content = getattr(buffer, "content", buffer)
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise TypeError(f"cannot upload a {type(buffer).__name__}: it has no bytes content")
    return content if isinstance(content, bytes) else bytes(content)


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
        """Queue ``buffer`` unless there is nowhere to upload it; False if there is not (a
        buffer already queued counts as queued)."""
        if not registry.upload_targets():
            return False
        key = checksum.bytes()
        with self._cond:
            if key in self._pending:
                return True
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
            keys = [checksum.bytes() for checksum, _ in batch]
            try:
                self._upload(batch)
            except BaseException:  # the worker must survive anything, or flush() would hang
                logger.exception("the background uploader failed on a batch")
            finally:
                # Let go of the buffers before waiting for the next batch: this thread must
                # not keep the last one alive (it may be large, and its owner done with it).
                batch.clear()
                del batch
                with self._cond:
                    self._pending.difference_update(keys)
                    self._busy = 0
                    self._finished += len(keys)
                    self._cond.notify_all()

    def _upload(self, batch: list[tuple[Checksum, Any]]) -> None:
        failures: list[list[tuple[BufferStore, BaseException]]] = [[] for _ in batch]
        taken = [False] * len(batch)  # some store confirmed an intact copy
        for store in registry.upload_targets():
            self._upload_to(store, batch, failures, taken)
        for (checksum, buffer), failed, safe in zip(batch, failures, taken):
            if not failed:
                continue
            saved = None if safe else self._save_elsewhere(checksum, buffer)
            for store, error in failed:
                self._record(checksum, store, error, saved)

    def _upload_to(
        self,
        store: BufferStore,
        batch: list[tuple[Checksum, Any]],
        failures: list[list[tuple[BufferStore, BaseException]]],
        taken: list[bool],
    ) -> None:
        suspension = self._suspension(store)
        if suspension is not None:
            for failed in failures:
                failed.append((store, suspension))
            return
        present = self._claims(store, [c for c, _ in batch])
        missing = []
        for index, ((checksum, _), there) in enumerate(zip(batch, present)):
            if there:  # the store says so; nobody checked
                _notify(checksum, store, verified=False)
            else:
                missing.append(index)
        limit = _concurrency(store)
        _promise(store, [batch[i][0] for i in missing], limit)
        outcomes = self._put_all(store, [batch[i] for i in missing], limit)
        first: tuple[Checksum, BaseException, int] | None = None
        for index, (error, attempts, confirmed) in zip(missing, outcomes):
            if error is None:
                taken[index] = taken[index] or confirmed
                continue
            checksum = batch[index][0]
            failures[index].append((store, error))
            if isinstance(error, (CorruptBufferError, TypeError)):  # this buffer's problem
                _warn(f"could not upload buffer {checksum} to {store!r}: {error}")
            elif first is None:
                first = (checksum, error, attempts)
        if first is not None:
            # The store's problem: down, broken, or refusing uploads (retries are spent, or
            # would not help). Skip it for a while; the buffers of this batch not tried
            # after that failed with its error.
            checksum, error, attempts = first
            self._suspended[store] = (time.monotonic() + SUSPEND_SECONDS, error)
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            _warn(
                f"could not upload buffer {checksum} to {store!r}{tries}: {error}. "
                f"Uploads to it fail at once for the next {SUSPEND_SECONDS:g} s; "
                "seamless_core.stores.failed_uploads() lists the buffers that did not "
                "reach it."
            )

    def _put_all(
        self, store: BufferStore, items: list[tuple[Checksum, Any]], limit: int
    ) -> list[tuple[BaseException | None, int, bool]]:
        """:meth:`_put` of each item, up to ``limit`` at once. Once one fails for the
        store's sake, the items not yet started are not tried (they fail with its error)."""
        stopped: list[BaseException] = []

        def put(item: tuple[Checksum, Any]) -> tuple[BaseException | None, int, bool]:
            if stopped:
                return stopped[0], 0, False
            outcome = self._put(store, *item)
            error = outcome[0]
            if error is not None and not isinstance(error, (CorruptBufferError, TypeError)):
                stopped.append(error)
            return outcome

        from .http import map_bounded  # here: the HTTP helpers load asyncio

        results = map_bounded(put, items, limit)
        # _put returns its errors; anything raised here is a bug, reported as a failure.
        return [r if isinstance(r, tuple) else (r, 1, False) for r in results]

    @staticmethod
    def _claims(store: BufferStore, checksums: list[Checksum]) -> list[bool]:
        """Which buffers the store says it has, to spare their upload. A local store is not
        asked: putting into it checks (and repairs) an existing copy, which is as cheap as
        asking and gives a confirmed copy instead of a claim."""
        if store.cost_profile == "read_buffer":
            return [False] * len(checksums)
        try:
            return store.has_batch(checksums, include_promises=False)
        except Exception:  # the puts will find out what is wrong, with retries
            return [False] * len(checksums)

    @staticmethod
    def _save_elsewhere(checksum: Checksum, buffer: Any) -> str | None:
        rescue = _rescue
        if rescue is None:
            return None
        try:
            return rescue(checksum, buffer)
        except Exception:
            logger.exception("could not save buffer %s that no store took", checksum)
            return None

    def _suspension(self, store: BufferStore) -> BaseException | None:
        entry = self._suspended.get(store)
        if entry is None:
            return None
        until, error = entry
        if time.monotonic() >= until:
            del self._suspended[store]
            return None
        return error

    def _put(
        self, store: BufferStore, checksum: Checksum, buffer: Any
    ) -> tuple[BaseException | None, int, bool]:
        """Put with retries; returns ``(None, attempts, confirmed)`` or ``(last error,
        attempts, False)``."""
        error: BaseException | None = None
        attempt = 0
        for attempt in range(1, RETRIES + 2):
            if attempt > 1:
                time.sleep(BACKOFF * 2 ** (attempt - 2))
            try:
                confirmed = store.put(checksum, _content(buffer)) is True
            except (StoreNotWritableError, CorruptBufferError, TypeError) as exc:
                return exc, attempt, False  # retrying cannot help
            except Exception as exc:
                error = exc
                logger.debug(
                    "upload of %s to %r failed (attempt %d): %s", checksum, store, attempt, exc
                )
                continue
            _notify(checksum, store, verified=confirmed)
            return None, attempt, confirmed
        return error, attempt, False

    def _record(
        self, checksum: Checksum, store: BufferStore, error: BaseException, saved: str | None
    ) -> None:
        with self._cond:
            self._failed.append(FailedUpload(checksum, store, error, saved))

    def wait_for(self, checksum: Checksum, timeout: float | None = None) -> bool:
        """Wait until the buffer is neither queued nor being uploaded; False if ``timeout``
        seconds passed first."""
        key = checksum.bytes()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while key in self._pending:
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    return False
                self._cond.wait(wait)
        return True

    # -- waiting ---------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued buffer has been processed; False if ``timeout`` seconds
        passed first."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("flush() cannot be called from the uploader thread")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            start, failed_before = self._finished, len(self._failed)
        try:
            return self._wait_all(start, deadline)
        finally:
            report = failure_report(self.failed()[failed_before:])
            if report:
                _warn(report)

    def _wait_all(self, start: int, deadline: float | None) -> bool:
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


def _concurrency(store: BufferStore) -> int:
    """How many puts (and promises) to run at once for ``store``: what it says it takes
    (``HashServer.concurrency``), else one at a time."""
    value = getattr(store, "concurrency", 1)
    return value if isinstance(value, int) and value >= 1 else 1


def _promise(store: BufferStore, checksums: list[Checksum], limit: int) -> None:
    """Announce the coming uploads to a store that takes promises (a hashserver), so that
    readers elsewhere wait for these buffers instead of missing them. Best effort: a
    failed promise is no failed upload (the put says what is wrong), and after one has
    failed the others are not sent."""
    promise = getattr(store, "promise", None)
    if promise is None or not checksums:
        return
    failed: list[BaseException] = []

    def announce(checksum: Checksum) -> None:
        if failed:
            return
        try:
            promise(checksum)
        except Exception as exc:
            failed.append(exc)
            logger.debug("promise of %s to %r failed: %s", checksum, store, exc)

    from .http import map_bounded  # here: the HTTP helpers load asyncio

    map_bounded(announce, checksums, limit)


def _notify(checksum: Checksum, store: BufferStore, verified: bool) -> None:
    try:
        registry.notify_stored(checksum, store, verified)
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


def failure_report(failures: list[FailedUpload], listings: dict[str, str] | None = None) -> str:
    """What a user needs to know about ``failures``: how many buffers did not reach which
    stores and why, where copies were saved, how to upload them later, and how many
    buffers have no copy anywhere. Empty when there were no failures."""
    if not failures:
        return ""
    buffers = {f.checksum for f in failures}
    by_store: dict[str, set[Checksum]] = {}
    last_error: dict[str, BaseException] = {}
    saved: dict[str, set[Checksum]] = {}
    for failure in failures:
        name = repr(failure.store)
        by_store.setdefault(name, set()).add(failure.checksum)
        last_error[name] = failure.error
        if failure.saved_in is not None:
            saved.setdefault(failure.saved_in, set()).add(failure.checksum)
    lines = [f"seamless-core: {len(buffers)} buffers could not be uploaded:"]
    for name, checksums in by_store.items():
        lines.append(f"  {len(checksums)} to {name} (last error: {last_error[name]})")
    kept: set[Checksum] = set()
    for folder, checksums in saved.items():
        kept |= checksums
        listing = (listings or {}).get(folder)
        lines.append(f"  {len(checksums)} are saved in {folder}")
        if listing is not None:
            lines.append(
                f"  their list is {listing}; to upload them once the store is back: "
                f"python -m seamless_core.stores.retry {listing} [--to URL_OR_FOLDER ...]"
            )
        else:
            lines.append(
                "  seamless_core.stores.failed_uploads() lists them; to upload them once the "
                "store is back: seamless_core.stores.retry.retry_uploads(checksums, folder)"
            )
    lost = buffers - kept
    if lost:
        lines.append(
            f"  {len(lost)} have no other copy: keep this process running and retry, or "
            "enable a spill folder (SEAMLESS_SPILL_FOLDER)"
        )
    return "\n".join(lines)


def _write_listings(failures: list[FailedUpload]) -> dict[str, str]:
    """At exit: beside the saved copies, a file listing their checksums, one per line."""
    from .._atomic import write_atomic

    by_folder: dict[str, set[str]] = {}
    for failure in failures:
        if failure.saved_in is not None:
            by_folder.setdefault(failure.saved_in, set()).add(failure.checksum.hex())
    stamp = time.strftime("%Y%m%dT%H%M%S")
    listings = {}
    for folder, hexes in by_folder.items():
        path = os.path.join(folder, f"failed-uploads-{stamp}-{os.getpid()}.txt")
        try:
            write_atomic(path, "".join(h + "\n" for h in sorted(hexes)).encode())
        except OSError as exc:
            logger.warning("could not write %s: %s", path, str(exc))
            continue
        listings[folder] = path
    return listings


def _flush_at_exit() -> None:
    try:
        with warnings.catch_warnings():  # the report below says it all, once
            warnings.simplefilter("ignore", UploadFailedWarning)
            _uploader.flush()
    except KeyboardInterrupt:
        pending = _uploader.pending()
        if pending:
            os.write(
                2, f"seamless-core: exiting with {pending} buffer uploads unfinished\n".encode()
            )
    # Everything that failed in this process, not only during the exit flush: warnings
    # shown earlier may have scrolled away, and this is the last chance to say it.
    failures = _uploader.failed()
    if failures:
        os.write(2, (failure_report(failures, _write_listings(failures)) + "\n").encode())


def _after_fork_in_child() -> None:
    # The worker thread does not survive a fork; the child starts with an empty queue.
    global _uploader
    _uploader = Uploader()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -- module API ----------------------------------------------------------------------------


def request_upload(checksum: Checksum, buffer: Any) -> bool:
    """Queue ``buffer`` (with its ``checksum``) for upload to the writable stores, unless it
    is queued already. Returns at once: False if there is no writable store to upload to."""
    return _uploader.request(checksum, buffer)


# The buffer cache asks this before handing over a buffer: while no writable store is
# configured, its entries wait (and are handed over when one is added, or at their next
# reference).
request_upload.gate = registry.may_upload  # type: ignore[attr-defined]


def flush(timeout: float | None = None) -> bool:
    """Wait until every buffer queued for upload has been uploaded (or has failed: see
    :func:`failed_uploads`). Shows a progress bar on an interactive stderr when this takes
    a while. Returns False if ``timeout`` seconds passed first."""
    return _uploader.flush(timeout)


def failed_uploads(clear: bool = False) -> list[FailedUpload]:
    """The uploads that failed, oldest first; ``clear=True`` also forgets them."""
    return _uploader.failed(clear)


def wait_for_upload(checksum: Checksum | str | bytes, timeout: float | None = None) -> bool:
    """Wait until the buffer of ``checksum`` is no longer queued or being uploaded (at once
    if it never was); False if ``timeout`` seconds passed first. Whether it reached the
    stores: see :func:`failed_uploads`."""
    return _uploader.wait_for(as_checksum(checksum), timeout)


def pending_uploads() -> int:
    """How many buffers are queued or being uploaded."""
    return _uploader.pending()


def reset() -> None:
    """Forget failed uploads and suspended stores (for tests, and after fixing a store)."""
    _uploader.failed(clear=True)
    _uploader.forget_suspensions()
