"""The downstream venv: our package plus the released Seamless packages, without 0.1.4.

Built once at ``<repo>/.venv-downstream-remote`` (or ``$SEAMLESS_DOWNSTREAM_VENV``) and rebuilt
when the requirements below or ``pyproject.toml`` change. Our package is installed
editable, so the venv runs the working tree's code. The released packages depend on the
distribution ``seamless-core``, which ours satisfies: pip does not install 0.1.4, and
:func:`downstream_python` checks that.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOWNSTREAM = (
    "seamless-transformer==0.6.1",
    "seamless-remote==0.4.0",
    "seamless-config==0.3.2",
    "seamless-dask==0.4",
)
# The servers that seamless-config launches: hashserver and seamless-database.
SERVERS = ("hashserver", "seamless-database")
VENV_ENV = "SEAMLESS_DOWNSTREAM_VENV"
BUILD_TIMEOUT = 1200


def venv_dir() -> Path:
    return Path(os.environ.get(VENV_ENV) or REPO / ".venv-downstream-remote")


def _fingerprint() -> str:
    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes())
    digest.update(json.dumps([DOWNSTREAM, SERVERS]).encode())
    return digest.hexdigest()


def _run(*args: str) -> None:
    subprocess.run(args, check=True, timeout=BUILD_TIMEOUT, stdout=subprocess.DEVNULL)


def _check(python: Path) -> None:
    """Our ``seamless_core`` (and ``seamless``, once it exists) from this repository."""
    probe = (
        "import importlib.metadata as m, json, seamless_core\n"
        "print(json.dumps([m.version('seamless-core'), seamless_core.__file__]))"
    )
    out = subprocess.run(
        [str(python), "-c", probe], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    version, path = json.loads(out)
    if version == "0.1.4" or not Path(path).resolve().is_relative_to(REPO):
        raise RuntimeError(f"{python} has seamless-core {version} from {path}, not ours")


def downstream_python() -> Path:
    """The downstream venv's python, built first if needed."""
    venv = venv_dir()
    python = venv / "bin" / "python"
    stamp = venv / ".installed-downstream"
    if not (stamp.exists() and stamp.read_text() == _fingerprint()):
        if not python.exists():
            _run(sys.executable, "-m", "venv", str(venv))
        _run(str(python), "-m", "pip", "install", "-q", "-e", f"{REPO}[http]")
        _run(str(python), "-m", "pip", "install", "-q", *DOWNSTREAM, *SERVERS)
        stamp.write_text(_fingerprint())
    _check(python)
    return python
