"""Run every ``benchmarks/bench_*.py`` in name order and print their tables.

Each benchmark module exposes ``main()``. A benchmark that crashes is reported and the next
one runs; the exit status is always 0, because benchmarks inform, they do not gate CI.

    python benchmarks/run.py                 # everything (what `make bench` runs)
    python benchmarks/run.py core cache      # only bench_core.py and bench_cache.py
    SEAMLESS_BENCH_QUICK=1 python benchmarks/run.py   # smaller sizes, where supported
"""

from __future__ import annotations

import importlib.util
import sys
import time
import traceback
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def discover(names: list[str] | None = None) -> list[Path]:
    """The ``bench_*.py`` files, in name order; ``names`` ("core" or "bench_core") filters."""
    paths = sorted(BENCH_DIR.glob("bench_*.py"))
    if names:
        wanted = {name.removesuffix(".py").removeprefix("bench_") for name in names}
        paths = [p for p in paths if p.stem.removeprefix("bench_") in wanted]
    return paths


def run_one(path: Path) -> bool:
    """Import ``path`` as a module and call its ``main()``; False when it failed."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        print(f"[run] {path.name}: cannot be loaded")
        return False
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    try:
        spec.loader.exec_module(module)
        main = getattr(module, "main", None)
        if main is None:
            print(f"[run] {path.name}: no main() to call")
            return False
        main()
        return True
    except SystemExit as exit_:  # a main() that calls sys.exit() must not end the run
        return exit_.code in (None, 0)
    except Exception:
        traceback.print_exc()
        print(f"[run] {path.name}: FAILED (see the traceback above)")
        return False
    finally:
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    if str(BENCH_DIR) not in sys.path:  # bench modules import their helpers (refenv) by name
        sys.path.insert(0, str(BENCH_DIR))
    paths = discover(argv)
    if not paths:
        print(f"[run] no benchmarks matched {argv or ''} in {BENCH_DIR}")
        return 0
    summary = []
    for path in paths:
        print(f"\n=== {path.name} ===", flush=True)
        start = time.perf_counter()
        ok = run_one(path)
        summary.append((path.name, ok, time.perf_counter() - start))
    print("\n=== summary ===")
    for name, ok, seconds in summary:
        print(f"{name:<24} {'ran' if ok else 'FAILED':<7} {seconds:8.1f} s")
    return 0


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
