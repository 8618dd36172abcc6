"""Nothing is lost: a buffer leaves memory unspilled only when a copy is known good.

Each test damages or removes the copy the cache might rely on (an empty file, a flipped bit,
a truncated ``.gz``, a stale spill file, a corrupt file on a real hashserver's disk, a
server that lies about what it has, a store removed from the list, a server that is down
at exit), then evicts, drops every reference, and resolves: the bytes must come back.
"""

from __future__ import annotations

import gc
import gzip
import http.server
import json
import os
import subprocess
import sys
import threading
import weakref

import pytest

from seamless_core import Buffer, Checksum, stores
from seamless_core.cache import BufferCache, set_buffer_cache
from seamless_core.stores import BufferFolder, HashServer


@pytest.fixture
def cache(tmp_path):
    # Over the soft cap as soon as anything is referenced; eviction only when asked.
    cache = BufferCache(
        soft_cap=0, hard_cap=1 << 40, background=False, spill_folder=tmp_path / "spill"
    )
    set_buffer_cache(cache)
    yield cache
    set_buffer_cache(None)
    cache.close()


def _evict_forget_resolve(cache: BufferCache, content: bytes) -> tuple[int, Checksum]:
    """Reference ``content``, upload, evict it, drop it, resolve it. Returns the bytes the
    eviction spilled and the checksum."""
    buffer = Buffer(content)
    checksum = buffer.get_checksum()
    buffer.incref()
    assert stores.flush(timeout=60)
    result = cache.run_eviction_once()
    assert result.evicted == 1, result
    cache.decref(checksum)
    ref = weakref.ref(buffer)
    del buffer
    gc.collect()
    assert ref() is None and cache.get(checksum) is None  # out of memory for real
    assert checksum.resolve().content == content
    return result.spilled_bytes, checksum


CONTENT = b"the only copy of a result that took a week to compute\n" * 20


def _prefix_path(folder: BufferFolder, content: bytes) -> str:
    return folder.path_of(Checksum.of(content))


@pytest.mark.parametrize("damage", ["empty", "flipped bit", "truncated gz"])
def test_a_damaged_file_in_a_writable_folder_is_replaced_not_trusted(cache, tmp_path, damage):
    folder = stores.add(BufferFolder(tmp_path / "store", writable=True))
    path = _prefix_path(folder, CONTENT)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if damage == "empty":
        open(path, "wb").close()
    elif damage == "flipped bit":
        with open(path, "wb") as f:
            f.write(bytes([CONTENT[0] ^ 1]) + CONTENT[1:])
    else:
        with open(path + ".gz", "wb") as f:
            f.write(gzip.compress(CONTENT)[:-12])
    _evict_forget_resolve(cache, CONTENT)
    assert folder.get(Checksum.of(CONTENT)) == CONTENT  # repaired in place


def test_a_stale_file_in_the_spill_folder_is_replaced(cache):
    spill = cache.spill_folder
    path = spill.path_of(Checksum.of(CONTENT))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"x" * len(CONTENT))  # same length, other bytes
    spilled, checksum = _evict_forget_resolve(cache, CONTENT)
    assert spilled == len(CONTENT)
    assert spill.get(checksum) == CONTENT


def test_a_corrupt_file_on_the_hashservers_disk_is_not_relied_on(cache, hashserver_factory):
    server = hashserver_factory()
    checksum = Checksum.of(CONTENT)
    target = server.directory / checksum.hex()[:2] / checksum.hex()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"y" * len(CONTENT))  # the server answers 201: "exists already"
    store = stores.add(HashServer(server.url))
    spilled, _ = _evict_forget_resolve(cache, CONTENT)
    assert spilled == len(CONTENT)  # the server's claim was not enough: spilled first
    assert cache.costs.holders(checksum) == [cache.spill_folder]
    stores.remove(store)


class _LyingHandler(http.server.BaseHTTPRequestHandler):
    """A hashserver that says it has every buffer and serves none."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.startswith(("/has", "/has-now")):
            length = int(self.headers.get("Content-Length") or 0)
            asked = json.loads(self.rfile.read(length) or b"[]")
            body = json.dumps([True] * len(asked)).encode()
            self._reply(200, body)
        elif self.path == "/healthcheck":
            self._reply(200, b"OK")
        else:
            self._reply(404, b"Not found")

    def do_PUT(self) -> None:  # noqa: N802
        self._reply(201, b"")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def lying_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LyingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_server_whose_has_now_lies_is_not_relied_on(cache, lying_server):
    store = stores.add(HashServer(lying_server))
    spilled, checksum = _evict_forget_resolve(cache, CONTENT)
    assert spilled == len(CONTENT)
    assert store not in cache.costs.holders(checksum)
    stores.remove(store)


def test_recoverability_follows_the_store_list(cache, tmp_path):
    folder = stores.add(BufferFolder(tmp_path / "store", writable=True))
    buffer = Buffer(CONTENT)
    checksum = buffer.get_checksum()
    buffer.incref()
    assert stores.flush(timeout=60)
    assert cache.costs.holders(checksum) == [folder]
    stores.remove(folder)
    assert cache.costs.holders(checksum) == []
    result = cache.run_eviction_once()
    assert result.evicted == 1 and result.spilled_bytes == len(CONTENT)
    buffer.decref()
    del buffer
    gc.collect()
    assert checksum.resolve().content == CONTENT  # from the spill folder


def test_the_uploader_lets_go_of_its_last_batch(cache, tmp_path):
    stores.add(BufferFolder(tmp_path / "store", writable=True))
    buffer = Buffer(os.urandom(4 << 20))
    checksum = buffer.get_checksum()
    buffer.incref()
    assert stores.flush(timeout=60)
    buffer.decref()
    cache.run_eviction_once()
    ref = weakref.ref(buffer)
    del buffer
    gc.collect()
    assert ref() is None, gc.get_referrers(ref())
    assert cache.get(checksum) is None


_EXIT_SCRIPT = """
import sys
from seamless_core import Buffer, stores
from seamless_core.stores import HashServer, upload
upload.RETRIES, upload.BACKOFF = 1, 0.05
stores.add(HashServer(sys.argv[1], retries=0))
for i in range(100):
    Buffer(b"result %d" % i).incref()
"""


def _python(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_exit_with_the_hashserver_down_loses_nothing(tmp_path):
    import socket

    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    spill = tmp_path / "spill"
    env = {**os.environ, "SEAMLESS_SPILL_FOLDER": str(spill)}
    done = _python(env, "-c", _EXIT_SCRIPT, dead)
    assert done.returncode == 0, done.stderr
    assert "100 buffers could not be uploaded" in done.stderr
    assert f"100 are saved in {spill}" in done.stderr
    listings = sorted(spill.glob("failed-uploads-*.txt"))
    assert len(listings) == 1 and str(listings[0]) in done.stderr
    assert len(listings[0].read_text().split()) == 100
    # Once a store is back, one command uploads them all.
    target = tmp_path / "back"
    retried = _python(
        env, "-m", "seamless_core.stores.retry", str(listings[0]), "--to", str(target)
    )
    assert retried.returncode == 0, retried.stderr
    assert "100 of 100 buffers uploaded" in retried.stdout
    back = BufferFolder(target)
    assert back.get(Checksum.of(b"result 42")) == b"result 42"


def test_a_spill_path_with_a_nul_byte_turns_spilling_off_instead_of_breaking_eviction(
    tmp_path, caplog
):
    cache = BufferCache(soft_cap=0, hard_cap=1 << 40, background=False, spill_folder="bad\0path")
    buffer = Buffer(b"no way back")
    cache.incref_buffer(buffer)
    result = cache.run_eviction_once()  # must not raise
    assert result.evicted == 0  # nowhere to spill, no other copy: it stays
    assert cache.spill_folder is None and "spilling off" in caplog.text
    assert cache.get(buffer.get_checksum()) is buffer
    cache.close()
