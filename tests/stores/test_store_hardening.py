"""Stores against damaged copies, lying, trickling and bombing servers, special files, bad
configuration and interrupted writes (issue 11, items 5, 6, 10, 12 and the put() contract)."""

from __future__ import annotations

import gzip
import http.server
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from seamless_core import Buffer, CacheMissError, Checksum, _atomic, stores
from seamless_core.cli import checksum_index
from seamless_core.stores import (
    BufferFolder,
    BufferTooLargeError,
    CorruptBufferError,
    HashServer,
    StoreUnavailableError,
)
from seamless_core.stores.environment import stores_from_environment


def unique(label: str) -> bytes:
    return f"{label} {time.time_ns()} {os.urandom(8).hex()}\n".encode()


# -- put(): known good, or a claim ----------------------------------------------------------


def flip_one_bit(content: bytes) -> bytes:
    return bytes([content[0] ^ 1]) + content[1:]


@pytest.mark.parametrize("damage", ["empty", "flipped bit", "truncated gz", "garbage zst"])
def test_folder_put_replaces_a_damaged_copy(tmp_path, damage):
    folder = BufferFolder(tmp_path / "f", writable=True)
    content = unique("precious") * 50
    checksum = Checksum.of(content)
    path = folder.path_of(checksum)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if damage == "empty":
        open(path, "wb").close()
    elif damage == "flipped bit":
        with open(path, "wb") as f:
            f.write(flip_one_bit(content))
    elif damage == "truncated gz":
        with open(path + ".gz", "wb") as f:
            f.write(gzip.compress(content)[:-12])
    else:
        with open(path + ".zst", "wb") as f:
            f.write(b"\x28\xb5\x2f\xfd garbage")
    assert folder.put(checksum, content) is True
    assert folder.get(checksum) == content
    with open(path, "rb") as f:
        assert f.read() == content
    # The damaged compressed copy is gone, so a hashserver serving the folder cannot send it.
    assert not os.path.exists(path + ".gz") and not os.path.exists(path + ".zst")


def test_folder_put_keeps_an_intact_copy(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True)
    content = unique("kept")
    checksum = Checksum.of(content)
    path = folder.path_of(checksum)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".gz", "wb") as f:
        f.write(gzip.compress(content))
    assert folder.put(checksum, content) is True
    assert not os.path.exists(path)  # the intact compressed copy was enough
    assert folder.put(checksum, content) is True
    assert folder.get(checksum) == content


def test_folder_put_async_returns_the_verdict(tmp_path):
    import asyncio

    folder = BufferFolder(tmp_path / "f", writable=True)
    content = unique("async put")
    assert asyncio.run(folder.put_async(Checksum.of(content), content)) is True


def corrupt_on_disk(directory, checksum: Checksum, content: bytes) -> None:
    path = directory / checksum.hex()[:2] / checksum.hex()
    os.chmod(path, 0o644)
    path.write_bytes(flip_one_bit(content))


def test_hashserver_put_is_a_claim_when_a_file_exists(hashserver):
    server = HashServer(hashserver.url)
    content = unique("on the server")
    checksum = Checksum.of(content)
    assert server.put(checksum, content) is True  # 200: the server hashed it
    corrupt_on_disk(hashserver.directory, checksum, content)
    assert server.put(checksum, content) is False  # 201: "a file exists", unchecked
    import asyncio

    assert asyncio.run(server.put_async(checksum, content)) is False
    with pytest.raises(CorruptBufferError):
        server.get(checksum)


class Handler(http.server.BaseHTTPRequestHandler):
    """A lying or slow hashserver; ``self.server.behaviour`` says which."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length)

    def do_PUT(self):
        self._body()
        self.server.behaviour(self, "PUT")

    def do_GET(self):
        self._body()
        self.server.behaviour(self, "GET")


class Server:
    def __init__(self, behaviour):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.behaviour = behaviour
        self.httpd.sent = 0  # body bytes the behaviour wrote
        self.httpd.stop = threading.Event()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_server():
    started = []

    def start(behaviour):
        server = Server(behaviour)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def answer(handler, status: int, body: bytes = b"", headers: dict | None = None) -> None:
    handler.send_response(status)
    for key, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(body)


def test_server_answering_201_to_everything_gives_false(fake_server):
    server = fake_server(lambda handler, method: answer(handler, 201))
    content = unique("never stored")
    assert HashServer(server.url).put(Checksum.of(content), content) is False


# -- bounded waits ---------------------------------------------------------------------------


def trickle(handler, method):
    """Headers at once, announcing 1000 bytes, then one byte every 0.2 s."""
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    for _ in range(1000):
        if handler.server.stop.wait(0.2):
            return
        try:
            handler.wfile.write(b"x")
            handler.wfile.flush()
        except OSError:
            return


def trickle_headers(handler, method):
    """The status line and headers, one byte every 0.2 s, forever."""
    line = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 100000
    for byte in line:
        if handler.server.stop.wait(0.2):
            return
        try:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
        except OSError:
            return


@pytest.mark.parametrize("behaviour", [trickle, trickle_headers])
def test_trickling_server_is_given_up_on_at_the_deadline(fake_server, behaviour):
    server = fake_server(behaviour)
    client = stores.add(HashServer(server.url, deadline=1.0, timeout=5.0, retries=0))
    missing = Checksum.of(unique("trickled"))
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="in time"):
        client.get(missing)
    with pytest.raises(CacheMissError, match=server.url):
        missing.resolve()
    import asyncio

    with pytest.raises(StoreUnavailableError, match="in time"):
        asyncio.run(client.get_async(missing))
    with pytest.raises(StoreUnavailableError, match="in time"):
        client.put(missing, b"whatever")
    # Four requests of 1 s each; the per-read timeout (5 s) never came into play. Without
    # the deadline each would take 200 s (trickle) or forever (headers).
    assert time.monotonic() - started < 30


def test_exit_against_a_trickling_server_is_bounded(fresh_python, fake_server, tmp_path):
    server = fake_server(trickle)
    code = (
        "from seamless_core import Buffer, stores\n"
        f"stores.add(stores.HashServer({server.url!r}, deadline=1.0, retries=0))\n"
        "for i in range(3):\n"
        "    Buffer(b'queued at exit %d' % i).incref()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAMLESS_")}
    env["SEAMLESS_SPILL_FOLDER"] = str(tmp_path / "spill")
    # Without deadlines this never ends (the timeout below would fire).
    done = fresh_python(code, env=env, timeout=120, check=False)
    assert done.returncode in (0, 1), done.stderr


# -- bounded allocations ---------------------------------------------------------------------


def endless_body(handler, method):
    """/buffer-length tells the truth (10 bytes), the buffer itself never ends."""
    if handler.path == "/buffer-length":
        answer(handler, 200, json.dumps([10]).encode())
        return
    handler.send_response(200)
    handler.send_header("Connection", "close")  # a body delimited by closing: no length
    handler.end_headers()
    block = b"z" * 65536
    while not handler.server.stop.is_set():
        try:
            handler.wfile.write(block)
        except OSError:
            return
        handler.server.sent += len(block)
        if handler.server.sent > 1 << 30:
            return


def huge_length(handler, method):
    """Announces 2 GiB (and would send them)."""
    handler.send_response(200)
    handler.send_header("Content-Length", str(2 << 30))
    handler.end_headers()
    block = b"z" * 65536
    while not handler.server.stop.is_set() and handler.server.sent < 2 << 30:
        try:
            handler.wfile.write(block)
        except OSError:
            return
        handler.server.sent += len(block)


def test_unsized_body_stops_at_the_reported_length(fake_server):
    server = fake_server(endless_body)
    client = HashServer(server.url, retries=0)
    with pytest.raises(BufferTooLargeError, match="more than the expected 10 bytes"):
        client.get(Checksum.of(unique("endless")))
    # Stopped early: what was sent before we hung up is a few socket buffers, not 1 GiB.
    assert server.httpd.sent < 64 << 20


def test_announced_length_over_the_maximum_is_refused_before_reading(fake_server):
    import asyncio
    import tracemalloc

    server = fake_server(huge_length)
    client = HashServer(server.url, retries=0, max_buffer_length=1 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(BufferTooLargeError, match="max_buffer_length"):
            client.get(Checksum.of(unique("huge")))
        with pytest.raises(BufferTooLargeError, match="max_buffer_length"):
            asyncio.run(client.get_async(Checksum.of(unique("huge async"))))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20
    assert server.httpd.sent < 256 << 20


def gzip_bomb(size: int) -> bytes:
    return gzip.compress(bytes(size), compresslevel=9)


def test_gzip_bomb_in_a_folder_is_refused(tmp_path):
    import tracemalloc

    folder = BufferFolder(tmp_path / "f", writable=True, max_decompressed=1 << 20)
    checksum = Checksum.of(unique("bombed"))
    path = folder.path_of(checksum)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".gz", "wb") as f:
        f.write(gzip_bomb(64 << 20))  # 64 KiB that decompress to 64 MiB
    tracemalloc.start()
    try:
        with pytest.raises(CorruptBufferError, match="decompresses to more than"):
            folder.get(checksum)
        assert folder.buffer_length(checksum) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_gzip_bomb_beyond_its_sidecar_is_refused(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True)  # default maximum: 1 GiB
    checksum = Checksum.of(unique("bombed with sidecar"))
    path = folder.path_of(checksum)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".gz", "wb") as f:
        f.write(gzip_bomb(32 << 20))
    with open(path + ".BUFFERLENGTH", "w") as f:
        f.write("100\n")
    with pytest.raises(CorruptBufferError, match="more than 100 bytes"):
        folder.get(checksum)


def test_symlink_to_dev_zero_is_refused(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True)
    stores.add(folder)
    checksum = Checksum.of(unique("zeros"))
    path = folder.path_of(checksum)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink("/dev/zero", path)
    with pytest.raises(CorruptBufferError, match="character device"):
        folder.get(checksum)
    with pytest.raises(CacheMissError, match="character device"):
        checksum.resolve()
    assert folder.buffer_length(checksum) is None


def run_with_timeout(target, seconds: float = 30.0):
    """Run ``target()`` in a thread; fail (instead of hanging the suite) if it blocks."""
    outcome: list = []

    def runner():
        try:
            outcome.append(("ok", target()))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(("error", exc))

    thread = threading.Thread(target=runner, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"{target} blocked for {seconds} s"
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value


def test_fifo_in_a_folder_does_not_block(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True)
    stores.add(folder)
    content = unique("behind a fifo")
    checksum = Checksum.of(content)
    path = folder.path_of(checksum)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.mkfifo(path)
    with pytest.raises(CorruptBufferError, match="FIFO"):
        run_with_timeout(lambda: folder.get(checksum))
    with pytest.raises(CacheMissError, match=f"{path}: a FIFO"):
        run_with_timeout(checksum.resolve)
    assert run_with_timeout(lambda: folder.put(checksum, content)) is True
    assert folder.get(checksum) == content


def test_fifo_given_to_checksum_index_does_not_hang(tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_bytes(b"a\n")
    os.mkfifo(tree / "sub" / "pipe")
    command = [sys.executable, "-m", "seamless_core.cli.checksum_index", str(tree)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert f"{tree / 'sub' / 'pipe'}: a FIFO, not a regular file" in done.stderr
    assert not (tmp_path / "tree.INDEX").exists()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    command = [sys.executable, "-m", "seamless_core.cli.checksum", str(fifo)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "a FIFO" in done.stderr


# -- bad configuration -----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://xn--:5813", "http://xn--abc:1", "http://h:99999"])
def test_malformed_urls_are_refused_at_construction(url):
    with pytest.raises(ValueError, match="hashserver URL") as info:
        HashServer(url)
    assert url in str(info.value)


def test_malformed_url_from_the_environment_is_skipped_with_a_warning(tmp_path):
    environ = {
        "SEAMLESS_HASHSERVER_URLS": "http://xn--:5813 http://127.0.0.1:1",
        "SEAMLESS_BUFFER_FOLDERS": f"{tmp_path}/ok",
    }
    with pytest.warns(UserWarning, match="xn--"):
        found = stores_from_environment(environ)
    assert [type(s).__name__ for s in found] == ["BufferFolder", "HashServer"]
    assert found[1].url == "http://127.0.0.1:1"


def test_folder_path_with_nul_is_refused():
    with pytest.raises(ValueError, match="NUL"):
        BufferFolder("/tmp/a\0b")


class BrokenStore(stores.BufferStore):
    """A third-party store with a bug."""

    def get(self, checksum):
        raise KeyError("a bug")

    def has(self, checksum):
        raise KeyError("a bug")

    def put(self, checksum, content):
        raise KeyError("a bug")

    def buffer_length(self, checksum):
        raise KeyError("a bug")


def test_one_broken_store_does_not_break_the_others(tmp_path):
    import asyncio

    stores.add(BrokenStore())
    folder = BufferFolder(tmp_path / "f", writable=True)
    content = unique("held by the second store")
    folder.put(Checksum.of(content), content)
    stores.add(folder)
    assert Checksum.of(content).resolve() == content
    other = unique("async")
    folder.put(Checksum.of(other), other)
    assert asyncio.run(Checksum.of(other).resolution("bytes")) == other
    with pytest.raises(CacheMissError, match="BrokenStore.*KeyError"):
        Checksum.of(unique("held by nobody")).resolve()


# -- both-or-neither, and temp files ---------------------------------------------------------


class Crash(BaseException):
    """A kill, simulated: nothing after it runs (except cleanup, which a kill skips too:
    the state on disk is what matters here)."""


def test_index_and_checksum_never_disagree_whatever_step_is_interrupted(tmp_path, monkeypatch):
    tree = tmp_path / "tree"
    tree.mkdir()
    index_path, sidecar = tmp_path / "tree.INDEX", tmp_path / "tree.CHECKSUM"
    real_replace, real_unlink = os.replace, os.unlink
    steps: list[str] = []

    def crashing(real, crash_at):
        def step(*args, **kwargs):
            steps.append(real.__name__)
            if len(steps) == crash_at:
                raise Crash()
            return real(*args, **kwargs)

        return step

    unsealed = 0
    for crash_at in (1, 2, 3):
        (tree / "a").write_bytes(b"old\n")
        assert checksum_index.main([str(tree)]) == 0
        (tree / "a").write_bytes(b"new\n")
        steps.clear()
        with monkeypatch.context() as patch:  # os.replace/unlink as _atomic calls them
            patch.setattr(_atomic.os, "replace", crashing(real_replace, crash_at))
            patch.setattr(_atomic.os, "unlink", crashing(real_unlink, crash_at))
            with pytest.raises(Crash):
                checksum_index.index_directory(str(tree))
        if sidecar.exists():  # a checksum on disk is the index's checksum
            assert sidecar.read_text().strip() == Checksum.of(index_path.read_bytes()).hex()
        else:
            unsealed += 1
        assert steps[crash_at - 1] == ["unlink", "replace", "replace"][crash_at - 1]
    assert unsealed == 2  # after removing the old checksum, and after the new index
    assert checksum_index.main([str(tree)]) == 0
    assert sidecar.read_text().strip() == Checksum.of(index_path.read_bytes()).hex()


def test_old_temp_files_are_swept_by_save(tmp_path):
    stale = tmp_path / (_atomic.TEMP_PREFIX + "killedwriter")
    fresh = tmp_path / (_atomic.TEMP_PREFIX + "livewriter")
    stale.write_bytes(b"x" * 1000)
    fresh.write_bytes(b"y")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    Buffer(b"saved\n").save(tmp_path / "saved.txt")
    assert not stale.exists()
    assert fresh.exists()  # young: may belong to a write in progress
    assert (tmp_path / "saved.txt").read_bytes() == b"saved\n"
    # Once per directory and process: a second stale file waits for the next process.
    stale.write_bytes(b"x")
    os.utime(stale, (hour_ago, hour_ago))
    Checksum.of(b"saved\n").save(tmp_path / "saved")
    assert stale.exists()
    assert _atomic.sweep_temp_files(tmp_path) == 1


def test_killed_saves_leave_nothing_for_the_next_process(fresh_python, tmp_path):
    # A kill between staging and renaming, in a child process, leaves its temp file...
    code = (
        "import os, sys\n"
        "from seamless_core import Buffer, _atomic\n"
        "os.replace = lambda *a: os._exit(9)\n"
        f"Buffer(bytes(100000)).save({str(tmp_path / 'big')!r})\n"
    )
    done = fresh_python(code, timeout=60, check=False)
    assert done.returncode == 9, done.stderr
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(_atomic.TEMP_PREFIX)]
    assert len(leftovers) == 1
    hour_ago = time.time() - 3600
    os.utime(leftovers[0], (hour_ago, hour_ago))
    # ... which the next process's first save into that directory removes.
    code = f"from seamless_core import Buffer\nBuffer(b'ok').save({str(tmp_path / 'ok')!r})\n"
    fresh_python(code, timeout=60)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok"]


def test_buffer_and_checksum_load_refuse_special_files(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        Buffer.load(fifo)  # would block forever on open()
    link = tmp_path / "zeros"
    link.symlink_to("/dev/zero")
    with pytest.raises(ValueError, match="not a regular file"):
        Buffer.load(link)
    os.mkfifo(tmp_path / "pipe.CHECKSUM")
    with pytest.raises(ValueError, match="not a regular file"):
        Checksum.load(tmp_path / "pipe")
    (tmp_path / "ok").write_bytes(b"fine")
    assert Buffer.load(tmp_path / "ok").content == b"fine"
