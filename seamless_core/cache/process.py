"""The process-wide buffer cache, and how the rest of the package talks to it.

:func:`get_buffer_cache` makes the cache on first use, with the caps of
``SEAMLESS_SOFT_CAP``/``SEAMLESS_HARD_CAP`` (see :mod:`.settings`) and the spill folder of
``SEAMLESS_SPILL_FOLDER``. The stores report to it through listeners registered here: a
confirmed copy in a store is a way back for eviction, a store added or removed changes what
is recoverable, and the uploader's rescue writes what no store took to the spill folder.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from .. import lifecycle as _lifecycle
from ..checksum import Checksum
from ..stores import add_change_listener, add_store_listener
from ..stores.base import BufferStore
from ..stores.upload import set_rescue
from .buffer_cache import DEFAULT_HARD_CAP, DEFAULT_SOFT_CAP, BufferCache
from .settings import caps_from_environment
from .worker import WORKER_CACHE

logger = logging.getLogger(__name__)

_global_cache: BufferCache | None = None
_global_lock = threading.Lock()


def get_buffer_cache() -> BufferCache:
    """The process-wide :class:`BufferCache`, created on first use with the caps from the
    environment (the defaults when unset); in a Seamless worker process
    (:func:`seamless_core.lifecycle.set_is_worker`) an inert :class:`WorkerBufferCache`
    instead, since a worker keeps no buffers of its own."""
    if _lifecycle._is_worker:
        return WORKER_CACHE  # type: ignore[return-value]
    return _process_cache()


def _process_cache() -> BufferCache:
    # The real cache, also in a worker (where the store listeners still need one).
    global _global_cache
    cache = _global_cache
    if cache is None:
        with _global_lock:
            if _global_cache is None:
                soft_cap, hard_cap = caps_from_environment(DEFAULT_SOFT_CAP, DEFAULT_HARD_CAP)
                _global_cache = BufferCache(soft_cap, hard_cap)
            cache = _global_cache
    return cache


def current_buffer_cache() -> BufferCache | None:
    """The process-wide cache if it has been made, else ``None`` (never makes one)."""
    return _global_cache


def set_buffer_cache(cache: BufferCache | None) -> BufferCache | None:
    """Replace the process-wide cache (``None``: a default one is made on next use) and
    return the previous one. For tests, and applications that configure their own."""
    global _global_cache
    with _global_lock:
        previous, _global_cache = _global_cache, cache
    return previous


def _declare_stored(checksum: Checksum, store: BufferStore, verified: bool) -> None:
    # The uploader or stores.write_buffer put the buffer in a store. Only a copy the store
    # confirmed counts as a way back; a claim ("I have it already") is left unrelied on,
    # so eviction spills the buffer first.
    if verified:
        _process_cache().costs.add_holder(checksum, store)


def _stores_changed(store: BufferStore, added: bool) -> None:
    cache = _global_cache
    if cache is not None:
        cache._stores_changed(store, added)


def _save_unuploaded(checksum: Checksum, buffer: Any) -> str | None:
    # The uploader's rescue: no store took the buffer, so it goes to the spill folder.
    cache = _process_cache()
    try:
        return cache._spill_into(checksum, buffer).path
    except (OSError, AttributeError, ValueError) as exc:
        logger.warning("could not save %s in the spill folder: %s", checksum, str(exc))
        return None


add_store_listener(_declare_stored)
add_change_listener(_stores_changed)
set_rescue(_save_unuploaded)
