"""The process lifecycle the Seamless ecosystem expects: worker mode, ``close()``, close hooks.

A *worker* is a process that seamless-transformer spawned to run transformations: it has no
buffer cache of its own (``get_buffer_cache()`` returns an inert stand-in there) and gets
its buffers from its parent, which seamless-transformer arranges by replacing
``Checksum.resolve``/``resolution`` in the worker.

``close()`` ends the session: close hooks first, then the spawned workers, then the pending
uploads, then seamless-remote's clients; afterwards :func:`ensure_open` refuses further work.
It also runs at interpreter exit, but only if something asked for it with
``ensure_open(mark_required=True)``. Other packages are looked up in ``sys.modules``, never
imported: what was not loaded has nothing to close.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

#: Seconds that ``close()`` waits for queued uploads before giving up on them.
CLOSE_FLUSH_TIMEOUT = 30.0

_lock = threading.Lock()
_is_worker = False
_closing = False
_closed = False
_close_required = False
_close_hooks: list[Callable[[], None]] = []

__all__ = [
    "close",
    "closed",
    "closing",
    "ensure_open",
    "is_worker",
    "register_close_hook",
    "set_is_worker",
]


def is_worker() -> bool:
    """Whether this process is a Seamless worker (see :func:`set_is_worker`)."""
    return _is_worker


def set_is_worker(value: bool = True) -> None:
    """Mark this process as a Seamless worker: from now on it has no buffer cache of its own."""
    global _is_worker
    _is_worker = bool(value)


def closed() -> bool:
    """Whether :func:`close` has run."""
    return _closed


def closing() -> bool:
    """Whether :func:`close` is running now."""
    return _closing


def ensure_open(op: str | None = None, *, mark_required: bool = True) -> None:
    """Raise ``RuntimeError`` once the session is closed. ``mark_required`` notes that
    something worth closing happened, so that :func:`close` also runs at interpreter exit."""
    global _close_required
    if mark_required:
        _close_required = True
    if _closed:
        what = f" ({op})" if op else ""
        raise RuntimeError(f"Seamless has been closed; cannot perform further operations{what}")


def register_close_hook(hook: Callable[[], None]) -> None:
    """Call ``hook()`` first thing in :func:`close` (errors are logged, not raised)."""
    if not callable(hook):
        raise TypeError(f"a close hook must be callable, not {type(hook).__name__}")
    with _lock:
        _close_hooks.append(hook)


def _in_main_process() -> bool:
    import multiprocessing  # here: importing this module stays cheap

    try:
        return multiprocessing.current_process().name == "MainProcess"
    except Exception:  # a half-torn-down multiprocessing at exit: assume we are
        return True


def _step(what: str, action: Callable[[], object]) -> None:
    # One failing step must not keep the others from running.
    try:
        action()
    except Exception:
        logger.warning("seamless close: %s failed", what, exc_info=True)


def _run_close_hooks() -> None:
    with _lock:
        hooks = list(_close_hooks)
    for hook in hooks:
        _step(f"close hook {hook!r}", hook)


def _shut_down_workers() -> None:
    worker = sys.modules.get("seamless_transformer.worker")
    if worker is None:
        return
    has_spawned = getattr(worker, "has_spawned", None)
    shutdown = getattr(worker, "shutdown_workers", None)
    if shutdown is not None and (has_spawned is None or has_spawned()):
        _step("shutting down the transformation workers", shutdown)


def _flush_uploads() -> None:
    upload = sys.modules.get("seamless_core.stores.upload")
    if upload is None:
        return
    if not upload.flush(CLOSE_FLUSH_TIMEOUT):
        logger.warning(
            "seamless close: %d buffer uploads still unfinished after %.0f s",
            upload.pending_uploads(),
            CLOSE_FLUSH_TIMEOUT,
        )


def _close_remote_clients() -> None:
    client = sys.modules.get("seamless_remote.client")
    close_all = getattr(client, "close_all_clients", None)
    if close_all is not None:
        _step("closing the seamless-remote clients", close_all)


def close() -> None:
    """End the session: run the close hooks, shut down spawned workers, flush the uploads
    and close seamless-remote's clients. Does nothing in a worker, in a child process, or
    when the session is closed (or closing) already."""
    global _closing, _closed
    if _is_worker or not _in_main_process():
        return
    with _lock:
        if _closed or _closing:
            return
        _closing = True
    try:
        _run_close_hooks()
        _shut_down_workers()
        _step("flushing the uploads", _flush_uploads)
        _close_remote_clients()
    finally:
        _closed = True
        _closing = False


def _close_at_exit() -> None:
    if _close_required:
        close()


atexit.register(_close_at_exit)
