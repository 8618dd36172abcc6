"""Choosing which buffers leave memory: pure functions over a snapshot of the cache.

Freeing memory has a *benefit*: none while usage is at or below the soft cap,
``benefit_per_gb`` units per GiB between the soft and the hard cap, unbounded above the
hard cap. Evicting a buffer has a *loss*: its cost to bring back times its interest.
Candidates are taken in order of increasing loss per GiB, so the set evicted is always a
prefix of that order: above the hard cap every candidate goes until usage is back at or
below it; between the caps a candidate goes only while its loss is below the benefit of
removing it, and the first that is not worth it ends the pass. Buffers of unknown or zero
size and buffers with an infinite (or undefined) loss are never candidates.

The work is done on NumPy arrays: a pass over 100 000 entries is a few sorts and cumulative
sums, not a Python loop.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

from .._units import GIB


def benefit(usage: int, freed: int, soft_cap: int, hard_cap: int, benefit_per_gb: float) -> float:
    """Units gained by freeing ``freed`` bytes when ``usage`` bytes are held."""
    if usage > hard_cap and freed > 0:
        return math.inf
    counted = usage - max(usage - freed, soft_cap)
    return benefit_per_gb * counted / GIB if counted > 0 else 0.0


def victim_indices(
    sizes: np.ndarray,
    losses: np.ndarray,
    usage: int,
    soft_cap: int,
    hard_cap: int,
    benefit_per_gb: float,
) -> np.ndarray:
    """Indices into ``sizes``/``losses`` of the buffers to evict, in eviction order.

    Args:
        sizes: bytes per candidate (int64; 0 when unknown).
        losses: cost x interest per candidate.
        usage: bytes held in memory in all (candidates and buffers that are not).
        soft_cap, hard_cap, benefit_per_gb: the cache's policy.
    """
    import numpy as np  # here: importing the cache does not load NumPy

    if usage <= soft_cap:
        return np.empty(0, np.intp)
    eligible = np.flatnonzero((sizes > 0) & np.isfinite(losses))
    per_gib = losses[eligible] * GIB / sizes[eligible]
    order = eligible[np.argsort(per_gib, kind="stable")]  # ties keep the snapshot's order
    size, loss = sizes[order], losses[order]
    before = usage - (np.cumsum(size) - size)  # usage just before each removal
    counted = before - np.maximum(before - size, soft_cap)
    gain = np.where(counted > 0, benefit_per_gb * counted / GIB, 0.0)
    take = (before > soft_cap) & ((before > hard_cap) | (loss < gain))
    stop = take.size if take.all() else int(np.argmin(take))
    return order[:stop]


def choose_victims(
    candidates: Sequence[tuple[Hashable, int | None, float]],
    usage: int,
    soft_cap: int,
    hard_cap: int,
    benefit_per_gb: float,
) -> list[Hashable]:
    """:func:`victim_indices` for ``(key, size, loss)`` tuples; returns the keys to evict,
    in eviction order (``size`` may be ``None`` when unknown)."""
    import numpy as np

    sizes = np.array([size or 0 for _, size, _ in candidates], dtype=np.int64)
    losses = np.array([loss for _, _, loss in candidates], dtype=float)
    chosen = victim_indices(sizes, losses, usage, soft_cap, hard_cap, benefit_per_gb)
    return [candidates[i][0] for i in chosen]
