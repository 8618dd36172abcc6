"""The released Seamless packages on seamless_core: seamless-transformer 0.6.1's own test
suite, and direct/delayed transformations in-process and in spawned workers.

Runs in a venv with this repository in place of seamless-core 0.1.4 (built once and cached by
:mod:`runner`, see there). Skipped unless ``SEAMLESS_DOWNSTREAM=1`` (``make test`` sets it),
since building that venv needs the package index.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import runner  # noqa: E402

pytestmark = pytest.mark.skipif(
    os.environ.get("SEAMLESS_DOWNSTREAM") != "1",
    reason="set SEAMLESS_DOWNSTREAM=1 to run the released packages' tests (needs pip)",
)


@pytest.fixture(scope="module")
def python() -> Path:
    return runner.venv_python("ours")


def run_script(python: Path, code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-c", textwrap.dedent(code)],
        cwd=tempfile.gettempdir(),  # not the repository: `seamless` must come from the venv
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_import_seamless_is_ours(python):
    assert Path(runner.seamless_location(python)) == runner.REPO / "seamless" / "__init__.py"
    result = run_script(
        python,
        """
        import importlib.metadata as md, seamless, seamless_core
        assert seamless.Checksum is seamless_core.Checksum
        print(md.version("seamless-core"))
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() != "0.1.4"


IN_PROCESS = """
import seamless
from seamless import Checksum
from seamless.transformer import direct, delayed

@direct
def add(a, b):
    return a + b

@delayed
def mul(a, b):
    return a * b

assert add(2, 3) == 5
tf = mul(6, 7)
assert tf.run() == 42
checksum = tf.compute()
assert isinstance(checksum, Checksum) and checksum.resolve("mixed") == 42
seamless.close()
print("OK")
"""

SPAWNED = """
import seamless
from seamless import Checksum
from seamless.transformer import direct, delayed, spawn, has_spawned

if __name__ == "__main__":
    spawn(2)
    assert has_spawned()

    @direct
    def add(a, b):
        return a + b

    @delayed
    def power(a, b):
        import numpy as np
        return np.arange(a) ** b

    assert add(20, 22) == 42
    result = power(5, 2).run()
    assert list(result) == [0, 1, 4, 9, 16], result
    tf = power(4, 3)
    checksum = tf.compute()
    assert isinstance(checksum, Checksum), tf.exception
    assert list(checksum.resolve("mixed")) == [0, 1, 8, 27]
    seamless.close()
    print("OK")
"""


def run_file(python: Path, tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    # From a file: transformers read their functions' source, and spawned workers
    # re-import __main__.
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [str(python), str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_direct_and_delayed_in_process(python, tmp_path):
    result = run_file(python, tmp_path, IN_PROCESS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("OK")


def test_direct_and_delayed_in_spawned_workers(python, tmp_path):
    result = run_file(python, tmp_path, SPAWNED)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("OK")


def test_seamless_transformer_suite_passes_what_passes_on_014(python):
    results = runner.run_suite(python)
    passed = {name for name, outcome in results.items() if outcome == "passed"}
    hung = sorted(name for name, outcome in results.items() if outcome == "timeout")
    missing = sorted(runner.read_baseline() - passed)
    assert not hung, f"test files that hung: {hung}"
    assert not missing, f"pass on 0.1.4 but not here: {missing}"
