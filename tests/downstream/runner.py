"""Build the downstream venvs and run seamless-transformer's own test suite in them.

Two venvs, both cached and rebuilt only when their recipe changes:

- ``ours`` (``.venv-downstream`` in the repository): the released packages
  seamless-transformer 0.6.1, seamless-remote 0.4.0, seamless-config 0.3.2 and seamless-dask
  0.4, then seamless-core 0.1.4 (which they pull in) uninstalled and this repository installed
  in its place (editable, so the venv follows the working tree);
- ``baseline`` (``.venv-downstream-014``): the same packages on the published 0.1.4, to measure
  against.

The suite comes from seamless-transformer's sdist (``pip download --no-binary``). Every test
file runs in its own pytest process with a deadline (``FILE_TIMEOUT``); a file that hangs is
killed and its tests count as failed, so nothing can hang the run.

    python tests/downstream/runner.py baseline   # record tests/downstream/baseline-0.1.4.txt
    python tests/downstream/runner.py ours       # compare against it
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BASELINE_FILE = HERE / "baseline-0.1.4.txt"
DOWNSTREAM = [
    "seamless-transformer==0.6.1",
    "seamless-remote==0.4.0",
    "seamless-config==0.3.2",
    "seamless-dask==0.4",
]
TEST_TOOLS = ["pytest", "pytest-timeout"]
FILE_TIMEOUT = float(os.environ.get("SEAMLESS_DOWNSTREAM_FILE_TIMEOUT", "120"))
# Per-test limit inside a file (pytest-timeout), so one stuck test does not cost the file.
TEST_TIMEOUT = float(os.environ.get("SEAMLESS_DOWNSTREAM_TEST_TIMEOUT", "60"))
# Test files run this many at a time (each in its own process).
JOBS = int(os.environ.get("SEAMLESS_DOWNSTREAM_JOBS", "2"))

VENVS = {
    "ours": REPO / ".venv-downstream",
    "baseline": REPO / ".venv-downstream-014",
}


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kwargs)


def _recipe(kind: str) -> str:
    parts = [kind, sys.version, *DOWNSTREAM, *TEST_TOOLS]
    if kind == "ours":
        parts.append((REPO / "pyproject.toml").read_text())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def venv_python(kind: str) -> Path:
    """The python of the ``kind`` venv, built (or rebuilt) when needed."""
    venv = VENVS[kind]
    python = venv / "bin" / "python"
    stamp = venv / ".recipe"
    recipe = _recipe(kind)
    if python.exists() and stamp.exists() and stamp.read_text() == recipe:
        return python
    if venv.exists():
        shutil.rmtree(venv)
    _run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(python), "-m", "pip", "install", "-q"]
    _run([*pip, *DOWNSTREAM, *TEST_TOOLS, "seamless-core==0.1.4"])
    if kind == "ours":
        _run([str(python), "-m", "pip", "uninstall", "-q", "-y", "seamless-core"])
        _run([*pip, "-e", str(REPO)])
    stamp.write_text(recipe)
    return python


def seamless_location(python: Path) -> str:
    """Where ``import seamless`` resolves in that venv (run outside the repository)."""
    code = "import seamless, seamless_transformer; print(seamless.__file__)"
    return _run([str(python), "-c", code], cwd=tempfile.gettempdir()).stdout.strip()


def transformer_tests(python: Path) -> Path:
    """seamless-transformer 0.6.1's ``tests/`` from its sdist, unpacked once next to the venv."""
    target = VENVS["ours"].parent / ".downstream-sdists" / "seamless_transformer-0.6.1"
    if (target / "tests").is_dir():
        return target / "tests"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        _run(
            [str(python), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
            + ["-d", tmp, "seamless-transformer==0.6.1"]
        )
        (sdist,) = Path(tmp).glob("*.tar.gz")
        with tarfile.open(sdist) as archive:
            archive.extractall(target.parent, filter="data")
    return target / "tests"


def _outcomes(junit: Path) -> dict[str, str]:
    results: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "skipped"
        if results.get(name) != "failed":  # an error in teardown makes a pass a failure
            results[name] = outcome
    return results


def run_file(python: Path, test_file: Path, workdir: Path) -> dict[str, str]:
    """Outcomes of one test file: test id -> passed/failed/skipped; a file that outlives
    ``FILE_TIMEOUT`` is killed and reported as ``{"<file>::<timeout>": "timeout"}``."""
    junit = workdir / f"{test_file.stem}.xml"
    cmd = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)]
    cmd += [f"--junitxml={junit}", f"--timeout={TEST_TIMEOUT:g}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.pop("PYTHONPATH", None)
    home = workdir / f"home-{test_file.stem}"  # seamless-config reads and writes ~/.seamless
    home.mkdir(exist_ok=True)
    env["HOME"] = str(home)
    proc = subprocess.Popen(
        cmd,
        cwd=test_file.parent,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        proc.wait(FILE_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()
        return {f"{test_file.stem}::<timeout>": "timeout"}
    if not junit.exists():
        return {f"{test_file.stem}::<crashed>": "failed"}
    return _outcomes(junit)


def run_suite(python: Path, files: list[str] | None = None) -> dict[str, str]:
    tests = transformer_tests(python)
    results: dict[str, str] = {}
    chosen = [
        test_file
        for test_file in sorted(tests.glob("test_*.py"))
        if files is None or test_file.name in files
    ]
    with (
        tempfile.TemporaryDirectory(prefix="seamless-downstream-") as tmp,
        ThreadPoolExecutor(JOBS) as pool,
    ):
        for outcomes in pool.map(lambda test_file: run_file(python, test_file, Path(tmp)), chosen):
            results.update(outcomes)
    return results


def read_baseline() -> set[str]:
    lines = BASELINE_FILE.read_text().splitlines()
    return {line for line in lines if line and not line.startswith("#")}


def main(argv: list[str]) -> int:
    kind = argv[0] if argv else "ours"
    files = argv[1:] or None
    python = venv_python(kind)
    print("import seamless ->", seamless_location(python), flush=True)
    results = run_suite(python, files)
    passed = sorted(name for name, outcome in results.items() if outcome == "passed")
    print(json.dumps({o: sum(v == o for v in results.values()) for o in set(results.values())}))
    for name, outcome in sorted(results.items()):
        if outcome != "passed":
            print(f"{outcome:8} {name}")
    if kind == "baseline" and files is None:
        header = (
            "# Tests of seamless-transformer 0.6.1's sdist that pass on seamless-core 0.1.4\n"
            "# (with seamless-remote 0.4.0, seamless-config 0.3.2, seamless-dask 0.4), recorded\n"
            "# by `python tests/downstream/runner.py baseline`: one pytest process per file.\n"
        )
        BASELINE_FILE.write_text(header + "\n".join(passed) + "\n")
    elif kind == "ours":
        missing = sorted(read_baseline() - set(passed))
        print(f"{len(passed)} passed here; {len(missing)} of the baseline's do not:")
        for name in missing:
            print("   ", name, results.get(name, "absent"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
