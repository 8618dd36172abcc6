"""Hard cap means hard: an operation that pushes strong usage above the hard cap returns only
after eviction brought it back at or below it (or nothing evictable is left).

No timing: every check reads the usage right after a call returns. The background evictor
runs too (it only ever lowers the usage), as in a real session.
"""

from __future__ import annotations

import os

import pytest

from seamless_core import Buffer
from seamless_core.cache import BufferCache, set_buffer_cache

KIB, MIB = 1024, 1024**2


@pytest.fixture
def capped(tmp_path):
    """A background-evicting cache with a 4 MiB hard cap, spilling into the test's folder."""
    cache = BufferCache(soft_cap=1 * MIB, hard_cap=4 * MIB, spill_folder=tmp_path / "spill")
    set_buffer_cache(cache)
    yield cache
    cache.close()


def burst(count: int = 40, size: int = 256 * KIB) -> list[Buffer]:
    """``count`` distinct buffers of ``size`` bytes (10 MiB by default)."""
    return [Buffer(os.urandom(size)) for _ in range(count)]


def strong(cache: BufferCache) -> int:
    return cache.stats()["strong_bytes"]


def test_a_burst_of_increfs_stays_under_the_hard_cap(capped):
    buffers = burst()
    for buffer in buffers:
        capped.incref_buffer(buffer)
        assert strong(capped) <= capped.hard_cap
    assert capped.stats()["evictions"] > 0
    capped.check_totals()


def test_every_kind_of_promotion_stays_under_the_hard_cap(capped):
    # Weak buffers that gain interest become strong: through incref of the checksum, a
    # tempref, a get() of a referenced checksum, a registration of a referenced one.
    buffers = burst()
    for buffer in buffers:
        capped.register(buffer)
    for i, buffer in enumerate(buffers):
        checksum = buffer.compute_checksum()
        kind = i % 4
        if kind == 0:
            capped.incref(checksum)
        elif kind == 1:
            capped.tempref_buffer(buffer)
        elif kind == 2:
            capped.incref(checksum)
            capped.get(checksum)
        else:
            capped.tempref(checksum, buffer=buffer)
        assert strong(capped) <= capped.hard_cap
    capped.check_totals()


def test_evicted_buffers_are_not_lost(capped):
    buffers = burst()
    for buffer in buffers:
        capped.incref_buffer(buffer)
    checksums = [buffer.compute_checksum() for buffer in buffers]
    contents = [buffer.content for buffer in buffers]
    del buffers, buffer
    for checksum, content in zip(checksums, contents):
        assert checksum.resolve().content == content
        assert strong(capped) <= capped.hard_cap


def test_lowering_the_hard_cap_evicts_before_the_assignment_returns(capped):
    capped.set_caps(soft_cap=8 * MIB, hard_cap=16 * MIB)
    buffers = burst()
    for buffer in buffers:
        capped.incref_buffer(buffer)
    # above the soft cap, the background evictor may already have taken a few
    assert 8 * MIB <= strong(capped) <= 10 * MIB
    capped.set_caps(soft_cap=1 * MIB, hard_cap=3 * MIB)
    assert strong(capped) <= 3 * MIB


def test_nothing_evictable_returns_above_the_hard_cap(tmp_path):
    # No spill folder and no store: evicting would lose the buffers, so they stay, and the
    # operations still return.
    with BufferCache(soft_cap=1 * MIB, hard_cap=2 * MIB, spill_folder=None) as cache:
        buffers = burst(count=16)
        for buffer in buffers:
            cache.incref_buffer(buffer)
        assert strong(cache) == 4 * MIB
        assert cache.stats()["evictions"] == 0


def test_without_background_eviction_only_an_explicit_pass_evicts(tmp_path, clock):
    # A cache without the evictor evicts only in run_eviction_once(), as documented.
    cache = BufferCache(
        soft_cap=1 * MIB, hard_cap=2 * MIB, spill_folder=tmp_path / "spill", background=False
    )
    buffers = burst(count=16)
    for buffer in buffers:
        cache.incref_buffer(buffer)
    assert strong(cache) == 4 * MIB
    cache.run_eviction_once()
    assert strong(cache) <= 1 * MIB
