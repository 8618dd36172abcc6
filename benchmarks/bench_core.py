"""Core benchmark (issue 2): checksums, serialization and parsing, memory, import time.

Every case runs twice, in fresh subprocesses: once against the published seamless-core 0.1.4
(``import seamless``, in ``benchmarks/.venv-ref``, see ``refenv.py``) and once against this
tree (``import seamless_core``). Both sides execute the very same snippet; only its import
line differs. The snippet is assembled from the ``case_*`` functions and the helpers below
(their source is shipped to the subprocess with ``inspect.getsource``), so it is plain,
readable, lint-checked Python.

Timings are best-of-N ``time.perf_counter`` wall times. Every timed call gets a freshly built
input (built outside the timed region), so 0.1.4's ``id()``-keyed serialize/checksum caches
never hit. Parse timings use a fresh ``Buffer`` whose checksum was already computed, so they
measure parsing alone.

Usage::

    python benchmarks/bench_core.py            # all cases, full sizes
    python benchmarks/bench_core.py --quick    # 1/16 of the big buffers, N=2: a smoke run
    python benchmarks/bench_core.py --case binary --side ref
    python benchmarks/bench_core.py --show-snippet nested_dict

``SEAMLESS_BENCH_QUICK=1`` in the environment has the effect of ``--quick``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from refenv import (
    REPO_ROOT,
    SnippetError,
    interpreter,
    run_on,
    speedups_in_use,
    subprocess_env,
)

SIDES = ("ref", "ours")
IMPORT_LINES = {"ref": "import seamless as sc", "ours": "import seamless_core as sc"}
MODULES = {"ref": "seamless", "ours": "seamless_core"}
RESULTS_DIR = Path(__file__).resolve().parent / "results"
MB = 2**20


# ============================================================================================
# Code that runs inside the benchmark subprocesses. Everything from here to the next banner
# is shipped as source: it may use only the standard library, numpy, and the module ``sc``.
# ============================================================================================


def new_result(**info):
    """The JSON object a case returns: its parameters, times, errors and sanity checks."""
    return {**info, "times": {}, "errors": {}, "checks": {}}


def best_of(result, n, make_input, functions):
    """Best-of-``n`` wall time of each ``function(make_input())``, into ``result["times"]``.

    A fresh input is built for every single call, outside the timed region; the functions
    take turns within each round so that drift affects them alike. A function that raises is
    dropped and its error goes to ``result["errors"]``, so that one failure does not hide the
    other measurements. Returns the last output of each function that succeeded.
    """
    import gc
    import time

    times, errors = result["times"], result["errors"]
    last = {}
    for _ in range(n):
        for name, function in functions.items():
            if name in errors:
                continue
            arg = make_input()
            gc.collect()
            try:
                start = time.perf_counter()
                out = function(arg)
                elapsed = time.perf_counter() - start
            except Exception as error:
                errors[name] = f"{type(error).__name__}: {error}"
                last.pop(name, None)
                continue
            finally:
                del arg
            times[name] = min(times.get(name, float("inf")), elapsed)
            last[name] = out
            del out
    return last


def sha256_hex(content):
    import hashlib

    return hashlib.sha256(content).hexdigest()


def fresh_bytes(content):
    """A new bytes object with the same content (``bytes(b)`` would return ``b`` itself)."""
    return bytes(memoryview(content))


def fresh_buffer(sc, content):
    """A new Buffer over a copy of ``content``, its checksum already computed where possible:
    0.1.4's ``get_value`` computes the checksum first, which is not parsing."""
    buffer = sc.Buffer(fresh_bytes(content))
    try:
        buffer.get_checksum()
    except Exception:
        pass  # parsing needs no checksum; a missing cache must not block the parse timings
    return buffer


def memory_status():
    """Current and peak resident set size in bytes, from /proc/self/status (Linux)."""
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def reset_peak_memory():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when not permitted."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_extra_memory(function):
    """Peak RSS growth while ``function()`` runs (its result is kept alive until measured).

    With a resettable high-water mark the baseline is the current RSS just before the call;
    otherwise it is the high-water mark so far, which can only under-estimate the growth.
    """
    import gc

    gc.collect()
    if reset_peak_memory():
        method = "VmHWM after reset (clear_refs) - VmRSS before"
        baseline, _ = memory_status()
    else:
        method = "VmHWM after - VmHWM before (no reset: lower bound)"
        _, baseline = memory_status()
    result = function()
    _, peak = memory_status()
    del result
    return peak - baseline, method


def make_nested_dict():
    """2000 keys x 100 entries = 200 000 JSON leaves: ints, floats, short strings, bools,
    None and small lists, deterministic (``random.Random(0)``), ASCII only, and floats in
    a range that every JSON encoder writes in plain decimal notation."""
    import random
    import string

    rng = random.Random(0)
    alphabet = string.ascii_letters + string.digits + " _-."

    def text():
        return "".join(rng.choices(alphabet, k=rng.randint(0, 16)))

    def number():
        return rng.uniform(0.01, 1000.0) * rng.choice((-1, 1))

    def leaf(kind):
        if kind == 0:
            return rng.randint(-(10**6), 10**6)
        if kind == 1:
            return number()
        if kind == 2:
            return text()
        if kind == 3:
            return rng.random() < 0.5
        if kind == 4:
            return None
        if kind == 5:
            return [rng.randint(0, 1000) for _ in range(rng.randint(0, 6))]
        return [number(), text(), rng.randint(0, 9)]

    kinds = [0, 0, 1, 1, 1, 2, 2, 3, 4, 5, 6]
    return {
        f"record-{i:05d}": {f"field_{j:03d}": leaf(rng.choice(kinds)) for j in range(100)}
        for i in range(2000)
    }


def make_array_dict():
    """1000 float64 arrays of 100..1099 elements, plus a few JSON fields."""
    import numpy as np

    rng = np.random.default_rng(0)
    value = {f"a{i}": rng.random(100 + i) for i in range(1000)}
    value["name"] = "array-dict"
    value["count"] = 1000
    value["meta"] = {"unit": "m", "scale": 0.5, "tags": ["x", "y"], "valid": True}
    return value


def same_value(a, b):
    """Equality that also compares numpy arrays (values and dtype), recursively."""
    import numpy as np

    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def case_checksum(sc, size, n):
    """SHA-256 of ``size`` random bytes: hashlib, ``Checksum.of``, ``Buffer().get_checksum()``."""
    import hashlib

    import numpy as np

    result = new_result(size=size, n=n)
    template = np.random.default_rng(0).bytes(size)
    functions = {
        "hashlib": lambda content: hashlib.sha256(content).digest(),
        "buffer_get_checksum": lambda content: sc.Buffer(content).get_checksum(),
    }
    if hasattr(sc.Checksum, "of"):  # not in 0.1.4
        functions["checksum_of"] = sc.Checksum.of
    last = best_of(result, n, lambda: fresh_bytes(template), functions)
    expected = hashlib.sha256(template).hexdigest()
    for name, checksum in last.items():
        hex_digest = checksum.hex() if name == "hashlib" else str(checksum)
        result["checks"][name] = hex_digest == expected
    return result


def case_binary(sc, n_elements, n):
    """``Buffer(array, "binary")`` of a float64 array, and ``get_value("binary")``."""
    import numpy as np

    template = np.random.default_rng(0).random(n_elements)
    result = new_result(nbytes=template.nbytes, n=n)
    serialize = {
        "serialize": lambda array: sc.Buffer(array, "binary"),
        "tobytes": lambda array: array.tobytes(),  # the floor: one plain copy
    }
    last = best_of(result, n, template.copy, serialize)
    if "serialize" in last:
        content = last["serialize"].content
        result["sha256"] = sha256_hex(content)
        parse = {"parse": lambda buffer: buffer.get_value("binary")}
        last = best_of(result, n, lambda: fresh_buffer(sc, content), parse)
        if "parse" in last:
            result["checks"]["parse"] = same_value(last["parse"], template)
    return result


def case_binary_memory(sc, n_elements):
    """Peak extra RSS of ``Buffer(array, "binary")``, relative to the array's size."""
    import numpy as np

    sc.Buffer(np.zeros(16), "binary")  # warm up: lazy imports are not the array's cost
    array = np.random.default_rng(0).random(n_elements)
    extra, method = peak_extra_memory(lambda: sc.Buffer(array, "binary"))
    return new_result(nbytes=array.nbytes, extra=extra, method=method)


def case_nested_dict(sc, n):
    """``plain`` and ``mixed`` serialization and parsing of a 200 000-leaf nested dict.

    Bare ``orjson`` (a dependency of both sides) is timed alongside ``plain`` as the floor.
    """
    import orjson

    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    result = new_result(n=n, sha256={})
    for celltype in ("plain", "mixed"):
        serialize = {f"{celltype}_serialize": lambda value, c=celltype: sc.Buffer(value, c)}
        parse = {f"{celltype}_parse": lambda buffer, c=celltype: buffer.get_value(c)}
        if celltype == "plain":
            serialize["orjson_dumps"] = lambda value: orjson.dumps(value, option=options)
            parse["orjson_loads"] = lambda buffer: orjson.loads(buffer.content)
        last = best_of(result, n, make_nested_dict, serialize)
        if f"{celltype}_serialize" not in last:
            continue
        content = last.pop(f"{celltype}_serialize").content
        result["sha256"][celltype] = sha256_hex(content)
        last = best_of(result, n, lambda content=content: fresh_buffer(sc, content), parse)
        if f"{celltype}_parse" in last:
            result["checks"][f"{celltype}_parse"] = same_value(
                last[f"{celltype}_parse"], make_nested_dict()
            )
    return result


def case_array_dict(sc, n):
    """``mixed`` serialization and parsing of a dict of 1000 numpy arrays and JSON fields."""
    result = new_result(n=n)
    serialize = {"serialize": lambda value: sc.Buffer(value, "mixed")}
    last = best_of(result, n, make_array_dict, serialize)
    if "serialize" in last:
        content = last["serialize"].content
        result["sha256"] = sha256_hex(content)
        parse = {"parse": lambda buffer: buffer.get_value("mixed")}
        last = best_of(result, n, lambda: fresh_buffer(sc, content), parse)
        if "parse" in last:
            result["checks"]["parse"] = same_value(last["parse"], make_array_dict())
    return result


# ============================================================================================
# Harness side.
# ============================================================================================

HELPERS = (
    new_result,
    best_of,
    sha256_hex,
    fresh_bytes,
    fresh_buffer,
    memory_status,
    reset_peak_memory,
    peak_extra_memory,
    make_nested_dict,
    make_array_dict,
    same_value,
)

SNIPPET_TEMPLATE = """\
import json

{import_line}


{helpers}

{case}

print(json.dumps({case_name}(sc, **{params!r})))
"""


def make_snippet(side: str, case: Callable, params: dict) -> str:
    """The self-contained script that runs ``case(sc, **params)`` on ``side``."""
    return SNIPPET_TEMPLATE.format(
        import_line=IMPORT_LINES[side],
        helpers="\n\n".join(inspect.getsource(helper) for helper in HELPERS),
        case=inspect.getsource(case),
        case_name=case.__name__,
        params=params,
    )


@dataclass
class Case:
    name: str
    function: Callable | None  # None: measured by the harness itself (import time)
    params: dict
    timeout: float = 900


def cases(quick: bool) -> list[Case]:
    scale = 16 if quick else 1
    reps = 2 if quick else 5
    return [
        Case("checksum", case_checksum, {"size": 256 * MB // scale, "n": reps}),
        Case("binary", case_binary, {"n_elements": 16 * MB // scale, "n": reps}),
        Case("binary_memory", case_binary_memory, {"n_elements": 16 * MB // scale}),
        Case("nested_dict", case_nested_dict, {"n": reps}),
        Case("array_dict", case_array_dict, {"n": reps}),
        Case("import", None, {"n": 3 if quick else 7}),
        # the first checksum of a fresh process: what a short script or a worker pays
        Case("first_checksum", None, {"n": 3 if quick else 7, "then": FIRST_CHECKSUM}),
    ]


FIRST_CHECKSUM = "sc.Buffer(b'x').get_checksum()"


def measure_import(side: str, n: int, then: str = "") -> dict:
    """Best-of-``n`` ``python -c "import X"`` minus best-of-``n`` ``python -c "pass"``;
    with ``then``, ``import X as sc`` followed by that statement."""
    python, pythonpath = interpreter(side)
    env = subprocess_env(pythonpath)
    module = MODULES[side]
    statement = f"import {module} as sc; {then}" if then else f"import {module}"
    if side == "ours":  # as pip compiles an installed wheel (0.1.4's venv is compiled so)
        subprocess.run(
            [str(python), "-m", "compileall", "-q", str(REPO_ROOT / "seamless_core")],
            env=env,
            check=True,
            capture_output=True,
        )

    def run(code: str) -> float:
        start = time.perf_counter()
        proc = subprocess.run(
            [str(python), "-c", code],
            env=env,
            cwd=str(REPO_ROOT.parent),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"]
            raise SnippetError(lines[-1][:500])
        return elapsed

    run(statement)  # warm-up: bytecode caches, file system cache
    startup = imported = float("inf")
    for _ in range(n):
        startup = min(startup, run("pass"))
        imported = min(imported, run(statement))
    return {"n": n, "startup": startup, "times": {"import": imported - startup}}


def run_case(case: Case, side: str) -> dict | SnippetError:
    try:
        if case.function is None:
            return measure_import(side, **case.params)
        return run_on(side, make_snippet(side, case.function, case.params), case.timeout)
    except SnippetError as error:
        return error
    except Exception as error:  # the harness itself must go on (e.g. no reference venv)
        return SnippetError(f"{type(error).__name__}: {error}")


# -- report ----------------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    reference: str
    ours: str
    ratio: str
    target: str
    verdict: str  # PASS, FAIL, ERROR or "info"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *args: str) -> None:
        self.rows.append(Row(*args))


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.3f} s"


def _time(result: dict | SnippetError | None, key: str) -> float | None:
    if isinstance(result, dict):
        return result.get("times", {}).get(key)
    return None


def time_row(
    report: Report,
    label: str,
    reference: float | None,
    ours: float | None,
    min_ratio: float | None,
) -> None:
    """A row comparing two times: ratio = reference / ours (higher is better for ours)."""
    ref_text = fmt_time(reference) if reference is not None else "ERROR"
    ours_text = fmt_time(ours) if ours is not None else "ERROR"
    target = f">= {min_ratio:.2f}x" if min_ratio is not None else "-"
    if reference is None or ours is None or ours <= 0:
        verdict = "info" if min_ratio is None else "ERROR"
        report.add(label, ref_text, ours_text, "-", target, verdict)
        return
    ratio = reference / ours
    verdict = "info" if min_ratio is None else ("PASS" if ratio >= min_ratio else "FAIL")
    report.add(label, ref_text, ours_text, f"{ratio:.2f}x", target, verdict)


def same_row(
    report: Report, label: str, ref: dict | None, ours: dict | None, key=None, required=True
) -> None:
    """A row saying whether both sides produced the same bytes (SHA-256 of the output)."""

    def digest(result):
        if not isinstance(result, dict):
            return None
        value = result.get("sha256")
        return value.get(key) if isinstance(value, dict) else value

    a, b = digest(ref), digest(ours)
    target = "SAME" if required else "-"
    if a is None or b is None:
        texts = (a[:12] if a else "ERROR", b[:12] if b else "ERROR")
        report.add(label, *texts, "-", target, "ERROR" if required else "info")
        return
    same = a == b
    verdict = ("PASS" if same else "FAIL") if required else "info"
    report.add(label, a[:12], b[:12], "SAME" if same else "DIFFERENT", target, verdict)


def report_checksum(report: Report, ref, ours, params: dict) -> None:
    size = params["size"] // MB
    hashlib_time = _time(ours, "hashlib")
    for label, key in (
        ("Checksum.of", "checksum_of"),
        ("Buffer.get_checksum", "buffer_get_checksum"),
    ):
        label = f"checksum {size} MB: {label} vs hashlib"
        time_row(report, label, hashlib_time, _time(ours, key), 0.95)
    label = f"checksum {size} MB: Buffer.get_checksum vs 0.1.4"
    time_row(
        report, label, _time(ref, "buffer_get_checksum"), _time(ours, "buffer_get_checksum"), None
    )
    for side, result in (("0.1.4", ref), ("ours", ours)):
        seconds = _time(result, "hashlib")
        if seconds:
            report.notes.append(
                f"checksum: hashlib.sha256 in the {side} process: {size / seconds:,.0f} MB/s"
            )


def report_binary(report: Report, ref, ours, params: dict) -> None:
    size = params["n_elements"] * 8 // MB
    label = f"Buffer(array, 'binary') {size} MB"
    time_row(report, label, _time(ref, "serialize"), _time(ours, "serialize"), 2.0)
    label = f"get_value('binary') {size} MB"
    time_row(report, label, _time(ref, "parse"), _time(ours, "parse"), 1.0)
    same_row(report, "  binary bytes identical", ref, ours, required=False)
    floor = _time(ours, "tobytes")
    if floor:
        report.notes.append(
            f"binary: array.tobytes() (one plain copy, the floor) takes {fmt_time(floor)} here"
        )


def report_binary_memory(report: Report, ref, ours, params: dict) -> None:
    label = f"peak extra memory, Buffer(array, 'binary') {params['n_elements'] * 8 // MB} MB"
    factors = [r["extra"] / r["nbytes"] if isinstance(r, dict) else None for r in (ref, ours)]
    texts = [f"{f:.2f}x array" if f is not None else "ERROR" for f in factors]
    target = "ours <= 1.10x array"
    if factors[1] is None:
        report.add(label, *texts, "-", target, "ERROR")
    else:
        ratio = f"{factors[0] / factors[1]:.2f}x" if factors[0] and factors[1] > 0 else "-"
        report.add(label, *texts, ratio, target, "PASS" if factors[1] <= 1.10 else "FAIL")
    method = next((r["method"] for r in (ref, ours) if isinstance(r, dict)), None)
    if method:
        report.notes.append(f"memory: {method}")


def report_nested_dict(report: Report, ref, ours, params: dict) -> None:
    for celltype in ("plain", "mixed"):
        label = f"Buffer(dict 200k leaves, '{celltype}')"
        key = f"{celltype}_serialize"
        time_row(report, label, _time(ref, key), _time(ours, key), 3.0)
        same_row(report, f"  {celltype} bytes identical", ref, ours, celltype)
        label = f"get_value('{celltype}') dict 200k leaves"
        key = f"{celltype}_parse"
        time_row(report, label, _time(ref, key), _time(ours, key), 1.0)
    dumps, loads = _time(ours, "orjson_dumps"), _time(ours, "orjson_loads")
    if dumps and loads:
        report.notes.append(
            f"nested dict: bare orjson here: dumps (indent 2, sorted keys) {fmt_time(dumps)}, "
            f"loads {fmt_time(loads)}"
        )


def report_array_dict(report: Report, ref, ours, params: dict) -> None:
    label = "Buffer(dict of 1000 arrays, 'mixed')"
    time_row(report, label, _time(ref, "serialize"), _time(ours, "serialize"), 2.0)
    same_row(report, "  mixed bytes identical", ref, ours)
    label = "get_value('mixed') dict of 1000 arrays"
    time_row(report, label, _time(ref, "parse"), _time(ours, "parse"), 1.0)


def report_import(report: Report, ref, ours, params: dict) -> None:
    label = "import seamless_core vs import seamless"
    time_row(report, label, _time(ref, "import"), _time(ours, "import"), 1.0)
    for side, result in (("0.1.4", ref), ("ours", ours)):
        if isinstance(result, dict):
            report.notes.append(
                f"import: interpreter start-up ({side} venv): {fmt_time(result['startup'])}"
            )


def report_first_checksum(report: Report, ref, ours, params: dict) -> None:
    label = "import + first Buffer(b'x').get_checksum()"
    # the goal is half of 0.1.4's time: a ratio ref/ours of 2
    time_row(report, label, _time(ref, "import"), _time(ours, "import"), 2.0)


REPORTERS = {
    "checksum": report_checksum,
    "binary": report_binary,
    "binary_memory": report_binary_memory,
    "nested_dict": report_nested_dict,
    "array_dict": report_array_dict,
    "import": report_import,
    "first_checksum": report_first_checksum,
}


def build_report(results: dict[str, dict], params: dict[str, dict]) -> Report:
    """Rows for every case that ran; ``results[case][side]`` is a dict or a SnippetError."""
    report = Report()
    for case_name, by_side in results.items():
        for side, result in by_side.items():
            if isinstance(result, SnippetError):
                report.notes.append(f"{case_name} [{side}]: ERROR: {result}")
                continue
            for name, error in result.get("errors", {}).items():
                report.notes.append(f"{case_name} [{side}] {name}: ERROR: {error}")
            for name, ok in result.get("checks", {}).items():
                if not ok:
                    report.notes.append(f"{case_name} [{side}] {name}: WRONG RESULT")
    for case_name, by_side in results.items():
        REPORTERS[case_name](report, by_side.get("ref"), by_side.get("ours"), params[case_name])
    return report


def print_report(report: Report, header: str) -> None:
    columns = ("case", "reference", "ours", "ref/ours", "target", "result")
    table = [columns] + [
        (r.label, r.reference, r.ours, r.ratio, r.target, r.verdict) for r in report.rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    align = ["<", ">", ">", ">", "<", "<"]

    def line(row):
        return "  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths)).rstrip()

    rule = "-" * len(line(columns))
    print(header)
    print(rule)
    print(line(columns))
    print(rule)
    for row in table[1:]:
        print(line(row))
    print(rule)
    counts = {v: sum(r.verdict == v for r in report.rows) for v in ("PASS", "FAIL", "ERROR")}
    print(
        f"targets: {counts['PASS']} met, {counts['FAIL']} missed, {counts['ERROR']} not measured"
        " (benchmarks inform; they do not gate CI)"
    )
    for note in report.notes:
        print(f"  note: {note}")


def environment_header(quick: bool) -> str:
    versions = []
    for name in ("numpy", "orjson"):
        try:
            from importlib import metadata

            versions.append(f"{name} {metadata.version(name)}")
        except Exception:
            pass
    mode = "QUICK (1/16 of the big buffers, N=2)" if quick else "full sizes"
    return (
        f"bench_core: seamless-core 0.1.4 (ref) vs this tree (ours), {mode}; "
        f"Python {platform.python_version()}, {', '.join(versions)}, "
        f"{os.cpu_count()} CPUs; C speedups {speedups_state()}; "
        "reference = 0.1.4 unless the case says otherwise"
    )


def speedups_state() -> str:
    state = speedups_in_use(*interpreter("ours"))
    return {True: "in use", False: "NOT BUILT"}.get(state, "unknown")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1/16 of the big buffers, N=2")
    parser.add_argument("--case", action="append", help="run only this case (repeatable)")
    parser.add_argument("--side", choices=("both", *SIDES), default="both")
    parser.add_argument("--show-snippet", metavar="CASE", help="print a case's snippet and exit")
    args = parser.parse_args([] if argv is None else argv)
    quick = args.quick or os.environ.get("SEAMLESS_BENCH_QUICK", "") not in ("", "0")

    all_cases = cases(quick)
    by_name = {case.name: case for case in all_cases}
    unknown = {*(args.case or ()), *([args.show_snippet] if args.show_snippet else [])} - set(
        by_name
    )
    if unknown:
        parser.error(f"unknown case(s) {sorted(unknown)}; known: {', '.join(by_name)}")
    if args.show_snippet:
        case = by_name[args.show_snippet]
        if case.function is None:
            print(inspect.getsource(measure_import))
        else:
            side = "ours" if args.side == "ours" else "ref"
            print(make_snippet(side, case.function, case.params))
        return 0
    selected = [case for case in all_cases if not args.case or case.name in args.case]
    sides = SIDES if args.side == "both" else (args.side,)

    results: dict[str, dict] = {}
    for case in selected:
        results[case.name] = {}
        for side in sides:
            start = time.perf_counter()
            print(f"[bench_core] {case.name} [{side}] ...", end=" ", flush=True)
            result = run_case(case, side)
            status = "ERROR" if isinstance(result, SnippetError) else "done"
            print(f"{status} ({time.perf_counter() - start:.1f} s)", flush=True)
            results[case.name][side] = result

    report = build_report(results, {case.name: case.params for case in all_cases})
    if len(sides) == 1:  # nothing to compare with: no verdicts
        for row in report.rows:
            row.reference, row.ours, row.verdict = (
                "-" if text == "ERROR" else text for text in (row.reference, row.ours, row.verdict)
            )
    print()
    print_report(report, environment_header(quick))
    save_results(results, report, quick)
    return 0


def save_results(results: dict, report: Report, quick: bool) -> None:
    """Keep the raw numbers in benchmarks/results/ (git-ignored) for later comparison."""
    try:
        RESULTS_DIR.mkdir(exist_ok=True)
        raw = {
            case: {
                side: r if isinstance(r, dict) else {"error": str(r)} for side, r in by_side.items()
            }
            for case, by_side in results.items()
        }
        payload = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "quick": quick,
            "results": raw,
            "rows": [row.__dict__ for row in report.rows],
        }
        path = RESULTS_DIR / ("core-quick.json" if quick else "core.json")
        path.write_text(json.dumps(payload, indent=2) + "\n")
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
