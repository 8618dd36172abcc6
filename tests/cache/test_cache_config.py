"""The cache's knobs at run time and from the environment, clear(), the cap warnings, the
retention advice for a size-limited spill folder, and a light ``import seamless_core.cache``."""

from __future__ import annotations

import gc
import math
import os

import pytest
from helpers.cache import DictStore

from seamless_core import Buffer, Checksum
from seamless_core.cache import BufferCache, get_buffer_cache, parse_size, set_buffer_cache
from seamless_core.cache.settings import caps_from_environment

KIB, MIB, GIB = 1024, 1024**2, 1024**3


# -- sizes with units ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("8GiB", 8 * GIB),
        ("512 MB", 512 * 1000**2),
        ("1.5g", 3 * GIB // 2),
        ("4096", 4096),
        (" 2 KiB ", 2 * KIB),
        ("3tb", 3 * 1000**4),
        ("10 b", 10),
        (4096, 4096),
        (0, 0),
    ],
)
def test_sizes_with_units(text, size):
    assert parse_size(text, "soft_cap") == size


@pytest.mark.parametrize("text", ["lots", "8 GiBs", "-1", "1e9", "", "GiB", "8 G i B"])
def test_bad_size_names_the_knob_and_the_value(text):
    with pytest.raises(ValueError, match="soft_cap") as info:
        parse_size(text, "soft_cap")
    assert repr(text) in str(info.value) or text == "-1"


@pytest.mark.parametrize("value", [True, None, 1.5, -5, math.inf, [1]])
def test_bad_size_types(value):
    with pytest.raises((TypeError, ValueError), match="hard_cap"):
        parse_size(value, "hard_cap")


# -- run-time knobs ------------------------------------------------------------------------------


def test_caps_settable_and_validated(cache):
    cache.soft_cap = "1GiB"
    cache.hard_cap = "2 GiB"
    assert (cache.soft_cap, cache.hard_cap) == (GIB, 2 * GIB)
    with pytest.raises(ValueError, match="must not exceed the hard cap"):
        cache.soft_cap = "3GiB"
    with pytest.raises(ValueError, match="must not exceed the hard cap"):
        cache.hard_cap = 512 * MIB
    with pytest.raises(ValueError, match="soft_cap"):
        cache.soft_cap = "plenty"
    with pytest.raises(ValueError, match="negative"):
        cache.hard_cap = -1
    assert (cache.soft_cap, cache.hard_cap) == (GIB, 2 * GIB)  # nothing changed
    cache.set_caps(soft_cap="4GiB", hard_cap="8GiB")  # both at once: no order to mind
    assert cache.stats()["soft_cap"] == 4 * GIB
    assert cache.stats()["hard_cap"] == 8 * GIB


def test_constructor_takes_units_too(tmp_path):
    with BufferCache("1 MiB", "2MiB", spill_folder=None, background=False) as cache:
        assert (cache.soft_cap, cache.hard_cap) == (MIB, 2 * MIB)
    with pytest.raises(ValueError, match="must not exceed"):
        BufferCache("2MiB", "1MiB", spill_folder=None, background=False)


def test_benefit_and_interval_settable_and_validated(cache):
    cache.benefit_per_gb = 5
    assert cache.stats()["benefit_per_gb"] == 5.0
    cache.eviction_interval = 0.25
    assert cache.eviction_interval == 0.25
    for bad in (-1.0, math.nan):
        with pytest.raises(ValueError, match="benefit_per_gb"):
            cache.benefit_per_gb = bad
    for bad in (0, -1.0, math.inf):
        with pytest.raises(ValueError, match="eviction_interval"):
            cache.eviction_interval = bad
    assert (cache.benefit_per_gb, cache.eviction_interval) == (5.0, 0.25)


def test_raising_the_soft_cap_changes_what_a_pass_evicts(cache):
    buffers = [Buffer(os.urandom(100 * KIB)) for _ in range(10)]
    for buffer in buffers:
        cache.incref_buffer(buffer)
    cache.set_caps(soft_cap=2 * MIB, hard_cap=4 * MIB)
    assert cache.run_eviction_once().evicted == 0
    cache.soft_cap = 0
    assert cache.run_eviction_once().evicted == 10


def test_spill_folder_settable(cache, tmp_path):
    buffer = Buffer(b"a" * 1000)
    cache.incref_buffer(buffer)
    cache.soft_cap = 0
    cache.spill_folder = tmp_path / "elsewhere"
    assert cache.spill_path == str(tmp_path / "elsewhere")
    assert cache.run_eviction_once().spilled_bytes == 1000
    assert (tmp_path / "elsewhere").is_dir()
    assert cache.spill_folder.upload_target is False
    assert cache.spill_folder.get(buffer.compute_checksum()) is not None


def test_spill_folder_change_never_strands_a_buffer(cache, tmp_path):
    checksum = Buffer(b"only here" * 100).get_checksum()
    cache.incref(checksum, buffer=Buffer(b"only here" * 100))
    cache.soft_cap = 0
    assert cache.run_eviction_once().evicted == 1
    gc.collect()
    assert checksum not in cache  # out of memory: its only copy is in the spill folder
    with pytest.raises(ValueError, match="only copy"):
        cache.spill_folder = tmp_path / "elsewhere"
    with pytest.raises(ValueError, match="only copy"):
        cache.spill_folder = None
    assert cache.spill_path == str(tmp_path / "spill")
    assert checksum.resolve().content == b"only here" * 100  # back in memory: may change now
    cache.spill_folder = None
    assert cache.spill_path is None and cache.spill_folder is None
    cache.decref(checksum)


def test_spill_folder_off_makes_unrecoverable_buffers_stay(cache):
    cache.spill_folder = None
    buffer = Buffer(b"kept" * 100)
    cache.incref_buffer(buffer)
    cache.soft_cap = 0
    assert cache.run_eviction_once().evicted == 0


# -- the environment ---------------------------------------------------------------------


def test_caps_from_the_environment_mapping():
    defaults = (5 * GIB, 50 * GIB)
    assert caps_from_environment(*defaults, {}) == defaults
    env = {"SEAMLESS_SOFT_CAP": "1GiB", "SEAMLESS_HARD_CAP": "2GiB"}
    assert caps_from_environment(*defaults, env) == (GIB, 2 * GIB)
    # One cap alone: the other keeps its default unless they would cross.
    assert caps_from_environment(*defaults, {"SEAMLESS_HARD_CAP": "4GiB"}) == (4 * GIB, 4 * GIB)
    assert caps_from_environment(*defaults, {"SEAMLESS_SOFT_CAP": "60GiB"}) == (
        60 * GIB,
        60 * GIB,
    )
    assert caps_from_environment(*defaults, {"SEAMLESS_SOFT_CAP": "8GiB"}) == (8 * GIB, 50 * GIB)
    with pytest.raises(ValueError, match="SEAMLESS_HARD_CAP.*lots"):
        caps_from_environment(*defaults, {"SEAMLESS_HARD_CAP": "lots"})
    with pytest.raises(ValueError, match="SEAMLESS_SOFT_CAP=3GiB exceeds SEAMLESS_HARD_CAP"):
        caps_from_environment(*defaults, {"SEAMLESS_SOFT_CAP": "3GiB", "SEAMLESS_HARD_CAP": "2G"})


def test_environment_sets_the_process_wide_cache(fresh_python):
    code = (
        "from seamless_core.cache import get_buffer_cache\n"
        "cache = get_buffer_cache()\n"
        "print(cache.soft_cap, cache.hard_cap)\n"
    )
    env = dict(os.environ, SEAMLESS_SOFT_CAP="512 MiB", SEAMLESS_HARD_CAP="1GiB")
    assert fresh_python(code, env=env).stdout.split() == [str(512 * MIB), str(GIB)]
    env["SEAMLESS_HARD_CAP"] = "a lot"
    done = fresh_python(code, env=env, check=False)
    assert done.returncode != 0
    assert "SEAMLESS_HARD_CAP" in done.stderr and "'a lot'" in done.stderr


def test_the_environment_is_read_when_the_cache_is_made(monkeypatch):
    monkeypatch.setenv("SEAMLESS_SOFT_CAP", "3MiB")
    monkeypatch.setenv("SEAMLESS_HARD_CAP", "6MiB")
    set_buffer_cache(None)
    cache = get_buffer_cache()
    assert (cache.soft_cap, cache.hard_cap) == (3 * MIB, 6 * MIB)


# -- clear() -----------------------------------------------------------------------------


def test_clear_releases_what_can_leave_memory(cache):
    store = DictStore("local_hashserver")
    recoverable = Buffer(b"stored" * 100)
    store.data[recoverable.compute_checksum()] = recoverable.content
    cache.costs.add_holder(recoverable.compute_checksum(), store)
    spilled = Buffer(b"spilled" * 100)
    tempref = Buffer(b"tempref" * 100)
    cache.incref_buffer(recoverable)
    cache.incref_buffer(spilled)
    cache.tempref_buffer(tempref)
    result = cache.clear()
    assert (result.evicted, result.evicted_bytes) == (3, 2000)
    assert result.spilled_bytes == 1400  # the two that nothing else could bring back
    stats = cache.stats()
    assert (stats["strong_bytes"], stats["strong_count"]) == (0, 0)
    assert stats["referenced_count"] == 3  # interest is kept
    assert cache.is_referenced(spilled.compute_checksum())
    checksums = [b.compute_checksum() for b in (spilled, tempref)]
    del spilled, tempref
    gc.collect()
    folder = cache.spill_folder
    for checksum in checksums:
        assert folder.get(checksum) is not None
    cache.check_totals()


def test_clear_keeps_the_only_copy_when_it_cannot_spill(cache):
    cache.spill_folder = None
    buffer = Buffer(b"alone" * 100)
    cache.incref_buffer(buffer)
    assert cache.clear().evicted == 0
    assert cache.stats()["strong_bytes"] == 500
    assert cache.stats()["spill_failures"] == 0  # not tried: there is nowhere to spill


def test_clear_of_an_empty_cache(cache):
    assert cache.clear().evicted == 0


# -- warnings ------------------------------------------------------------------------------------


def test_caps_above_the_machine_memory_warn(cache):
    import psutil

    memory = psutil.virtual_memory().total
    cache.set_caps(soft_cap=MIB, hard_cap=2 * MIB)
    assert cache.stats()["warnings"] == []
    cache.hard_cap = 2 * memory
    (warning,) = cache.stats()["warnings"]
    assert warning.startswith("the hard cap (") and "larger than this machine's memory" in warning
    cache.soft_cap = memory + 1
    assert len(cache.stats()["warnings"]) == 2
    cache.set_caps(soft_cap=MIB, hard_cap=2 * MIB)
    assert cache.stats()["warnings"] == []


# -- retention advice and the snapshot ---------------------------------------------------------


def test_is_referenced_and_keep_score(cache, clock):
    held = Buffer(b"h" * 1000)
    faded = Buffer(b"f" * 1000)
    weak = Buffer(b"w" * 1000)
    cache.incref_buffer(held)
    cache.incref_buffer(held)
    cache.tempref_buffer(faded, interest=4.0)
    cache.register(weak)
    h, f, w = (b.compute_checksum() for b in (held, faded, weak))
    assert cache.is_referenced(h) and cache.is_referenced(f)
    assert not cache.is_referenced(w)
    assert not cache.is_referenced(Checksum.of(b"unknown"))
    cost = cache.costs.cost(h, 1000)
    assert cache.keep_score(h) == pytest.approx(2 * cost)
    assert cache.keep_score(f) == pytest.approx(4 * cost)
    clock.advance(2.0)
    assert cache.keep_score(f) == pytest.approx(2 * cost)
    assert cache.keep_score(w) == 0.0
    assert cache.keep_score(Checksum.of(b"unknown")) == 0.0


def test_snapshot_has_stats_and_entries(cache):
    cache.incref_buffer(Buffer(b"s" * 10))
    snapshot = cache.snapshot()
    assert snapshot["stats"]["strong_count"] == 1
    assert [row["size"] for row in snapshot["entries"]] == [10]
    assert snapshot["stats"]["warnings"] == cache.stats()["warnings"]


# -- a light import ----------------------------------------------------------------------------


def test_importing_and_using_the_cache_loads_no_numpy(fresh_python):
    code = (
        "import sys\n"
        "import seamless_core.cache\n"
        "assert 'numpy' not in sys.modules, 'import'\n"
        "from seamless_core import Buffer\n"
        "buffer = Buffer(b'x')\n"
        "buffer.incref()\n"
        "cache = seamless_core.cache.get_buffer_cache()\n"
        "assert cache.get(buffer.get_checksum()) is buffer\n"
        "cache.stats(); cache.entries()\n"
        "assert 'numpy' not in sys.modules, 'use'\n"
        "cache.soft_cap = 0\n"
        "cache.run_eviction_once()\n"
        "assert 'numpy' in sys.modules  # the eviction pass needs it, and loads it\n"
    )
    fresh_python(code)


def test_tempref_defaults_are_the_named_constants():
    import inspect

    from seamless_core.cache import (
        DEFAULT_FADE_FACTOR,
        DEFAULT_FADE_INTERVAL,
        DEFAULT_TEMPREF_INTEREST,
    )

    expected = {
        "interest": DEFAULT_TEMPREF_INTEREST,
        "fade_factor": DEFAULT_FADE_FACTOR,
        "fade_interval": DEFAULT_FADE_INTERVAL,
    }
    for function in (Buffer.tempref, Checksum.tempref, BufferCache.tempref):
        parameters = inspect.signature(function).parameters
        assert {name: parameters[name].default for name in expected} == expected, function


def test_a_worker_cache_clears_nothing():
    from seamless_core.cache import WorkerBufferCache

    worker = WorkerBufferCache()
    assert worker.clear().evicted == 0
    assert not worker.is_referenced(Checksum.of(b"x"))
    assert worker.keep_score(Checksum.of(b"x")) == 0.0
