"""The package imports light, and builds into a wheel that installs into an empty venv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv

import pytest

HEAVY = ["IPython", "ipywidgets", "httpx", "numpy", "yaml", "zstandard"]


def test_import_does_not_pull_in_heavy_modules(fresh_python):
    code = (
        "import sys, json, seamless_core;"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = fresh_python(code)
    assert json.loads(out.stdout) == []


# What the first checksum must not load: NumPy, asyncio (and the thread pool it brings), and
# the clients of stores that nothing configured.
NOT_FOR_A_CHECKSUM = [
    *HEAVY,
    "asyncio",
    "concurrent.futures",
    "seamless_core.stores.hashserver",
    "seamless_core.stores.remote",
    "seamless_core.conversion",
    "seamless_core.jupyter",
]


def test_the_first_checksum_loads_no_numpy_asyncio_or_unconfigured_stores(fresh_python):
    code = (
        "import sys, json\n"
        "from seamless_core import Buffer\n"
        "buffer = Buffer(b'x')\n"
        "buffer.get_checksum()\n"
        "assert 'seamless_core.cache' in sys.modules  # registered in the cache\n"
        "import seamless_core.cache\n"
        f"print(json.dumps([m for m in {NOT_FOR_A_CHECKSUM!r} if m in sys.modules]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAMLESS_")}
    env["SEAMLESS_SPILL_FOLDER"] = "off"
    assert json.loads(fresh_python(code, env=env).stdout) == []


def test_a_configured_hashserver_loads_its_client(fresh_python):
    code = (
        "import sys\n"
        "from seamless_core import Buffer, stores\n"
        "Buffer(b'x').get_checksum()\n"
        "assert 'seamless_core.stores.hashserver' not in sys.modules\n"
        "print([type(s).__name__ for s in stores.list()])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAMLESS_")}
    env["SEAMLESS_HASHSERVER_URLS"] = "http://127.0.0.1:9"
    assert fresh_python(code, env=env).stdout.strip() == "['HashServer']"


@pytest.mark.slow
def test_wheel_installs_into_an_empty_venv_and_imports(tmp_path):
    root = __import__("pathlib").Path(__file__).resolve().parent.parent.parent
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(tmp_path / "dist"),
            str(root),
        ],
        check=True,
    )
    (wheel,) = (tmp_path / "dist").glob("seamless_core-*.whl")
    venv.create(tmp_path / "env", with_pip=True)
    python = tmp_path / "env" / "bin" / "python"
    # Only the wheel: a PYTHONPATH naming a source tree (its egg-info beside the package) would
    # have pip take the package for installed, and install nothing.
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    install = [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)]
    subprocess.run(install, check=True, env=env)
    code = (
        "import seamless_core, seamless_core._speedups as c;"
        "print(seamless_core.Checksum.of(b'').hex(), callable(c.contains_nonfinite))"
    )
    out = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True, env=env
    )
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert out.stdout.split() == [empty, "True"]  # the wheel carries the C speedups
    scripts = {p.name for p in (tmp_path / "env" / "bin").iterdir()}
    assert {"seamless-checksum", "seamless-checksum-file", "seamless-checksum-index"} <= scripts
