"""Command-line benchmark (issue 5): ``seamless-checksum`` and ``seamless-checksum-index``.

Two cases, each timed as whole processes, the way a user runs the tools:

- ``seamless-checksum`` on a 1 GiB file of random bytes against GNU ``sha256sum`` on the
  same file (page cache warm for both): throughput ratio, target >= 0.9; and our peak RSS
  (``ru_maxrss`` of the process), which must stay far below the file size.
- ``seamless-checksum-index`` on a directory of 10 000 small files (100 folders of 100
  files of 100 B to 4 KiB) against the script of seamless-core 0.1.4 (``benchmarks/.venv-ref``,
  see ``refenv.py``): time ratio, target >= 2. The two ``.INDEX`` files must be identical.

"Ours" runs this tree as a regular install would: a scratch virtual environment whose
``sys.path`` holds this repository and the current interpreter's site-packages, and a
command equal to the console-script wrapper pip generates. (The development venv's editable
install adds an import hook to every start-up, about 10 ms that no user pays; the times of
its console scripts are shown for information.)

Timings are best of N wall times (N=5, 3 with ``--quick``), the two sides taking turns.

    python benchmarks/bench_cli.py [--quick] [--json FILE]

``--quick`` (or ``SEAMLESS_BENCH_QUICK=1``) uses a 128 MiB file; the directory is the same.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refenv import REPO_ROOT, ensure_ref_venv, speedups_in_use, subprocess_env  # noqa: E402

MIB = 1 << 20
RESULTS_DIR = Path(__file__).resolve().parent / "results"
WRAPPER = "import sys; from seamless_core.cli.{module} import main; sys.exit(main())"


# -- running processes -----------------------------------------------------------------------


# Run by a small launcher process, which times the command and reads its peak RSS: on Linux
# a process's ru_maxrss starts from the memory of the process that spawned it (the exec'ing
# image counts), so spawning straight from this harness would report the harness's size.
_LAUNCHER = """
import json, os, subprocess, sys, time
report, command = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
_, status, usage = os.wait4(process.pid, 0)
elapsed = time.perf_counter() - started
with open(report, "w") as f:
    json.dump({"seconds": elapsed, "rss_kib": usage.ru_maxrss,
               "status": os.waitstatus_to_exitcode(status)}, f)
"""


def run_measured(command: list[str], cwd: str | None = None) -> tuple[float, int, bytes]:
    """Run ``command``; returns (wall seconds, peak RSS in bytes, stdout). Raises on failure."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, report, *command],
            capture_output=True,
            cwd=cwd,
            env=subprocess_env(),
            stdin=subprocess.DEVNULL,
        )
        with open(report) as f:
            measured = json.load(f)
    if done.returncode != 0 or measured["status"] != 0:
        raise RuntimeError(f"{command[0]} failed: {done.stderr[-500:]!r}")
    return measured["seconds"], measured["rss_kib"] * 1024, done.stdout


def best_of(n: int, commands: dict[str, list[str]], cwd: str | None = None) -> dict[str, dict]:
    """Best wall time (and the peak RSS and output of that run) of each command, in turns."""
    best: dict[str, dict] = {}
    for _ in range(n):
        for name, command in commands.items():
            elapsed, rss, stdout = run_measured(command, cwd)
            if name not in best or elapsed < best[name]["seconds"]:
                best[name] = {"seconds": elapsed, "rss": rss, "stdout": stdout}
    return best


def ours_python(scratch: Path) -> str:
    """A python that imports this tree like a regular install (see the module docstring)."""
    venv = scratch / "venv-ours"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = sysconfig.get_paths()
    lines = [str(REPO_ROOT), ours["purelib"], ours["platlib"]]
    Path(site, "_seamless_bench.pth").write_text("\n".join(dict.fromkeys(lines)) + "\n")
    # pip compiles a package's bytecode when it installs it; a source tree read with
    # PYTHONDONTWRITEBYTECODE set (as on some machines) would compile it on every start.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO_ROOT / "seamless_core")], check=True
    )
    return str(python)


def ours(python: str, module: str, *args: str) -> list[str]:
    return [python, "-c", WRAPPER.format(module=module), *args]


# -- inputs ----------------------------------------------------------------------------------


def make_big_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        for start in range(0, size, 64 * MIB):
            f.write(os.urandom(min(64 * MIB, size - start)))


def make_small_files(root: Path, folders: int = 100, per_folder: int = 100) -> None:
    rng = random.Random(0)
    for i in range(folders):
        folder = root / f"folder{i:03d}"
        folder.mkdir(parents=True)
        for j in range(per_folder):
            (folder / f"file{j:03d}.dat").write_bytes(rng.randbytes(rng.randint(100, 4096)))


# -- cases -----------------------------------------------------------------------------------


def case_big_file(scratch: Path, python: str, size: int, n: int) -> dict:
    path = scratch / "big.bin"
    make_big_file(path, size)
    commands = {"ours": ours(python, "checksum", str(path))}
    editable = Path(sys.executable).parent / "seamless-checksum"
    if editable.exists():
        commands["ours (editable install)"] = [str(editable), str(path)]
    sha256sum = shutil.which("sha256sum")
    if sha256sum:
        commands["sha256sum"] = [sha256sum, str(path)]
    run_measured(commands["ours"])  # warm the page cache
    best = best_of(n, commands)
    path.unlink()
    result = {
        "size": size,
        "seconds": {name: b["seconds"] for name, b in best.items()},
        "peak_rss": best["ours"]["rss"],
        "same_checksum": None,
    }
    if sha256sum:
        ours_hex = best["ours"]["stdout"].decode().strip()
        result["same_checksum"] = ours_hex == best["sha256sum"]["stdout"].decode().split()[0]
    return result


def case_small_files(scratch: Path, python: str, n: int) -> dict:
    root = scratch / "small"
    make_small_files(root)
    ref_bin = ensure_ref_venv().parent
    commands = {
        "ref": [str(ref_bin / "seamless-checksum-index"), str(root)],
        "ours": ours(python, "checksum_index", str(root)),
    }
    editable = Path(sys.executable).parent / "seamless-checksum-index"
    if editable.exists():
        commands["ours (editable install)"] = [str(editable), str(root)]
    index = Path(str(root) + ".INDEX")
    outputs = {}
    for name, command in commands.items():  # one untimed run each: warm caches, keep outputs
        run_measured(command)
        outputs[name] = index.read_bytes()
    best = best_of(n, commands)
    return {
        "files": 10_000,
        "seconds": {name: b["seconds"] for name, b in best.items()},
        "same_index": len(set(outputs.values())) == 1,
    }


# -- report ----------------------------------------------------------------------------------


def report(big: dict | None, small: dict | None) -> list[str]:
    lines = [f"{'case':<44} {'ours':>9} {'reference':>10} {'ratio':>7} {'target':>7}  result"]

    def row(case: str, ours_s: float, ref_s: float, target: float, higher: str) -> None:
        ratio = ref_s / ours_s
        verdict = "PASS" if ratio >= target else "FAIL"
        lines.append(
            f"{case:<44} {ours_s:>8.3f}s {ref_s:>9.3f}s {ratio:>6.2f}x {target:>6.1f}x  {verdict}"
            f"  ({higher})"
        )

    if big is not None:
        seconds = big["seconds"]
        gib = big["size"] / (1 << 30)
        if "sha256sum" in seconds:
            row(
                f"seamless-checksum, {gib:g} GiB vs sha256sum",
                seconds["ours"],
                seconds["sha256sum"],
                0.9,
                "throughput ratio",
            )
        for name in ("ours", "ours (editable install)", "sha256sum"):
            if name in seconds:
                rate = big["size"] / MIB / seconds[name]
                lines.append(f"    {name:<40} {rate:>8.0f} MiB/s")
        lines.append(
            f"    peak RSS of seamless-checksum: {big['peak_rss'] / MIB:.1f} MiB "
            f"({big['peak_rss'] / big['size']:.3f} of the file size)"
        )
        if big["same_checksum"] is False:
            lines.append("    WRONG RESULT: the checksums differ")
    if small is not None:
        seconds = small["seconds"]
        row(
            "seamless-checksum-index, 10 000 small files",
            seconds["ours"],
            seconds["ref"],
            2.0,
            "0.1.4 time / ours",
        )
        if "ours (editable install)" in seconds:
            lines.append(
                f"    ours through the dev venv's editable console script: "
                f"{seconds['ours (editable install)']:.3f} s"
            )
        if not small["same_index"]:
            lines.append("    WRONG RESULT: the .INDEX files differ")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 128 MiB file instead of 1 GiB")
    parser.add_argument("--json", help="also write the raw numbers to this file")
    parser.add_argument("--case", choices=("big", "small"), action="append")
    args = parser.parse_args([] if argv is None else argv)  # run.py calls main()
    quick = args.quick or os.environ.get("SEAMLESS_BENCH_QUICK", "") not in ("", "0")
    cases = args.case or ["big", "small"]
    n = 3 if quick else 5
    size = (128 if quick else 1024) * MIB
    with tempfile.TemporaryDirectory(prefix="seamless-bench-cli-") as tmp:
        scratch = Path(tmp)
        python = ours_python(scratch)
        big = case_big_file(scratch, python, size, n) if "big" in cases else None
        small = case_small_files(scratch, python, n) if "small" in cases else None
        speedups = speedups_in_use(python)
    print(f"command-line tools ({'QUICK' if quick else 'full'}; best of {n})")
    state = {True: "in use", False: "NOT BUILT (pure-Python fallbacks)"}.get(speedups, "unknown")
    print(f"C speedups: {state}")
    for line in report(big, small):
        print(line)
    raw = {"quick": quick, "speedups": speedups, "big_file": big, "small_files": small}
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "cli.json").write_text(json.dumps(raw, indent=2) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
