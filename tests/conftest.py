"""Shared test configuration."""

from __future__ import annotations

import os
import sys

import pytest
from helpers.servers import LocalServer
from hypothesis import HealthCheck, settings


def _reset_process_state(previous_stores: list | None) -> None:
    """Give the next test a fresh process-wide buffer cache and the store list it had."""
    cache_module = sys.modules.get("seamless_core.cache.process")
    if cache_module is not None:
        cache = cache_module.set_buffer_cache(None)
        if cache is not None:
            cache.close()
    stores = sys.modules.get("seamless_core.stores")
    if stores is not None and previous_stores is not None:
        for store in stores.list():
            if not any(store is kept for kept in previous_stores):
                stores.remove(store)


@pytest.fixture(autouse=True)
def _private_spill_folder(tmp_path_factory, monkeypatch):
    """Never spill into the real default folder: each test gets its own, and a fresh
    process-wide buffer cache that reads it."""
    monkeypatch.setenv("SEAMLESS_SPILL_FOLDER", str(tmp_path_factory.mktemp("spill")))
    stores = sys.modules.get("seamless_core.stores")
    previous_stores = stores.list() if stores is not None else []
    _reset_process_state(None)
    yield
    _reset_process_state(previous_stores)


# -- property tests --------------------------------------------------------------------------

# The same examples at every run and no limit on wall-clock time: a property test fails on
# its inputs, never on the luck of the draw or on the machine's load (a deadline or the
# too_slow health check fails a loaded machine). HYPOTHESIS_PROFILE=explore draws new examples
# at every run, to hunt for bugs outside the test suite's runs.
settings.register_profile(
    "deterministic",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture
def clock():
    """A fake monotonic clock that moves only when told to (``clock.advance(seconds)``)."""
    from helpers.cache import FakeClock

    return FakeClock()


@pytest.fixture
def cache(tmp_path, clock):
    """A process-wide buffer cache on ``clock``, without a background evictor, spilling into
    the test's own folder. Modules that need another cache define their own ``cache``."""
    from seamless_core.cache import BufferCache, set_buffer_cache

    cache = BufferCache(clock=clock, background=False, spill_folder=tmp_path / "spill")
    set_buffer_cache(cache)
    yield cache
    cache.close()


# Stores configured in the developer's environment must not leak into the tests (those that
# test the variables set them themselves).
for _variable in (
    "SEAMLESS_BUFFER_FOLDERS",
    "SEAMLESS_HASHSERVER_URLS",
    "SEAMLESS_BUFFER_STORE_URLS",
    "SEAMLESS_BUFFER_FOLDER_SIZE_LIMIT",
):
    os.environ.pop(_variable, None)


# -- background uploads ----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _settled_uploads():
    """Let each test's background uploads finish within it, and forget their failures."""
    yield
    upload = sys.modules.get("seamless_core.stores.upload")
    if upload is not None:
        upload.flush(timeout=30)
        upload.reset()


# -- a real hashserver -----------------------------------------------------------------------


class RunningHashServer(LocalServer):
    """A ``hashserver`` subprocess on 127.0.0.1: its ``url``, ``directory`` and ``process``."""

    name = "hashserver"

    def __init__(self, directory, writable: bool = True, layout: str = "prefix") -> None:
        import hashlib

        self.directory, self.writable, self.layout = directory, writable, layout
        # A buffer that only this server holds: its answer proves that the port is ours.
        self._token = os.urandom(16).hex().encode()
        self._token_checksum = hashlib.sha256(self._token).hexdigest()
        token_path = directory / self._token_checksum
        if layout == "prefix":
            token_path = directory / self._token_checksum[:2] / self._token_checksum
        token_path.parent.mkdir(parents=True, exist_ok=True)
        token_path.write_bytes(self._token)
        super().__init__()

    def command(self, port: int) -> list[str]:
        command = [sys.executable, "-m", "hashserver", str(self.directory), "--host", "127.0.0.1"]
        command += ["--port", str(port), "--layout", self.layout]
        return command + (["--writable"] if self.writable else [])

    def log_path(self, port: int):
        return self.directory.parent / f"{self.directory.name}-{port}.log"

    def answers(self, opener) -> bool:
        with opener.open(f"{self.url}/{self._token_checksum}", timeout=5.0) as response:
            return response.status == 200 and response.read() == self._token


@pytest.fixture(scope="session")
def hashserver_factory(tmp_path_factory):
    """``start(writable=True, layout="prefix")`` -> a fresh :class:`RunningHashServer` in
    its own temporary directory; every server started is killed at the end of the session."""
    import importlib.util

    if importlib.util.find_spec("hashserver") is None:
        pytest.skip("the hashserver package is not installed")
    started: list[RunningHashServer] = []

    def start(writable: bool = True, layout: str = "prefix") -> RunningHashServer:
        server = RunningHashServer(tmp_path_factory.mktemp("hashserver"), writable, layout)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture(scope="session")
def hashserver(hashserver_factory):
    """One writable hashserver shared by the session's tests."""
    return hashserver_factory()


# -- a fresh interpreter ---------------------------------------------------------------------


@pytest.fixture
def fresh_python():
    """``run(code, env=None, timeout=120, check=True)`` runs ``code`` in a new interpreter
    (this venv's) and returns the completed process, its output captured as text. ``env``
    replaces the environment (default: this one, which has the test's own spill folder);
    with ``check`` a non-zero exit fails the test and shows the child's stderr."""
    import subprocess

    def run(code: str, env: dict | None = None, timeout: float = 120, check: bool = True):
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            pytest.fail(f"child exited with {done.returncode}:\n{done.stderr[-3000:]}")
        return done

    return run
