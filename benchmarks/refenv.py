"""Run benchmark snippets against the published seamless-core 0.1.4 and against this tree.

The reference lives in its own virtual environment, ``benchmarks/.venv-ref`` (git-ignored),
created on first use with the standard library's ``venv`` and ``pip install
seamless-core==0.1.4``. Its dependencies (numpy, orjson, ...) are pinned to the versions
installed in the current interpreter, so that the only thing that differs between the two
sides is seamless itself.

Both sides run the same way: a fresh Python subprocess per snippet, which prints one JSON
object as its last line of stdout. That keeps timings and memory measurements comparable
(no warm caches or allocator state shared with the harness) and keeps 0.1.4 (``import
seamless``) and this tree (``import seamless_core``) out of each other's way.

    >>> from refenv import ensure_ref_venv, run_in_ref, run_in_ours
    >>> ensure_ref_venv()                      # path of the reference venv's python
    >>> run_in_ref("import json, seamless; print(json.dumps({'ok': 1}))")
    {'ok': 1}

Environment variables:

``SEAMLESS_BENCH_REF_BASE_PYTHON``
    interpreter used to create the reference venv (default: the one running this code, so
    that both sides use the same Python version).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
REF_VENV = BENCH_DIR / ".venv-ref"
REF_PACKAGE = "seamless-core"
REF_VERSION = "0.1.4"
# Dependencies of seamless-core 0.1.4 that matter for speed: pinned to our versions.
PINNED_DEPENDENCIES = ("numpy", "orjson", "PyYAML", "zstandard")

__all__ = [
    "REF_VENV",
    "REPO_ROOT",
    "SnippetError",
    "ensure_ref_venv",
    "interpreter",
    "run_in_ours",
    "run_in_ref",
    "run_on",
    "run_snippet",
    "speedups_in_use",
    "subprocess_env",
]


class SnippetError(RuntimeError):
    """A benchmark snippet failed, timed out, or printed no JSON object."""


# -- the reference venv ----------------------------------------------------------------------


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _wanted_pins() -> dict[str, str]:
    """Versions of the speed-relevant dependencies in the current interpreter."""
    pins = {}
    for name in PINNED_DEPENDENCIES:
        try:
            pins[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return pins


_PROBE = """
import json, sys
from importlib import metadata
import seamless, seamless.buffer_class  # noqa
versions = {}
for name in sys.argv[1:]:
    try:
        versions[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        versions[name] = None
print(json.dumps(versions))
"""


def _installed_versions(python: Path, names: list[str]) -> dict[str, str | None] | None:
    """Versions installed in the venv, or None when seamless 0.1.4 is not importable there."""
    if not python.exists():
        return None
    try:
        proc = subprocess.run(
            [str(python), "-c", _PROBE, REF_PACKAGE, *names],
            capture_output=True,
            text=True,
            timeout=120,
            env=subprocess_env(),
            cwd=tempfile.gettempdir(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


@contextlib.contextmanager
def _creation_lock():
    """Serialize venv creation between concurrent benchmark runs (POSIX only)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    tag = hashlib.sha256(str(REF_VENV).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"seamless-bench-ref-{tag}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _pip(python: Path, *args: str) -> None:
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env())
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )


_verified_ref_python: Path | None = None  # checked once per harness process


def ensure_ref_venv(*, verbose: bool = True) -> Path:
    """The python executable of ``benchmarks/.venv-ref``, with seamless-core 0.1.4 installed.

    Created on first use (``python -m venv`` + ``pip install seamless-core==0.1.4``); reused
    when present and ``import seamless`` works there. The speed-relevant dependencies are
    (re)pinned to the versions of the current interpreter when they differ.
    """
    global _verified_ref_python
    if _verified_ref_python is not None and _verified_ref_python.exists():
        return _verified_ref_python
    python = _venv_python(REF_VENV)
    pins = _wanted_pins()
    names = [REF_PACKAGE, *pins]
    with _creation_lock():
        versions = _installed_versions(python, names)
        if versions is None or versions.get(REF_PACKAGE) != REF_VERSION:
            if REF_VENV.exists():
                shutil.rmtree(REF_VENV)
            base = os.environ.get("SEAMLESS_BENCH_REF_BASE_PYTHON", sys.executable)
            if verbose:
                print(f"[refenv] creating {REF_VENV} ({REF_PACKAGE}=={REF_VERSION})", flush=True)
            proc = subprocess.run(
                [base, "-m", "venv", str(REF_VENV)],
                capture_output=True,
                text=True,
                env=subprocess_env(),
            )
            if proc.returncode != 0:
                raise RuntimeError(f"creating {REF_VENV} failed:\n{proc.stderr}")
            versions = {}
        wanted = {REF_PACKAGE: REF_VERSION, **pins}
        missing = [f"{n}=={v}" for n, v in wanted.items() if versions.get(n) != v]
        if missing:
            if verbose:
                print(f"[refenv] installing into {REF_VENV}: {' '.join(missing)}", flush=True)
            _pip(python, *missing)
            versions = _installed_versions(python, names)
            if versions is None or versions.get(REF_PACKAGE) != REF_VERSION:
                raise RuntimeError(f"{REF_PACKAGE}=={REF_VERSION} is not importable in {REF_VENV}")
    _verified_ref_python = python
    return python


# -- running snippets ------------------------------------------------------------------------


_DROPPED_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")


def subprocess_env(pythonpath: str | None = None) -> dict[str, str]:
    """The environment for a benchmark subprocess: ours, minus variables that would let one
    side's interpreter see the other's packages; ``PYTHONPATH`` set only when given."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_VARIABLES}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def speedups_in_use(python: str | os.PathLike, pythonpath: str | None = None) -> bool | None:
    """Whether ``seamless_core`` runs with its optional C extension under ``python``
    (``None``: it could not be imported there)."""
    code = "import seamless_core._native as n; print(n.SPEEDUPS)"
    done = subprocess.run(
        [str(python), "-c", code], env=subprocess_env(pythonpath), capture_output=True, text=True
    )
    return {"True": True, "False": False}.get(done.stdout.strip())


def run_snippet(
    python: str | os.PathLike,
    code: str,
    timeout: float = 600,
    *,
    pythonpath: str | None = None,
    cwd: str | os.PathLike | None = None,
) -> dict:
    """Run ``code`` with ``python`` in a fresh subprocess; return the JSON object it printed
    as its last line of stdout. Raises :class:`SnippetError` on failure or timeout."""
    with tempfile.TemporaryDirectory(prefix="seamless-bench-") as tmp:
        script = Path(tmp) / "snippet.py"
        script.write_text(code)
        try:
            proc = subprocess.run(
                [str(python), str(script)],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=subprocess_env(pythonpath),
                cwd=cwd if cwd is not None else tmp,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise SnippetError(f"snippet timed out after {timeout:g} s") from None
    if proc.returncode != 0:
        raise SnippetError(_last_error(proc.stderr) or f"snippet exited with {proc.returncode}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise SnippetError("snippet printed nothing")
    try:
        result = json.loads(lines[-1])
    except ValueError:
        raise SnippetError(f"last stdout line is not JSON: {lines[-1][:200]!r}") from None
    if not isinstance(result, dict):
        raise SnippetError(f"last stdout line is not a JSON object: {lines[-1][:200]!r}")
    return result


def _last_error(stderr: str) -> str:
    """The last line of a traceback (the exception), or the stderr tail."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:500] if lines else ""


def interpreter(side: str) -> tuple[Path, str | None]:
    """``(python, pythonpath)`` of a side: ``"ref"`` (0.1.4 venv) or ``"ours"`` (this tree)."""
    if side == "ref":
        return ensure_ref_venv(), None
    if side == "ours":
        return Path(sys.executable), str(REPO_ROOT)
    raise ValueError(f"side is 'ref' or 'ours', not {side!r}")


def run_on(side: str, code: str, timeout: float = 600) -> dict:
    """:func:`run_in_ref` or :func:`run_in_ours`, by name."""
    python, pythonpath = interpreter(side)
    return run_snippet(python, code, timeout, pythonpath=pythonpath)


def run_in_ref(code: str, timeout: float = 600) -> dict:
    """Run ``code`` in the seamless-core 0.1.4 venv (``import seamless``)."""
    return run_snippet(ensure_ref_venv(), code, timeout)


def run_in_ours(code: str, timeout: float = 600) -> dict:
    """Run ``code`` with the current interpreter in a fresh subprocess, with this repository
    first on ``sys.path`` so that ``import seamless_core`` finds this tree."""
    return run_snippet(sys.executable, code, timeout, pythonpath=str(REPO_ROOT))


if __name__ == "__main__":
    print(ensure_ref_venv())
