"""BufferCache: weak and strong tiers, normal refs, temprefs, stats and entries."""

from __future__ import annotations

import gc
import math
import os

import pytest

from seamless_core import Buffer, Checksum
from seamless_core.cache import (
    MIN_INTEREST,
    BufferCache,
    TempRef,
    default_spill_path,
    get_buffer_cache,
    set_buffer_cache,
)

# ``clock`` and ``cache``: the shared fixtures of tests/conftest.py.


def make(content: bytes) -> tuple[Buffer, Checksum]:
    buffer = Buffer(content)
    return buffer, buffer.get_checksum()


# -- weak tier ---------------------------------------------------------------------------------


def test_registered_buffer_is_weak(cache):
    buffer, checksum = make(b"weak")
    assert cache.get(checksum) is buffer
    assert checksum in cache
    stats = cache.stats()
    assert (stats["weak_count"], stats["weak_bytes"]) == (1, 4)
    assert (stats["strong_count"], stats["strong_bytes"]) == (0, 0)
    del buffer
    gc.collect()
    assert cache.get(checksum) is None
    assert checksum not in cache
    assert cache.stats()["weak_count"] == 0
    assert len(cache) == 0
    cache.check_totals()


def test_hits_and_misses(cache):
    buffer, checksum = make(b"hit")
    cache.get(checksum)
    cache.get(Checksum.of(b"miss"))
    cache.get(checksum.hex())
    stats = cache.stats()
    assert (stats["hits"], stats["misses"]) == (2, 1)
    del buffer


def test_newest_registration_wins(cache):
    first, checksum = make(b"same")
    second = Buffer(b"same")
    cache.register(second)
    del first
    gc.collect()
    assert cache.get(checksum) is second
    cache.check_totals()


def test_a_dying_second_copy_does_not_hide_the_live_first(cache):
    first, checksum = make(b"same")
    second = Buffer(b"same")
    cache.register(second)
    del second
    gc.collect()
    assert cache.get(checksum) is first
    cache.check_totals()


# -- normal refs -------------------------------------------------------------------------------


def test_incref_keeps_buffer_alive(cache):
    buffer, checksum = make(b"strong")
    checksum.incref()
    del buffer
    gc.collect()
    assert cache.get(checksum) == b"strong"
    assert cache.stats()["strong_count"] == 1
    checksum.decref()
    gc.collect()
    assert cache.get(checksum) is None
    assert len(cache) == 0
    cache.check_totals()


def test_buffer_incref_decref(cache):
    buffer = Buffer(b"via buffer")
    buffer.incref()
    checksum = buffer.checksum
    del buffer
    gc.collect()
    assert cache.get(checksum) == b"via buffer"
    Buffer(b"via buffer").decref()
    gc.collect()
    assert cache.get(checksum) is None


def test_decref_without_incref_logs_and_changes_nothing(cache, caplog):
    # 0.1.4 lets such a decref pass; we log it, and it must not eat a later incref.
    buffer, checksum = make(b"x")
    with caplog.at_level("WARNING", logger="seamless_core.cache.buffer_cache"):
        cache.decref(checksum)
    assert "without a matching incref" in caplog.text
    cache.incref(checksum)
    cache.decref(checksum)
    cache.decref(checksum)
    assert all(row["normal_refs"] >= 0 for row in cache.entries())
    cache.incref(checksum)
    assert cache.entry(checksum)["normal_refs"] == 1
    cache.check_totals()
    del buffer


def test_n_increfs_then_n_decrefs_restore_the_state(cache):
    buffer, checksum = make(b"roundtrip")
    before = cache.entries(), cache.stats()
    for _ in range(5):
        cache.incref(checksum)
    assert cache.entries()[0]["normal_refs"] == 5
    for _ in range(5):
        cache.decref(checksum)
    assert (cache.entries(), cache.stats()) == before
    del buffer


def test_incref_before_the_buffer_exists(cache):
    checksum = Checksum.of(b"later")
    cache.incref(checksum)
    (row,) = cache.entries()
    assert row["size"] is None and not row["strong"] and row["normal_refs"] == 1
    assert cache.get(checksum) is None
    buffer = Buffer(b"later")
    buffer.get_checksum()  # registers: the ref attaches the buffer
    del buffer
    gc.collect()
    assert cache.get(checksum) == b"later"
    (row,) = cache.entries()
    assert row["size"] == 5 and row["strong"]
    cache.decref(checksum)
    cache.check_totals()


def test_weakly_held_buffer_is_promoted_by_incref(cache):
    buffer, checksum = make(b"promote me")
    cache.incref(checksum)
    del buffer
    gc.collect()
    assert cache.get(checksum) == b"promote me"


class Unweakrefable:
    """A buffer-like object without ``__weakref__``."""

    __slots__ = ("checksum", "content")

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.checksum = Checksum.of(content)

    def __len__(self) -> int:
        return len(self.content)


def test_objects_that_cannot_be_weakly_referenced(cache):
    obj = Unweakrefable(b"no weakrefs")
    cache.register(obj)  # nobody asked to keep it: nothing is remembered
    assert cache.get(obj.checksum) is None
    assert len(cache) == 0

    cache.incref_buffer(obj)
    assert cache.get(obj.checksum) is obj
    assert cache.stats()["strong_bytes"] == len(obj)
    cache.decref(obj.checksum)  # out of memory: it cannot go to the weak tier
    assert cache.get(obj.checksum) is None
    assert len(cache) == 0
    cache.check_totals()


# -- temprefs ----------------------------------------------------------------------------------


def test_tempref_decays_and_vanishes_after_28_seconds(cache, clock):
    buffer, checksum = make(b"temporary")
    tempref = checksum.tempref()
    assert isinstance(tempref, TempRef)
    del buffer
    gc.collect()
    assert tempref.current_interest() == 128.0
    clock.advance(2.0)
    assert tempref.current_interest() == 64.0
    clock.advance(26.0)  # 28 s: 128 / 2**14 == 1/128, still there
    assert tempref.current_interest() == MIN_INTEREST
    assert cache.get(checksum) == b"temporary"
    clock.advance(1e-6)
    assert tempref.current_interest() == 0.0
    assert not tempref.alive
    stats = cache.stats()
    assert stats["tempref_count"] == 0 and stats["strong_count"] == 0
    gc.collect()
    assert cache.get(checksum) is None
    cache.check_totals()


def test_tempref_time_left_and_repr(cache, clock):
    tempref = cache.tempref(Checksum.of(b"r"), interest=128.0)
    assert tempref.time_left() == pytest.approx(28.0)
    clock.advance(10.0)
    assert tempref.time_left() == pytest.approx(18.0)
    text = repr(tempref)
    assert "18.0 s left" in text and "interest=4" in text
    clock.advance(20.0)
    assert "expired" in repr(tempref)
    assert tempref.time_left() == 0.0


def test_interest_is_refs_plus_tempref(cache, clock):
    checksum = Checksum.of(b"both")
    cache.incref(checksum)
    cache.incref(checksum)
    cache.tempref(checksum, interest=8.0, fade_factor=2.0, fade_interval=1.0)
    clock.advance(1.0)
    (row,) = cache.entries()
    assert row["normal_refs"] + row["tempref_interest"] == 6.0
    clock.advance(100.0)
    (row,) = cache.entries()
    assert row["tempref_interest"] == 0.0 and row["normal_refs"] == 2


def test_refresh_never_lowers_interest(cache, clock):
    checksum = Checksum.of(b"refresh")
    tempref = cache.tempref(checksum, interest=100.0, fade_factor=2.0, fade_interval=10.0)
    clock.advance(10.0)
    again = cache.tempref(checksum, interest=10.0, fade_factor=4.0, fade_interval=1.0)
    assert again is tempref  # one tempref per checksum
    assert tempref.current_interest() == 50.0
    clock.advance(10.0)
    assert tempref.current_interest() == 25.0  # the slower fade is kept
    cache.tempref(checksum, interest=1000.0)
    assert tempref.current_interest() == 1000.0


def test_a_new_tempref_after_expiry(cache, clock):
    checksum = Checksum.of(b"again")
    first = cache.tempref(checksum, interest=1.0, fade_factor=2.0, fade_interval=1.0)
    clock.advance(8.0)  # 1/256
    assert cache.stats()["tempref_count"] == 0
    second = cache.tempref(checksum, interest=4.0)
    assert second is not first and second.current_interest() == 4.0


def test_tempref_born_below_the_threshold_holds_nothing(cache):
    buffer, checksum = make(b"faint")
    tempref = cache.tempref(checksum, interest=MIN_INTEREST / 2)
    assert not tempref.alive
    assert cache.stats()["tempref_count"] == 0
    assert cache.stats()["strong_count"] == 0
    del buffer


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interest": 0.0},
        {"interest": -1.0},
        {"interest": math.inf},
        {"fade_factor": 1.0},
        {"fade_factor": math.nan},
        {"fade_interval": 0.0},
    ],
)
def test_bad_tempref_parameters(cache, kwargs):
    with pytest.raises(ValueError):
        cache.tempref(Checksum.of(b"bad"), **kwargs)
    assert len(cache) == 0


def test_buffer_tempref_holds_the_buffer(cache, clock):
    buffer = Buffer(b"held for a while")
    buffer.tempref(interest=2.0, fade_factor=2.0, fade_interval=1.0)
    checksum = buffer.checksum
    del buffer
    gc.collect()
    assert cache.get(checksum) == b"held for a while"
    clock.advance(9.0)
    gc.collect()
    assert cache.get(checksum) is None


# -- observation -------------------------------------------------------------------------------


def test_stats_keys(cache):
    stats = cache.stats()
    for key in (
        "strong_bytes",
        "strong_count",
        "weak_bytes",
        "weak_count",
        "soft_cap",
        "hard_cap",
        "benefit_per_gb",
        "evictions",
        "evicted_bytes",
        "spilled_bytes",
        "hits",
        "misses",
    ):
        assert key in stats


def test_entries_rows(cache):
    buffer, checksum = make(b"row")
    cache.incref(checksum)
    (row,) = cache.entries()
    assert row["checksum"] == checksum
    assert row["size"] == 3
    assert row["strong"] is True
    assert row["normal_refs"] == 1
    assert row["tempref_interest"] == 0.0
    assert row["cost"] == pytest.approx(3 / 1024**3)  # read_buffer, via the spill folder
    del buffer


def test_repr(cache):
    assert "BufferCache" in repr(cache)


# -- the process-wide cache --------------------------------------------------------------------


def test_process_wide_cache_defaults():
    set_buffer_cache(None)
    cache = get_buffer_cache()
    assert cache is get_buffer_cache()
    stats = cache.stats()
    assert stats["soft_cap"] == 5 * 1024**3
    assert stats["hard_cap"] == 50 * 1024**3
    assert stats["benefit_per_gb"] == 2.0
    assert stats["spill_folder"] == os.environ["SEAMLESS_SPILL_FOLDER"]


def test_default_spill_folder_location(monkeypatch):
    monkeypatch.delenv("SEAMLESS_SPILL_FOLDER")
    cache = BufferCache(background=False)
    assert cache.stats()["spill_folder"] == default_spill_path()
    assert os.path.basename(default_spill_path()).startswith("seamless-spill-")
    # Nothing is created until something is spilled.


@pytest.mark.parametrize("word", ["off", "0", "none", ""])
def test_spill_folder_disabled_by_environment(monkeypatch, word):
    monkeypatch.setenv("SEAMLESS_SPILL_FOLDER", word)
    cache = BufferCache(background=False)
    assert cache.spill_folder is None
    assert cache.costs.cost(Checksum.of(b"x"), 1) == math.inf


def test_bad_caps():
    with pytest.raises(ValueError):
        BufferCache(soft_cap=10, hard_cap=5)
    with pytest.raises(ValueError):
        BufferCache(benefit_per_gb=-1)


def test_refreshes_do_not_grow_the_expiry_queue(cache, clock):
    checksum = Checksum.of(b"busy")
    for _ in range(1000):
        cache.tempref(checksum)
        clock.advance(0.01)
    assert len(cache._expiry) == 1
    clock.advance(40.0)
    assert cache.stats()["tempref_count"] == 0
    assert len(cache._expiry) == 0


def test_default_spill_folder_is_private(monkeypatch, tmp_path):
    monkeypatch.delenv("SEAMLESS_SPILL_FOLDER")
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    cache = BufferCache(background=False)
    folder = cache.spill_folder
    assert folder.path == default_spill_path() and folder.path.startswith(str(tmp_path))
    assert os.stat(folder.path).st_mode & 0o777 == 0o700


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs chown")
def test_default_spill_folder_of_another_user_is_refused(monkeypatch, tmp_path, caplog):
    monkeypatch.delenv("SEAMLESS_SPILL_FOLDER")
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    os.makedirs(default_spill_path())
    os.chown(default_spill_path(), 12345, 12345)
    cache = BufferCache(background=False)
    assert cache.spill_folder is None
    assert cache.stats()["spill_folder"] is None
    assert "another user" in caplog.text


def test_entry_is_the_entries_row_of_one_checksum(cache):
    buffer, checksum = make(b"one row")
    checksum.incref()
    (row,) = [r for r in cache.entries() if r["checksum"] == checksum]
    assert cache.entry(checksum) == row
    assert cache.entry(checksum.hex()) == row
    assert cache.entry(Checksum.of(b"unknown")) is None
    checksum.decref()
