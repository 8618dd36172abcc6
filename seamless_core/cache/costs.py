"""What it costs to get a buffer back once it has left memory.

Costs are in abstract *units*; eviction weighs them against the benefit of freed memory
(``benefit_per_gb`` units per GiB). A buffer's cost is its cheapest declared way back:

- download, per profile: ``read_buffer`` 1 unit/GiB (a local folder, the spill folder),
  ``local_hashserver`` 10 units/GiB (at least 0.001), ``remote_hashserver`` 100 units/GiB
  (at least 0.01);
- recomputation: 0.1 unit per CPU second of the transformation that produced it.

Downloads are declared in two ways. A store that is known to hold an intact copy (it
served the buffer and the content was verified, or a put into it was confirmed) is added
as a *holder* with :meth:`CostModel.add_holder`; its declaration lasts while the store
does, and :meth:`CostModel.forget_store` withdraws it when the store is removed from the
configuration. A user's :meth:`CostModel.set_download_profile` is taken at its word.
A store that merely says it has a buffer declares nothing: eviction spills such a buffer
first, so that it never depends on a claim nobody checked.

A manual cost, when set, replaces all of these. A buffer with no declared way back costs
what the *undeclared profile* says: ``read_buffer`` while a spill folder is configured
(eviction writes such a buffer there first, and that is where it then comes back from),
and infinitely much without one (it would be lost, so it is never evicted).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any

from .._units import GIB
from ..checksum import Checksum

if TYPE_CHECKING:
    import numpy as np

CPU_SECOND_COST = 0.1

# profile name -> (units per GiB, minimum units), cheapest first: every profile costs at
# least as much as the one before it, for any size.
DOWNLOAD_PROFILES: dict[str, tuple[float, float]] = {
    "read_buffer": (1.0, 0.0),
    "local_hashserver": (10.0, 0.001),
    "remote_hashserver": (100.0, 0.01),
}
_RANK = {name: rank for rank, name in enumerate(DOWNLOAD_PROFILES)}
_NAMES = list(DOWNLOAD_PROFILES)
# Indexed by rank, plus one last entry for "no download": 0 per GiB (not inf, which
# would make 0 bytes cost NaN) with an infinite minimum. Lists: NumPy is imported only by
# the eviction pass (cost_array).
_PER_GIB = [p[0] for p in DOWNLOAD_PROFILES.values()] + [0.0]
_MINIMUM = [p[1] for p in DOWNLOAD_PROFILES.values()] + [math.inf]
_NO_WAY = len(DOWNLOAD_PROFILES)


def digest_of(checksum: Checksum | str | bytes) -> bytes:
    """The raw 32-byte digest, the key of per-checksum tables (bytes hash in C; a
    Checksum's ``__hash__`` is a Python call)."""
    if type(checksum) is not Checksum:
        checksum = Checksum(checksum)
    return checksum._digest


def download_cost(profile: str, size: int) -> float:
    """Units to download ``size`` bytes under ``profile``."""
    per_gib, minimum = DOWNLOAD_PROFILES[profile]
    return max(size / GIB * per_gib, minimum)


class CostModel:
    """Per-checksum declarations of how a buffer can be brought back, and its cost.

    Declarations are independent of the cache's entries: a store may declare a profile
    before the buffer is registered, and declarations outlive eviction.

    Args:
        undeclared_profile: the download profile assumed for a checksum without
            declarations, or ``None`` to make such a checksum infinitely costly.
    """

    def __init__(self, undeclared_profile: str | None = "read_buffer") -> None:
        self.undeclared_profile = undeclared_profile
        # digest -> rank in DOWNLOAD_PROFILES: the cheapest of the user's declaration and
        # the holders' profiles (what costs and eviction read).
        self._profiles: dict[bytes, int] = {}
        self._declared: dict[bytes, int] = {}  # the user's declarations
        self._holders: dict[bytes, dict[Any, int]] = {}  # digest -> {store: rank}
        self._held_by: dict[Any, set[bytes]] = {}  # store -> digests it holds
        self._manual: dict[bytes, float] = {}
        self._cpu_seconds: dict[bytes, float] = {}
        # For read-modify-write declarations only. Re-entrant: a collection that starts
        # under it may run a __del__ that declares something.
        self._lock = threading.RLock()

    @property
    def undeclared_profile(self) -> str | None:
        """The profile of checksums without declarations (``None``: infinite cost)."""
        return self._undeclared

    @undeclared_profile.setter
    def undeclared_profile(self, profile: str | None) -> None:
        if profile is not None:
            self._check_profile(profile)
        self._undeclared = profile
        self._undeclared_rank = _NO_WAY if profile is None else _RANK[profile]

    def __repr__(self) -> str:
        return (
            f"CostModel({len(self._profiles)} download profiles, {len(self._cpu_seconds)} "
            f"transformations, {len(self._manual)} manual costs, "
            f"undeclared_profile={self.undeclared_profile!r})"
        )

    # -- declarations ----------------------------------------------------------------------

    @staticmethod
    def _check_profile(profile: str) -> None:
        if profile not in DOWNLOAD_PROFILES:
            raise ValueError(
                f"unknown download profile {profile!r}; valid: {', '.join(DOWNLOAD_PROFILES)}"
            )

    def set_download_profile(self, checksum: Checksum | str | bytes, profile: str) -> None:
        """Declare that the buffer can be downloaded under ``profile``.

        ``profile`` is ``"read_buffer"``, ``"local_hashserver"`` or ``"remote_hashserver"``.
        When several are declared the cheapest one counts.
        """
        self._check_profile(profile)
        key, rank = digest_of(checksum), _RANK[profile]
        with self._lock:
            old = self._declared.get(key)
            if old is None or rank < old:
                self._declared[key] = rank
            self._lower(key, rank)

    def _lower(self, key: bytes, rank: int) -> None:
        old = self._profiles.get(key)
        if old is None or rank < old:
            self._profiles[key] = rank

    def add_holder(self, checksum: Checksum | str | bytes, store: Any) -> None:
        """Declare that ``store`` holds an intact copy of the buffer (verified by a read, or
        by a confirmed put), downloadable under the store's ``cost_profile``. The
        declaration is withdrawn by :meth:`forget_store`."""
        profile = store.cost_profile
        self._check_profile(profile)
        key, rank = digest_of(checksum), _RANK[profile]
        with self._lock:
            self._holders.setdefault(key, {})[store] = rank
            self._held_by.setdefault(store, set()).add(key)
            self._lower(key, rank)

    def holders(self, checksum: Checksum | str | bytes) -> list[Any]:
        """The stores declared to hold an intact copy of the buffer."""
        return list(self._holders.get(digest_of(checksum), ()))

    def forget_store(self, store: Any) -> int:
        """Withdraw every :meth:`add_holder` declaration of ``store`` (it was removed from
        the configuration, or can no longer be trusted); returns how many buffers it
        held."""
        with self._lock:
            keys = self._held_by.pop(store, set())
            for key in keys:
                holders = self._holders.get(key)
                if holders is None:
                    continue
                holders.pop(store, None)
                if not holders:
                    del self._holders[key]
                self._recompute(key)
        return len(keys)

    def _recompute(self, key: bytes) -> None:
        ranks = list(self._holders.get(key, {}).values())
        declared = self._declared.get(key)
        if declared is not None:
            ranks.append(declared)
        if ranks:
            self._profiles[key] = min(ranks)
        else:
            self._profiles.pop(key, None)

    def set_manual_cost(self, checksum: Checksum | str | bytes, units: float | None) -> None:
        """Fix the cost of the buffer at ``units``, overriding every other declaration;
        ``None`` removes the manual cost."""
        key = digest_of(checksum)
        if units is None:
            self._manual.pop(key, None)
            return
        units = float(units)
        if math.isnan(units) or units < 0:
            raise ValueError(f"a cost is a non-negative number of units, got {units!r}")
        self._manual[key] = units

    def record_transformation(self, checksum: Checksum | str | bytes, cpu_seconds: float) -> None:
        """Declare that the buffer can be recomputed in ``cpu_seconds`` of CPU time
        (0.1 unit per second). The fastest recorded recomputation counts."""
        cpu_seconds = float(cpu_seconds)
        if not (math.isfinite(cpu_seconds) and cpu_seconds >= 0):
            raise ValueError(f"cpu_seconds must be a non-negative number, got {cpu_seconds!r}")
        key = digest_of(checksum)
        with self._lock:
            old = self._cpu_seconds.get(key)
            if old is None or cpu_seconds < old:
                self._cpu_seconds[key] = cpu_seconds

    def forget(self, checksum: Checksum | str | bytes) -> None:
        """Drop every declaration about ``checksum``."""
        key = digest_of(checksum)
        with self._lock:
            self._profiles.pop(key, None)
            self._declared.pop(key, None)
            for store in self._holders.pop(key, {}):
                self._held_by.get(store, set()).discard(key)
            self._manual.pop(key, None)
            self._cpu_seconds.pop(key, None)

    # -- queries ---------------------------------------------------------------------------

    def download_profile(self, checksum: Checksum | str | bytes) -> str | None:
        """The cheapest declared download profile, or ``None``."""
        rank = self._profiles.get(digest_of(checksum))
        return None if rank is None else _NAMES[rank]

    def cost(self, checksum: Checksum | str | bytes, size: int | None) -> float:
        """Units to bring back the buffer of ``size`` bytes (``inf`` when there is no way,
        or when the way back is a download and the size is unknown)."""
        key = digest_of(checksum)
        manual = self._manual.get(key)
        if manual is not None:
            return manual
        best = math.inf
        rank = self._profiles.get(key)
        cpu_seconds = self._cpu_seconds.get(key)
        if rank is None and cpu_seconds is None:
            rank = self._undeclared_rank
        if rank is not None and rank != _NO_WAY and size is not None:
            best = download_cost(_NAMES[rank], size)
        if cpu_seconds is not None:
            best = min(best, cpu_seconds * CPU_SECOND_COST)
        return best

    def cost_array(self, keys: Sequence[bytes], sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`cost` of many buffers at once, by digest, for eviction passes. Returns the
        costs and whether each buffer is recoverable without a spill (a store holds it or a
        transformation can recompute it). Same values as :meth:`cost`, to the last bit."""
        import numpy as np

        profiles, manual, cpu = self._profiles, self._manual, self._cpu_seconds
        missing = _NO_WAY + 1
        ranks = np.array(list(map(profiles.get, keys, repeat(missing, len(keys)))), np.intp)
        declared = ranks != missing
        if cpu:
            seconds = np.fromiter((cpu.get(k, math.nan) for k in keys), float, len(keys))
            has_cpu = ~np.isnan(seconds)
        else:
            seconds, has_cpu = None, np.zeros(len(keys), bool)
        recoverable = declared | has_cpu
        ranks[~recoverable] = self._undeclared_rank
        ranks[~declared & has_cpu] = _NO_WAY
        costs = np.maximum(sizes / GIB * np.array(_PER_GIB)[ranks], np.array(_MINIMUM)[ranks])
        if seconds is not None:
            costs = np.where(has_cpu, np.minimum(costs, seconds * CPU_SECOND_COST), costs)
        if manual:
            fixed = np.fromiter((manual.get(k, math.nan) for k in keys), float, len(keys))
            costs = np.where(np.isnan(fixed), costs, fixed)
        return costs, recoverable
