"""The process lifecycle of 0.1.4 (worker mode, ensure_open, close, close hooks) and
reference bookkeeping that survives interpreter shutdown."""

from __future__ import annotations

import os
import subprocess
import textwrap

import pytest

from seamless_core import Buffer, Checksum, lifecycle
from seamless_core.cache import BufferCache, WorkerBufferCache, get_buffer_cache


@pytest.fixture
def run_python(fresh_python):
    """``run_python(code, **env)``: ``code`` (dedented) in a fresh interpreter, with ``env``
    added to this environment; the completed process, exit status unchecked."""

    def run(code: str, **env: str) -> subprocess.CompletedProcess:
        environment = {**os.environ, **env}
        return fresh_python(textwrap.dedent(code), env=environment, check=False)

    return run


@pytest.fixture
def worker_mode():
    lifecycle.set_is_worker(True)
    try:
        yield
    finally:
        lifecycle.set_is_worker(False)


def test_a_worker_has_no_cache_of_its_own(worker_mode):
    assert lifecycle.is_worker()
    cache = get_buffer_cache()
    assert isinstance(cache, WorkerBufferCache)
    buffer = Buffer(b"made in a worker")
    checksum = buffer.get_checksum()
    buffer.tempref()
    checksum.incref()
    checksum.decref()
    assert checksum.tempref() is None
    assert cache.get(checksum) is None and checksum not in cache


def test_the_process_cache_is_back_after_worker_mode(worker_mode):
    lifecycle.set_is_worker(False)
    assert isinstance(get_buffer_cache(), BufferCache)
    buffer = Buffer(b"kept")
    buffer.get_checksum()
    assert get_buffer_cache().get(buffer.checksum) is buffer


def test_close_runs_hooks_once_then_refuses_work(run_python, tmp_path):
    result = run_python(
        """
        from seamless_core import lifecycle
        calls = []
        lifecycle.register_close_hook(lambda: calls.append("hook"))
        lifecycle.register_close_hook(lambda: 1 / 0)  # a failing hook does not stop close
        lifecycle.ensure_open("start")
        lifecycle.close()
        lifecycle.close()
        assert calls == ["hook"], calls
        assert lifecycle.closed() and not lifecycle.closing()
        try:
            lifecycle.ensure_open("buffer write")
        except RuntimeError as exc:
            print("refused:", exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "refused: Seamless has been closed" in result.stdout
    assert "(buffer write)" in result.stdout


def test_register_close_hook_refuses_non_callables():
    with pytest.raises(TypeError, match="callable"):
        lifecycle.register_close_hook("not a function")  # type: ignore[arg-type]


@pytest.mark.parametrize(("mark_required", "expected"), [(True, "hook ran"), (False, "")])
def test_close_runs_at_exit_only_when_required(run_python, mark_required, expected):
    result = run_python(
        f"""
        from seamless_core import lifecycle
        lifecycle.register_close_hook(lambda: print("hook ran"))
        lifecycle.ensure_open(mark_required={mark_required})
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_close_does_nothing_in_a_worker(run_python):
    result = run_python(
        """
        from seamless_core import lifecycle
        lifecycle.register_close_hook(lambda: print("hook ran"))
        lifecycle.set_is_worker(True)
        lifecycle.close()
        assert not lifecycle.closed()
        lifecycle.ensure_open()
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_close_flushes_pending_uploads(run_python, tmp_path):
    folder = tmp_path / "store"
    result = run_python(
        f"""
        from seamless_core import Buffer, lifecycle, stores
        stores.add(stores.BufferFolder({str(folder)!r}, writable=True))
        buffer = Buffer(b"uploaded at close")
        buffer.incref()
        lifecycle.close()
        print(buffer.checksum.hex())
        """,
        SEAMLESS_SPILL_FOLDER="off",
    )
    assert result.returncode == 0, result.stderr
    checksum = result.stdout.strip()
    stored = [name for _, _, names in os.walk(folder) for name in names]
    assert checksum in stored


def test_references_dropped_during_interpreter_shutdown_are_safe(run_python):
    # __del__ methods run at shutdown, when imports fail ("sys.meta_path is None"); a
    # Checksum must not import its cache lazily then.
    result = run_python(
        """
        from seamless_core import Checksum

        class Holder:
            def __init__(self, checksum):
                self.checksum = checksum
            def __del__(self):
                self.checksum.tempref()
                self.checksum.incref()
                self.checksum.decref()

        import builtins
        builtins._holder = Holder(Checksum("ab" * 32))  # lives until the very end
        """
    )
    assert result.returncode == 0
    assert "Exception ignored" not in result.stderr, result.stderr
    assert "meta_path" not in result.stderr, result.stderr


def test_checksum_refs_use_an_imported_cache_when_there_is_one():
    checksum = Buffer(b"counted").get_checksum()
    checksum.incref()
    try:
        assert get_buffer_cache().entry(checksum)["normal_refs"] == 1
    finally:
        checksum.decref()
    assert get_buffer_cache().entry(Checksum(checksum)) is None or (
        get_buffer_cache().entry(checksum)["normal_refs"] == 0
    )
