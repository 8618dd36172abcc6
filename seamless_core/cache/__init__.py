"""The in-memory buffer cache: references, decaying temprefs, cost-aware eviction.

``get_buffer_cache()`` returns the process-wide :class:`BufferCache`; ``Checksum`` and
``Buffer`` methods (``incref``, ``tempref``, ``resolve``, ...) go through it.

    >>> from seamless_core.cache import get_buffer_cache
    >>> cache = get_buffer_cache()
    >>> cache.stats()["soft_cap"]
    5368709120
"""

from .. import lifecycle as _lifecycle
from .cache import (
    DEFAULT_BENEFIT_PER_GB,
    DEFAULT_HARD_CAP,
    DEFAULT_SOFT_CAP,
    BufferCache,
    EvictionResult,
    set_buffer_cache,
)
from .cache import get_buffer_cache as _process_cache
from .costs import CPU_SECOND_COST, DOWNLOAD_PROFILES, CostModel
from .interest import MIN_INTEREST, TempRef
from .spill import SPILL_FOLDER_ENV, default_spill_path
from .worker import WORKER_CACHE, WorkerBufferCache


def get_buffer_cache() -> BufferCache:
    """The process-wide :class:`BufferCache`, created on first use with the default caps;
    in a Seamless worker process (:func:`seamless_core.lifecycle.set_is_worker`) an inert
    :class:`WorkerBufferCache` instead, since a worker keeps no buffers of its own."""
    if _lifecycle._is_worker:
        return WORKER_CACHE  # type: ignore[return-value]
    return _process_cache()


__all__ = [
    "CPU_SECOND_COST",
    "DEFAULT_BENEFIT_PER_GB",
    "DEFAULT_HARD_CAP",
    "DEFAULT_SOFT_CAP",
    "DOWNLOAD_PROFILES",
    "MIN_INTEREST",
    "SPILL_FOLDER_ENV",
    "BufferCache",
    "CostModel",
    "EvictionResult",
    "TempRef",
    "WorkerBufferCache",
    "default_spill_path",
    "get_buffer_cache",
    "set_buffer_cache",
]
