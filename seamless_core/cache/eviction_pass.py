"""One eviction pass, in three steps: plan (no lock), spill (no lock), commit (the lock).

The cache takes a snapshot of its strong entries under its lock and hands it here.
:func:`plan` ranks the snapshot with the pure policy of :mod:`.eviction` and returns the
:class:`Victims`; :func:`spill` writes those that nothing else could bring back to the
spill folder, and drops from the plan the ones it could not write (they stay in memory);
:func:`commit`, under the cache's lock again, demotes each victim whose entry did not change
since the snapshot. Interest that grew in between bumps the entry's ``stamp``: such an entry
is skipped and left to the next pass.

NumPy is imported by :func:`plan` only, so that importing the cache stays light.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from .interest import decayed

if TYPE_CHECKING:
    from ..checksum import Checksum
    from .costs import CostModel

logger = logging.getLogger(__name__)

_STAMP, _BUFFER, _SIZE, _REFS, _TEMPREF, _KEY = (
    attrgetter(name) for name in ("stamp", "buffer", "size", "refs", "tempref", "key")
)


class EvictionResult(NamedTuple):
    """What one eviction pass did."""

    evicted: int
    evicted_bytes: int
    spilled_bytes: int
    usage_before: int
    usage_after: int


class Victims(NamedTuple):
    """The entries a pass evicts, in eviction order, as columns: each entry with the buffer
    and the stamp it had in the snapshot, and whether it is recoverable without a spill."""

    entries: list
    buffers: list
    stamps: list
    recoverable: list[bool]


class Policy(NamedTuple):
    """The caps and the benefit a pass decides with."""

    soft_cap: int
    hard_cap: int
    benefit_per_gb: float


def plan(
    snapshot: list[Any],
    usage: int,
    now: float,
    policy: Policy,
    costs: CostModel,
    with_temprefs: bool = True,
) -> Victims:
    """The victims among ``snapshot`` (strong entries) when ``usage`` bytes are held.

    Attributes are read column by column (no per-entry objects: allocating 100 000 of
    them wakes the garbage collector), stamps first: any later growth of interest changes
    them, and the commit checks. ``with_temprefs=False`` skips the temprefs' decay when the
    cache has none."""
    import numpy as np

    from .eviction import victim_indices

    stamps = list(map(_STAMP, snapshot))
    buffers = list(map(_BUFFER, snapshot))
    sizes = np.array(list(map(_SIZE, snapshot)), dtype=np.int64)
    interest = np.array(list(map(_REFS, snapshot)), dtype=float)
    if with_temprefs:
        temprefs = list(map(_TEMPREF, snapshot))
        for i in [i for i, tempref in enumerate(temprefs) if tempref is not None]:
            interest[i] += decayed(temprefs[i]._params, now)
    cost, recoverable = costs.cost_array(list(map(_KEY, snapshot)), sizes)
    chosen = victim_indices(sizes, cost * interest, usage, *policy).tolist()
    return Victims(
        [snapshot[i] for i in chosen],
        [buffers[i] for i in chosen],
        [stamps[i] for i in chosen],
        recoverable[chosen].tolist(),
    )


def everything(snapshot: list[Any], costs: CostModel, can_spill: bool) -> Victims:
    """Every entry of ``snapshot`` that can leave memory without being lost, for
    :meth:`~seamless_core.cache.BufferCache.clear`: those recoverable without a spill, and
    with ``can_spill`` the others too (they are spilled first). Entries of unknown or zero
    size count for nothing and stay."""
    import numpy as np

    snapshot = [entry for entry in snapshot if entry.size]
    sizes = np.array(list(map(_SIZE, snapshot)), dtype=np.int64)
    recoverable = costs.cost_array(list(map(_KEY, snapshot)), sizes)[1].tolist()
    chosen = [i for i, safe in enumerate(recoverable) if safe or can_spill]
    return Victims(
        [snapshot[i] for i in chosen],
        [snapshot[i].buffer for i in chosen],
        [snapshot[i].stamp for i in chosen],
        [recoverable[i] for i in chosen],
    )


def spill(victims: Victims, write: Callable[[Checksum, Any], Any]) -> tuple[Victims, int, int]:
    """Write the victims that are not recoverable with ``write(checksum, buffer)``, which
    raises ``OSError`` (or ``ValueError``, ``AttributeError``) when it cannot. Returns the
    victims that may go (the written and the recoverable ones), the bytes written and the
    number of failures."""
    if all(victims.recoverable):
        return victims, 0, 0
    spilled = failures = 0
    kept = Victims([], [], [], [])
    for entry, buffer, stamp, safe in zip(*victims):
        if not safe:
            try:
                write(entry.checksum, buffer)
            except (OSError, AttributeError, ValueError) as exc:
                failures += 1
                logger.warning("not evicting %s: cannot spill it: %s", entry.checksum, str(exc))
                continue
            spilled += entry.size
        for column, value in zip(kept, (entry, buffer, stamp, True)):
            column.append(value)
    return kept, spilled, failures


def commit(
    victims: Victims, done: Callable[[], bool], demote: Callable[[Any], Any]
) -> tuple[int, int, list]:
    """Under the cache's lock: ``demote`` each victim unchanged since the snapshot, until
    ``done()``. Returns how many were evicted, their bytes, and the buffers demoted (for
    the caller to drop after the lock)."""
    evicted = freed = 0
    dropped = []
    for entry, buffer, stamp in zip(victims.entries, victims.buffers, victims.stamps):
        if done():
            break
        if entry.buffer is not buffer or entry.stamp != stamp:
            continue  # changed since the snapshot: left for the next pass
        freed += entry.size
        evicted += 1
        dropped.append(demote(entry))
    return evicted, freed, dropped
