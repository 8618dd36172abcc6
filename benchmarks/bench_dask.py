"""Moving a Buffer between two dask.distributed workers, against a NumPy array (issue 14).

A 2-worker ``LocalCluster`` (processes, one thread each, no memory limit so that nothing
spills or pauses). Each round makes a fresh object of ``--mib`` MiB on the first worker
(untimed), then times a task on the second worker that takes it as input: the time from
submission to result is the transfer (plus one small task, the same for both). The same
run does this alternately for a ``Buffer`` (checksum known, as it travels along) and a
``numpy.ndarray`` of uint8 of the same size. Reported: the best and the median of
``--repeat`` rounds per kind, and the ratio Buffer / NumPy (goal: at most 1.2).

    python benchmarks/bench_dask.py [--mib 256] [--repeat 5]

``SEAMLESS_BENCH_QUICK=1`` (or ``--quick``) moves 32 MiB, 3 rounds.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time

MIB = 1 << 20
GOAL = 1.2


def make_buffer(size: int, seed: int):
    from seamless_core import Buffer

    # Distinct content per round (the seed), without the cost of os.urandom on 256 MiB.
    buffer = Buffer(seed.to_bytes(8, "little") * (size // 8))
    buffer.compute_checksum()
    return buffer


def make_array(size: int, seed: int):
    import numpy as np

    return np.full(size, seed % 251, dtype=np.uint8)


def received_size(value) -> int:
    return len(value)


def time_transfer(client, maker, size: int, seed: int, workers: list[str]) -> float:
    source = client.submit(maker, size, seed, workers=[workers[0]], pure=False)
    source.result()  # made, and held, on the first worker
    start = time.perf_counter()
    size_there = client.submit(received_size, source, workers=[workers[1]], pure=False).result()
    elapsed = time.perf_counter() - start
    assert size_there == size, (size_there, size)
    del source
    return elapsed


def measure(mib: int, repeat: int) -> dict[str, list[float]]:
    from distributed import Client, LocalCluster

    size = mib * MIB
    times: dict[str, list[float]] = {"Buffer": [], "numpy": []}
    makers = {"Buffer": make_buffer, "numpy": make_array}
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit=0,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(2, timeout=120)
        workers = sorted(client.scheduler_info()["workers"])
        for maker in makers.values():  # warm-up: imports, connections
            time_transfer(client, maker, MIB, 0, workers)
        for round_ in range(repeat):
            # Alternating, so that a burst of load on the shared machine hits both kinds.
            for kind in ("Buffer", "numpy") if round_ % 2 == 0 else ("numpy", "Buffer"):
                seed = 1 + 2 * round_ + (kind == "numpy")
                times[kind].append(time_transfer(client, makers[kind], size, seed, workers))
    return times


def report(mib: int, times: dict[str, list[float]]) -> float:
    print(f"moving {mib} MiB from one worker to another ({len(times['Buffer'])} rounds each)")
    print(f"{'kind':<8} {'best s':>8} {'median s':>9} {'MiB/s (best)':>13}")
    for kind, values in times.items():
        best, median = min(values), statistics.median(values)
        print(f"{kind:<8} {best:8.3f} {median:9.3f} {mib / best:13.0f}")
    ratio = min(times["Buffer"]) / min(times["numpy"])
    median_ratio = statistics.median(times["Buffer"]) / statistics.median(times["numpy"])
    verdict = "ok" if ratio <= GOAL else "ABOVE GOAL"
    print(
        f"Buffer / numpy: {ratio:.2f}x best, {median_ratio:.2f}x median "
        f"(goal <= {GOAL}x: {verdict})"
    )
    return ratio


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv if argv is not None else [])
    if args.quick or os.environ.get("SEAMLESS_BENCH_QUICK"):
        args.mib, args.repeat = 32, 3
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("bench_dask: distributed is not installed (pip install 'seamless-core[dask]')")
        return
    import cloudpickle

    # The workers cannot import this file (run.py loads it by path): ship its functions.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    report(args.mib, measure(args.mib, args.repeat))


if __name__ == "__main__":
    main(sys.argv[1:])
