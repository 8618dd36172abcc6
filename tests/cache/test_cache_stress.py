"""Many threads on one cache while the background evictor runs."""

from __future__ import annotations

import gc
import random
import threading
import time

from seamless_core import Buffer, Checksum
from seamless_core.cache import BufferCache, set_buffer_cache
from seamless_core.resolution import resolve_sync

THREADS = 4
OPERATIONS = 2000
POOL = [bytes([i % 256]) * (200 + 37 * i) for i in range(60)]  # about 80 kB in all
CHECKSUMS = [Checksum.of(content) for content in POOL]


def worker(
    cache: BufferCache,
    seed: int,
    refs: list[int],
    errors: list[BaseException],
    stop: threading.Event,
) -> None:
    rng = random.Random(seed)
    held: dict[int, Buffer] = {}
    done = 0
    try:
        while done < OPERATIONS or not stop.is_set():
            done += 1
            i = rng.randrange(len(POOL))
            op = rng.random()
            if op < 0.15:
                buffer = Buffer(POOL[i])
                buffer.get_checksum()  # registers
                held[i] = buffer
            elif op < 0.25:
                held.pop(i, None)
            elif op < 0.45:
                if i in held and rng.random() < 0.5:
                    cache.incref_buffer(held[i])
                else:
                    cache.incref(CHECKSUMS[i])
                refs[i] += 1
            elif op < 0.65:
                if refs[i]:
                    cache.decref(CHECKSUMS[i])
                    refs[i] -= 1
            elif op < 0.75:
                cache.tempref(
                    CHECKSUMS[i], interest=rng.choice([0.5, 4.0, 64.0]), fade_interval=0.01
                )
            elif op < 0.95:
                buffer = cache.get(CHECKSUMS[i])
                assert buffer is None or buffer == POOL[i]
            else:
                cache.stats()
    except BaseException as exc:  # reported by the main thread
        errors.append(exc)


def test_threads_with_a_running_evictor(tmp_path):
    cache = BufferCache(
        soft_cap=10_000,
        hard_cap=30_000,
        spill_folder=tmp_path / "spill",
        eviction_interval=0.001,
    )
    set_buffer_cache(cache)
    # Every buffer is first secured by a ref while in memory, so none may ever be lost.
    keep = [Buffer(content) for content in POOL]
    for buffer in keep:
        buffer.incref()
    del keep, buffer
    gc.collect()

    per_thread_refs = [[0] * len(POOL) for _ in range(THREADS)]
    errors: list[BaseException] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=worker, args=(cache, seed, per_thread_refs[seed], errors, stop))
        for seed in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    # Keep the workers going until the evictor has committed a few passes among them. The
    # bound is generous: the first passes spill (fsync'ed writes), which can take seconds
    # each while other processes load the disk; a healthy run ends the loop in about 1 s.
    deadline = time.monotonic() + 180
    while cache.stats()["evictions"] < 20 and time.monotonic() < deadline and not errors:
        time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "deadlock"
    assert not errors, errors

    try:
        stats = cache.stats()
        assert stats["evictions"] > 0, "the evictor never ran"
        cache.check_totals()
        rows = {row["checksum"]: row for row in cache.entries()}
        for i, checksum in enumerate(CHECKSUMS):
            assert rows[checksum]["normal_refs"] == 1 + sum(refs[i] for refs in per_thread_refs)
            assert resolve_sync(checksum) == POOL[i]
    finally:
        cache.close()
    assert not cache._thread.is_alive()
    cache.run_eviction_once()
    cache.check_totals()
