"""Eviction: costs, the choice of victims, spilling, and the background evictor."""

from __future__ import annotations

import gc
import math
import time

import numpy as np
import pytest
from helpers.cache import DictStore, FakeClock

from seamless_core import Buffer, CacheMissError, Checksum, stores
from seamless_core.cache import BufferCache, CostModel, set_buffer_cache
from seamless_core.cache.eviction import benefit, choose_victims
from seamless_core.stores import BufferFolder

GIB = 1024**3
MIB = 1024**2


# -- the cost model --------------------------------------------------------------------------


def test_download_profiles():
    costs = CostModel()
    a, b, c = (Checksum.of(x) for x in (b"a", b"b", b"c"))
    costs.set_download_profile(a, "read_buffer")
    costs.set_download_profile(b, "local_hashserver")
    costs.set_download_profile(c, "remote_hashserver")
    assert costs.cost(a, 2 * GIB) == 2.0
    assert costs.cost(b, 2 * GIB) == 20.0
    assert costs.cost(c, 2 * GIB) == 200.0
    assert costs.cost(a, 1) == pytest.approx(1 / GIB)
    assert costs.cost(b, 1) == 0.001
    assert costs.cost(c, 1) == 0.01
    with pytest.raises(ValueError, match="remote_hashserver"):
        costs.set_download_profile(a, "carrier_pigeon")


def test_cheapest_way_back_wins():
    costs = CostModel()
    cs = Checksum.of(b"x")
    costs.set_download_profile(cs, "remote_hashserver")
    costs.set_download_profile(cs, "local_hashserver")
    costs.set_download_profile(cs, "remote_hashserver")  # never makes it more expensive
    assert costs.download_profile(cs) == "local_hashserver"
    assert costs.cost(cs, GIB) == 10.0
    costs.record_transformation(cs, 30.0)
    assert costs.cost(cs, GIB) == 3.0  # recomputing is cheaper than the download
    costs.record_transformation(cs, 300.0)
    assert costs.cost(cs, GIB) == 3.0


def test_manual_cost_overrides():
    costs = CostModel()
    cs = Checksum.of(b"x")
    costs.record_transformation(cs, 1.0)
    costs.set_manual_cost(cs, 42.0)
    assert costs.cost(cs, GIB) == 42.0
    costs.set_manual_cost(cs, None)
    assert costs.cost(cs, GIB) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        costs.set_manual_cost(cs, -1)
    costs.forget(cs)
    assert costs.cost(cs, GIB) == 1.0  # undeclared: read_buffer, from the spill folder


def test_undeclared_cost_without_spill_is_infinite():
    costs = CostModel(undeclared_profile=None)
    cs = Checksum.of(b"x")
    assert costs.cost(cs, GIB) == math.inf
    assert costs.cost_array([cs.bytes()], np.array([GIB]))[0].tolist() == [math.inf]
    costs.record_transformation(cs, 10.0)
    assert costs.cost(cs, GIB) == 1.0
    assert costs.cost_array([cs.bytes()], np.array([GIB]))[0].tolist() == [1.0]


# -- choosing victims (pure) -----------------------------------------------------------------


def test_benefit_function():
    assert benefit(5, 3, soft_cap=10, hard_cap=20, benefit_per_gb=2.0) == 0.0
    assert benefit(15, 3, 10, 20, 2.0) == pytest.approx(6 / GIB)
    assert benefit(15, 10, 10, 20, 2.0) == pytest.approx(10 / GIB)  # only down to the soft cap
    assert benefit(21, 1, 10, 20, 2.0) == math.inf


def test_nothing_is_evicted_at_or_below_the_soft_cap():
    candidates = [("a", 10, 0.0)]
    assert choose_victims(candidates, 100, 100, 200, 2.0) == []


def test_lowest_loss_per_gb_first_between_the_caps():
    size = 10 * MIB
    candidates = [
        ("expensive", size, 1.0),
        ("cheap", size, 1e-9),
        ("medium", size, 1e-5),
        ("unknown", None, 0.0),
        ("lossless", 2 * size, math.inf),
    ]
    # usage just above the soft cap: removing one buffer is enough
    assert choose_victims(candidates, 105 * MIB, 100 * MIB, 1000 * MIB, 2.0) == ["cheap"]
    # far above: the next ones go while their loss is below the benefit (2 units/GiB)
    assert choose_victims(candidates, 500 * MIB, 100 * MIB, 1000 * MIB, 2.0) == [
        "cheap",
        "medium",
    ]


def test_above_the_hard_cap_everything_evictable_may_go():
    candidates = [("a", 40, 1e9), ("b", 40, 1e12), ("c", 40, 1e6), ("z", None, 0.0)]
    assert choose_victims(candidates, 150, 10, 100, 2.0) == ["c", "a"]
    assert choose_victims(candidates, 500, 10, 100, 2.0) == ["c", "a", "b"]


# -- evicting from a cache -------------------------------------------------------------------


@pytest.fixture
def clock():
    return FakeClock()


def small_cache(tmp_path, clock, **kwargs):
    kwargs.setdefault("spill_folder", tmp_path / "spill")
    cache = BufferCache(clock=clock, background=False, **kwargs)
    set_buffer_cache(cache)
    return cache


def test_evicted_buffer_comes_back_from_the_spill_folder(tmp_path, clock):
    cache = small_cache(tmp_path, clock, soft_cap=0, hard_cap=10)
    content = b"only copy in the world" * 10
    buffer = Buffer(content)
    checksum = buffer.get_checksum()
    checksum.incref()
    del buffer
    gc.collect()
    assert cache.stats()["strong_bytes"] == len(content)

    result = cache.run_eviction_once()
    assert result.evicted == 1 and result.spilled_bytes == len(content)
    gc.collect()
    stats = cache.stats()
    assert stats["strong_bytes"] == 0 and stats["weak_count"] == 0
    assert stats["evictions"] == 1 and stats["spilled_bytes"] == len(content)
    assert cache.get(checksum) is None  # no Python object holds it any more
    assert cache.spill_folder.has(checksum)

    resolved = checksum.resolve()
    assert resolved == content
    assert cache.stats()["strong_bytes"] == len(content)  # the ref holds it again
    assert cache.costs.download_profile(checksum) == "read_buffer"
    cache.check_totals()


def test_buffers_held_by_a_store_are_not_spilled(tmp_path, clock):
    cache = small_cache(tmp_path, clock, soft_cap=0, hard_cap=10)
    store = stores.add(DictStore("local_hashserver"))
    buffer = Buffer(b"x" * 100)
    checksum = buffer.get_checksum()
    store.put(checksum, buffer.content)
    cache.costs.set_download_profile(checksum, "local_hashserver")
    cache.incref(checksum)
    del buffer
    assert cache.run_eviction_once().evicted == 1
    assert cache.stats()["spilled_bytes"] == 0
    assert not cache.spill_folder.has(checksum)
    assert checksum.resolve() == b"x" * 100


def test_without_spill_folder_undeclared_buffers_stay(tmp_path, clock):
    cache = small_cache(tmp_path, clock, soft_cap=0, hard_cap=10, spill_folder=None)
    keep, gone = Buffer(b"k" * 100), Buffer(b"g" * 100)
    keep.incref()
    gone.incref()
    cache.costs.record_transformation(gone.checksum, 1.0)
    result = cache.run_eviction_once()
    assert result.evicted == 1
    assert [row["strong"] for row in cache.entries()] == [True, False]
    assert result.usage_after == 100 > cache.hard_cap  # only unevictable bytes remain


def test_failed_spill_keeps_the_buffer(tmp_path, clock, monkeypatch):
    cache = small_cache(tmp_path, clock, soft_cap=0, hard_cap=10)
    buffer = Buffer(b"y" * 100)
    buffer.incref()

    def broken_put(checksum, content):
        raise OSError("no space left")

    monkeypatch.setattr(cache.spill_folder, "put", broken_put)
    result = cache.run_eviction_once()
    assert result.evicted == 0
    stats = cache.stats()
    assert stats["spill_failures"] == 1 and stats["strong_bytes"] == 100


def test_between_the_caps_only_worthwhile_evictions(tmp_path, clock):
    # 1 unit/GiB to bring back, 2 units/GiB gained: evict when interest < 2
    cache = small_cache(tmp_path, clock, soft_cap=100, hard_cap=10_000)
    low, high = Buffer(b"l" * 300), Buffer(b"h" * 300)
    low.incref()
    for _ in range(3):
        high.incref()
    result = cache.run_eviction_once()
    assert result.evicted == 1
    rows = {row["checksum"]: row for row in cache.entries()}
    assert not rows[low.checksum]["strong"] and rows[high.checksum]["strong"]
    assert cache.run_eviction_once().evicted == 0  # a second pass changes nothing


def test_decaying_tempref_becomes_evictable(tmp_path, clock):
    cache = small_cache(tmp_path, clock, soft_cap=100, hard_cap=10_000)
    buffer = Buffer(b"t" * 300)
    buffer.tempref()  # 128, halving every 2 s
    assert cache.run_eviction_once().evicted == 0
    clock.advance(14.0)  # interest 1
    assert cache.run_eviction_once().evicted == 1


def test_unknown_sizes_are_never_evicted(tmp_path, clock):
    cache = small_cache(tmp_path, clock, soft_cap=0, hard_cap=0)
    cache.incref(Checksum.of(b"never loaded"))
    assert cache.run_eviction_once().evicted == 0
    assert len(cache) == 1


def test_concurrent_ref_during_a_pass_cancels_that_eviction(tmp_path, clock, monkeypatch):
    cache = small_cache(tmp_path, clock, soft_cap=0, hard_cap=10)
    buffer = Buffer(b"z" * 100)
    buffer.incref()
    real_spill = cache._spill_into

    def spill_then_incref(checksum, buffer):
        folder = real_spill(checksum, buffer)
        cache.incref(checksum)  # arrives between decision and commit
        return folder

    monkeypatch.setattr(cache, "_spill_into", spill_then_incref)
    assert cache.run_eviction_once().evicted == 0
    monkeypatch.undo()
    assert cache.run_eviction_once().evicted == 1


# -- the background evictor ------------------------------------------------------------------


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def test_background_eviction_above_the_hard_cap(tmp_path):
    cache = BufferCache(
        soft_cap=100,
        hard_cap=1000,
        spill_folder=tmp_path / "spill",
        eviction_interval=60.0,  # only the hard-cap trigger can explain a prompt pass
    )
    set_buffer_cache(cache)
    try:
        buffers = [Buffer(bytes([i]) * 400) for i in range(3)]
        for buffer in buffers:
            buffer.incref()
        assert wait_for(lambda: cache.stats()["strong_bytes"] <= 1000)
        assert cache.stats()["evictions"] >= 1
    finally:
        cache.close()
    assert not cache._thread.is_alive()


def test_background_eviction_between_the_caps(tmp_path):
    cache = BufferCache(
        soft_cap=100, hard_cap=100_000, spill_folder=tmp_path / "spill", eviction_interval=0.01
    )
    set_buffer_cache(cache)
    try:
        buffer = Buffer(b"q" * 500)
        buffer.tempref(interest=4.0, fade_factor=2.0, fade_interval=0.05)
        # evicted once the interest has decayed below 2, by a periodic pass
        assert wait_for(lambda: cache.stats()["evictions"] == 1)
    finally:
        cache.close()


def test_evictor_thread_ends_with_its_cache(tmp_path):
    cache = BufferCache(soft_cap=0, hard_cap=10, spill_folder=tmp_path / "spill")
    buffer = Buffer(b"w" * 100)
    cache.incref_buffer(buffer)
    thread = cache._thread
    assert thread is not None
    del cache
    gc.collect()
    thread.join(30.0)
    assert not thread.is_alive()


def test_resolving_an_evicted_buffer_with_refs_missing_everywhere(tmp_path, clock):
    cache = small_cache(tmp_path, clock, soft_cap=0, hard_cap=10, spill_folder=None)
    cache.costs.set_download_profile(Checksum.of(b"m" * 50), "remote_hashserver")  # a lie
    buffer = Buffer(b"m" * 50)
    buffer.incref()
    checksum = buffer.checksum
    assert cache.run_eviction_once().evicted == 1
    del buffer
    gc.collect()
    with pytest.raises(CacheMissError):
        checksum.resolve()


def test_evictors_stop_at_exit(tmp_path):
    from seamless_core.cache import evictor

    cache = BufferCache(soft_cap=0, hard_cap=10, spill_folder=tmp_path / "spill")
    cache.incref_buffer(Buffer(b"e" * 100))
    thread = cache._thread
    evictor._stop_evictors()
    assert not thread.is_alive()


def test_a_size_limited_spill_folder_keeps_what_the_cache_references(tmp_path, clock, monkeypatch):
    monkeypatch.setenv("SEAMLESS_SPILL_SIZE_LIMIT", "3000")
    cache = small_cache(tmp_path, clock, soft_cap=0, hard_cap=10)
    checksums = []
    for n in range(10):
        buffer = Buffer(b"%04d" % n * 250)  # 1000 bytes, the only copy
        checksum = buffer.get_checksum()
        checksum.incref()
        checksums.append(checksum)
        del buffer
    gc.collect()
    assert cache.run_eviction_once().evicted == 10
    folder = cache.spill_folder
    assert folder.size_limit == 3000
    # over the limit, but every buffer is referenced: none may go
    assert all(folder.has(c) for c in checksums)
    for checksum in checksums[:8]:
        checksum.decref()
    extra = Buffer(b"x" * 1000)
    extra_checksum = extra.get_checksum()
    extra_checksum.incref()
    del extra
    gc.collect()
    cache.run_eviction_once()  # spills the extra buffer: the put collects
    kept = [*checksums[8:], extra_checksum]
    assert [folder.has(c) for c in checksums[:8]] == [False] * 8
    assert all(c.resolve() is not None for c in kept)
    stats = cache.stats()
    assert stats["spill_size_limit"] == 3000
    assert stats["spill_disk_bytes"] == folder.disk_usage() <= 3000 + 100
    cache.check_totals()


def test_a_bad_spill_size_limit_names_the_variable(tmp_path, clock, monkeypatch, caplog):
    monkeypatch.setenv("SEAMLESS_SPILL_SIZE_LIMIT", "lots")
    cache = small_cache(tmp_path, clock)
    with caplog.at_level("WARNING"):
        assert cache.spill_folder is None  # unusable: spilling off, with the reason
    assert "SEAMLESS_SPILL_SIZE_LIMIT" in caplog.text


def test_a_size_limited_folder_given_as_spill_folder_asks_the_cache(tmp_path, clock):
    folder = BufferFolder(tmp_path / "given", writable=True, size_limit=1500)
    cache = small_cache(tmp_path, clock, soft_cap=0, hard_cap=10, spill_folder=folder)
    checksums = []
    for n in range(3):
        buffer = Buffer(b"%04d" % n * 250)
        checksum = buffer.get_checksum()
        checksum.incref()
        checksums.append(checksum)
        del buffer
    gc.collect()
    assert cache.run_eviction_once().evicted == 3
    # 3000 bytes over a 1500-byte limit, all referenced: the folder asked the cache, kept all
    assert all(folder.has(c) for c in checksums)
    assert all(c.resolve() is not None for c in checksums)
