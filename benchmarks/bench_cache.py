"""Buffer cache speed, side by side with seamless-core 0.1.4's ``BufferCache``.

Measures, on both sides, in fresh interpreters (``benchmarks/refenv.py``):

- the per-operation time of ``register``, ``incref``, ``get``, ``decref`` and ``tempref``
  over ``--ops`` distinct buffers, in the sequence described at ``OPERATIONS`` (best of
  ``--repeat`` rounds);
- one eviction pass over ``--entries`` strong entries of 100 bytes each, with the soft cap at
  half the usage (both sides then evict half of them, lowest cost first). Every entry has a
  declared ``read_buffer`` download profile, so that no spill I/O is involved: the pass
  decides and evicts, as 0.1.4's does;
- ``stats()`` with those entries in the cache (ours only: 0.1.4 sums over all entries).

Ratios are reference time / our time: above 1 means faster than 0.1.4. Targets: per-op
ratios of 100 for ``incref``, an eviction pass 5x faster.

    python benchmarks/bench_cache.py [--ops 5000] [--entries 100000] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refenv import run_in_ours, run_in_ref  # noqa: E402

# In this order, on the same buffers: register (new, weak); incref (first ref: weak ->
# strong); incref_again; incref_scratch; get; decref (3 -> 2 refs); decref_last (after one
# more, 1 -> 0: strong -> weak); tempref (new: weak -> strong); tempref_refresh.
OPERATIONS = (
    "register",
    "incref",
    "incref_again",
    "incref_scratch",
    "get",
    "decref",
    "decref_last",
    "tempref",
    "tempref_refresh",
)

# Both snippets print one JSON object: {"ops": {name: seconds per op}, "eviction": seconds}.
_COMMON = """
import gc, json, time

def best(rounds):
    return {name: min(r[name] for r in rounds) for name in rounds[0]}

def timed(fn, items):
    gc.disable()
    t = time.perf_counter()
    for item in items:
        fn(item)
    elapsed = time.perf_counter() - t
    gc.enable()
    return elapsed / len(items)
"""

OURS = (
    _COMMON
    + """
from seamless_core import Buffer
from seamless_core.cache import BufferCache


def new_cache(**kwargs):
    return BufferCache(spill_folder=None, background=False, **kwargs)

def op_round():
    buffers = [Buffer(b"op %d %d" % (i, time.perf_counter_ns())) for i in range(OPS)]
    checksums = [b.compute_checksum() for b in buffers]
    cache = new_cache()
    result = {}
    result["register"] = timed(cache.register, buffers)
    result["incref"] = timed(cache.incref, checksums)
    result["incref_again"] = timed(cache.incref, checksums)
    result["incref_scratch"] = timed(lambda cs: cache.incref(cs, scratch=True), checksums)
    result["get"] = timed(cache.get, checksums)
    result["decref"] = timed(cache.decref, checksums)
    for cs in checksums:
        cache.decref(cs)
    result["decref_last"] = timed(cache.decref, checksums)
    result["tempref"] = timed(cache.tempref, checksums)
    result["tempref_refresh"] = timed(cache.tempref, checksums)
    return result

def eviction_round():
    buffers = [Buffer(b"%0100d" % i) for i in range(ENTRIES)]
    checksums = [b.compute_checksum() for b in buffers]
    cache = new_cache(soft_cap=50 * ENTRIES, hard_cap=10**12)
    for cs in checksums:
        cache.costs.set_download_profile(cs, "read_buffer")
    for b in buffers:
        cache.incref_buffer(b, scratch=True)
    del b
    gc.collect()
    t = time.perf_counter()
    result = cache.run_eviction_once()
    elapsed = time.perf_counter() - t
    assert result.evicted == ENTRIES // 2, result
    t = time.perf_counter()
    for _ in range(1000):
        cache.stats()
    return elapsed, (time.perf_counter() - t) / 1000

ops = best([op_round() for _ in range(REPEAT)])
passes = [eviction_round() for _ in range(REPEAT)]
print(json.dumps({
    "ops": ops,
    "eviction": min(p[0] for p in passes),
    "stats": min(p[1] for p in passes),
}))
"""
)

REFERENCE = (
    _COMMON
    + """
from seamless import Buffer
from seamless.caching.buffer_cache import BufferCache


def op_round():
    buffers = [Buffer(b"op %d %d" % (i, time.perf_counter_ns())) for i in range(OPS)]
    checksums = [b.get_checksum() for b in buffers]
    pairs = list(zip(checksums, buffers))
    cache = BufferCache()
    result = {}
    result["register"] = timed(lambda p: cache.register(p[0], p[1], size=len(p[1].content)), pairs)
    result["incref"] = timed(cache.incref, checksums)
    result["incref_again"] = timed(cache.incref, checksums)
    result["incref_scratch"] = timed(lambda cs: cache.incref(cs, scratch=True), checksums)
    result["get"] = timed(cache.get, checksums)
    result["decref"] = timed(cache.decref, checksums)
    for cs in checksums:
        cache.decref(cs)
    result["decref_last"] = timed(cache.decref, checksums)
    result["tempref"] = timed(cache.tempref, checksums)
    result["tempref_refresh"] = timed(cache.tempref, checksums)
    return result

def eviction_round():
    buffers = [Buffer(b"%0100d" % i) for i in range(ENTRIES)]
    checksums = [b.get_checksum() for b in buffers]
    cache = BufferCache(soft_cap=50 * ENTRIES, hard_cap=10**12)
    for cs, b in zip(checksums, buffers):
        cache.register(cs, b, size=100)
        cache.incref(cs, scratch=True)
    gc.collect()
    t = time.perf_counter()
    before, after = cache.run_eviction_once()
    elapsed = time.perf_counter() - t
    assert after == 50 * ENTRIES, (before, after)
    return elapsed

ops = best([op_round() for _ in range(REPEAT)])
print(json.dumps({
    "ops": ops,
    "eviction": min(eviction_round() for _ in range(REPEAT)),
}))
"""
)


def _format_row(name: str, ours: float, ref: float | None, unit: float, label: str) -> str:
    ratio = f"{ref / ours:10.1f}x" if ref else "          -"
    ref_text = f"{ref / unit:12.3f}" if ref else "           -"
    return f"{name:<16}{ours / unit:12.3f}{ref_text}{ratio}   ({label})"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=5000, help="buffers per operation round")
    parser.add_argument("--entries", type=int, default=100_000, help="entries in the pass")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best counts")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    params = {"ops": args.ops, "entries": args.entries, "repeat": args.repeat}

    header = f"OPS, ENTRIES, REPEAT = {args.ops}, {args.entries}, {args.repeat}\n"
    ours = run_in_ours(header + OURS)
    ref = run_in_ref(header + REFERENCE)

    print(f"buffer cache, {args.ops} ops per round, {args.entries} entries per pass")
    print(f"{'operation':<16}{'ours':>12}{'0.1.4':>12}{'ratio':>11}")
    for name in OPERATIONS:
        print(_format_row(name, ours["ops"][name], ref["ops"][name], 1e-6, "µs per op"))
    print(_format_row("eviction pass", ours["eviction"], ref["eviction"], 1e-3, "ms per pass"))
    print(_format_row("stats()", ours["stats"], None, 1e-6, "µs per call"))

    results = {"params": params, "ours": ours, "reference": ref}
    results["ratios"] = {name: ref["ops"][name] / ours["ops"][name] for name in OPERATIONS}
    results["ratios"]["eviction"] = ref["eviction"] / ours["eviction"]
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
