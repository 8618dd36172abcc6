"""The in-memory buffer cache: references, decaying temprefs, cost-aware eviction.

``get_buffer_cache()`` returns the process-wide :class:`BufferCache`; ``Checksum`` and
``Buffer`` methods (``incref``, ``tempref``, ``resolve``, ...) go through it.

    >>> from seamless_core.cache import get_buffer_cache
    >>> cache = get_buffer_cache()
    >>> cache.stats()["soft_cap"]
    5368709120
"""

from .cache import (
    DEFAULT_BENEFIT_PER_GB,
    DEFAULT_HARD_CAP,
    DEFAULT_SOFT_CAP,
    BufferCache,
    EvictionResult,
    get_buffer_cache,
    set_buffer_cache,
)
from .costs import CPU_SECOND_COST, DOWNLOAD_PROFILES, CostModel
from .interest import MIN_INTEREST, TempRef
from .spill import SPILL_FOLDER_ENV, default_spill_path

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
    "default_spill_path",
    "get_buffer_cache",
    "set_buffer_cache",
]
