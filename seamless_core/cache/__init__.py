"""The in-memory buffer cache: references, decaying temprefs, cost-aware eviction.

``get_buffer_cache()`` returns the process-wide :class:`BufferCache`; ``Checksum`` and
``Buffer`` methods (``incref``, ``tempref``, ``resolve``, ...) go through it. Importing
this package does not import NumPy: only an eviction pass does.

    >>> from seamless_core.cache import get_buffer_cache
    >>> cache = get_buffer_cache()
    >>> cache.stats()["soft_cap"]
    5368709120

Modules: :mod:`.buffer_cache` (the cache), :mod:`.eviction_pass` and :mod:`.eviction`
(which buffers leave memory), :mod:`.evictor` (the background thread), :mod:`.costs`,
:mod:`.interest` (temprefs), :mod:`.spill`, :mod:`.settings` (sizes and caps as users write
them), :mod:`.process` (the process-wide cache and the stores' listeners), :mod:`.worker`.
"""

from .._interest import DEFAULT_FADE_FACTOR, DEFAULT_FADE_INTERVAL, DEFAULT_TEMPREF_INTEREST
from .buffer_cache import (
    DEFAULT_BENEFIT_PER_GB,
    DEFAULT_EVICTION_INTERVAL,
    DEFAULT_HARD_CAP,
    DEFAULT_SOFT_CAP,
    BufferCache,
)
from .costs import CPU_SECOND_COST, DOWNLOAD_PROFILES, GIB, CostModel
from .eviction_pass import EvictionResult
from .interest import MIN_INTEREST, TempRef
from .process import current_buffer_cache, get_buffer_cache, set_buffer_cache
from .settings import HARD_CAP_ENV, SOFT_CAP_ENV, parse_size
from .spill import SPILL_FOLDER_ENV, default_spill_path
from .worker import WorkerBufferCache

__all__ = [
    "CPU_SECOND_COST",
    "DEFAULT_BENEFIT_PER_GB",
    "DEFAULT_EVICTION_INTERVAL",
    "DEFAULT_FADE_FACTOR",
    "DEFAULT_FADE_INTERVAL",
    "DEFAULT_HARD_CAP",
    "DEFAULT_SOFT_CAP",
    "DEFAULT_TEMPREF_INTEREST",
    "DOWNLOAD_PROFILES",
    "GIB",
    "HARD_CAP_ENV",
    "MIN_INTEREST",
    "SOFT_CAP_ENV",
    "SPILL_FOLDER_ENV",
    "BufferCache",
    "CostModel",
    "EvictionResult",
    "TempRef",
    "WorkerBufferCache",
    "current_buffer_cache",
    "default_spill_path",
    "get_buffer_cache",
    "parse_size",
    "set_buffer_cache",
]
