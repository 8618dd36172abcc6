"""The hashserver client keeps up with hashserver: promises, reads that wait as the server
does, bounded concurrency, single flight, compressed transfer, passthrough options, a
server hashing with another algorithm. Against the real ``hashserver``, with a counting
proxy in front where the test must see the requests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time

import pytest
from helpers.proxy import CountingProxy

from seamless_core import Buffer, Checksum, resolution, stores
from seamless_core.stores import HashServer, StoreNotWritableError
from seamless_core.stores import hashserver as module


def unique(label: str, size: int = 0) -> bytes:
    """Content no other test (or earlier run against the shared server) has stored."""
    head = f"{label} {time.time_ns()} {os.urandom(8).hex()}\n".encode()
    return head + b"z" * size


@pytest.fixture
def proxy(hashserver):
    proxy = CountingProxy(hashserver.url)
    yield proxy
    proxy.close()


def run_in_thread(function, *args):
    """Start ``function(*args)`` in a thread; returns ``(thread, outcome)``, ``outcome``
    holding its result or exception once the thread is done."""
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = function(*args)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


# -- promises --------------------------------------------------------------------------------


def test_promised_buffer_is_read_while_its_upload_is_still_running(proxy, hashserver):
    content = unique("promised")
    checksum = Checksum.of(content)
    path = f"/{checksum.hex()}"
    reader_waiting = threading.Event()
    # The upload is held at the proxy until the reader's GET waits at the server.
    proxy.hold(lambda method, p: method == "PUT" and p == path, reader_waiting)
    stores.add(HashServer(proxy.url))
    Buffer(content).incref()  # the uploader promises, then puts
    assert proxy.wait_for(lambda: ("PUT", path) in [(m, p) for m, p, _ in proxy.log])
    assert ("PUT", f"/promise/{checksum.hex()}") in proxy.done

    thread, outcome = run_in_thread(HashServer(proxy.url).get, checksum)
    assert proxy.wait_for(lambda: ("GET", path) in proxy.sent)
    # The GET is at the server, and the buffer is not: only the promise keeps it waiting.
    direct = HashServer(hashserver.url)
    assert direct.has_batch([checksum], include_promises=False) == [False]
    assert direct.has(checksum)  # promised
    reader_waiting.set()
    thread.join(120)
    assert outcome.get("result") == content, outcome
    assert stores.flush(timeout=60)


def test_buffer_write_promises_before_it_puts(proxy):
    stores.add(HashServer(proxy.url))
    buffer = Buffer(unique("written"))
    assert asyncio.run(buffer.write())
    paths = [(m, p) for m, p, _ in proxy.log if p.endswith(buffer.checksum.hex())]
    hexed = buffer.checksum.hex()
    assert paths.index(("PUT", f"/promise/{hexed}")) < paths.index(("PUT", f"/{hexed}"))


def test_the_read_timeout_covers_a_promise(proxy, hashserver):
    # Each read of an answer the server gives at once times out after 0.5 s, the whole
    # request after 0.5 s more; a buffer's GET still waits for its promise.
    reader = HashServer(proxy.url, timeout=0.5, read_timeout=120, deadline=0.5, retries=0)
    content = unique("kept waiting")
    checksum = Checksum.of(content)
    writer = HashServer(hashserver.url)
    writer.promise(checksum)
    thread, outcome = run_in_thread(reader.get, checksum)
    assert proxy.wait_for(lambda: proxy.count("GET", f"/{checksum.hex()}") == 1)
    thread.join(3.0)  # well past both 0.5 s bounds: a client bound by them has failed now
    assert thread.is_alive(), outcome
    writer.put(checksum, content)
    thread.join(120)
    assert outcome.get("result") == content, outcome


def test_timeouts_from_the_environment(monkeypatch):
    monkeypatch.setenv(module.READ_TIMEOUT_ENV, "5")
    monkeypatch.setenv(module.CONNECT_TIMEOUT_ENV, "0.5")
    monkeypatch.setenv(module.CONCURRENCY_ENV, "3")
    server = HashServer("http://127.0.0.1:1")
    assert (server.read_timeout, server.connect_timeout, server.timeout) == (5.0, 0.5, 10.0)
    assert server.concurrency == 3
    assert HashServer("http://127.0.0.1:1", read_timeout=7).read_timeout == 7
    # A single timeout given alone applies to buffers too, as before read_timeout existed.
    assert HashServer("http://127.0.0.1:1", timeout=2).read_timeout == 2
    monkeypatch.setenv(module.READ_TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match=module.READ_TIMEOUT_ENV):
        HashServer("http://127.0.0.1:1")


def test_defaults_wait_for_a_promise_as_long_as_the_server_holds_it():
    server = HashServer("http://127.0.0.1:1")
    assert server.read_timeout >= 600  # hashserver's promise TTL
    assert server.timeout == module.DEFAULT_TIMEOUT


# -- concurrency -----------------------------------------------------------------------------


def _third_in_flight(proxy, method):
    release = threading.Event()

    def hold(m, p):
        if m != method or p.startswith(("/promise", "/has", "/buffer-length")):
            return False
        # Held until three are in flight: a client that sends fewer at once waits 60 s
        # and fails the assertion on max_in_flight.
        proxy.wait_for(lambda: proxy.in_flight >= 3, timeout=60)
        return False

    proxy.hold(hold, release)
    release.set()


def test_uploads_run_concurrently_within_the_bound(proxy):
    _third_in_flight(proxy, "PUT")
    stores.add(HashServer(proxy.url, concurrency=3))
    buffers = [Buffer(unique(f"parallel {i}")) for i in range(12)]
    for buffer in buffers:
        buffer.incref()
    assert stores.flush(timeout=120)
    assert stores.failed_uploads() == []
    puts = [p for m, p, _ in proxy.log if m == "PUT" and not p.startswith("/promise")]
    # every buffer put (a put that timed out on a loaded machine is retried: counted once)
    assert sorted(set(puts)) == sorted(f"/{b.get_checksum().hex()}" for b in buffers)
    assert proxy.max_in_flight == 3


def test_batch_resolve_runs_concurrently_within_the_bound(proxy, hashserver):
    writer = HashServer(hashserver.url)
    contents = [unique(f"batch {i}") for i in range(9)]
    for content in contents:
        writer.put(Checksum.of(content), content)
    stores.add(HashServer(proxy.url))
    _third_in_flight(proxy, "GET")
    checksums = [Checksum.of(c) for c in contents]
    buffers = resolution.resolve_batch_sync(checksums, concurrency=3)
    assert [b.content for b in buffers] == contents
    assert proxy.max_in_flight == 3


def test_batch_resolve_async(hashserver):
    writer = HashServer(hashserver.url)
    contents = [unique(f"async batch {i}") for i in range(5)]
    for content in contents:
        writer.put(Checksum.of(content), content)
    stores.add(HashServer(hashserver.url))
    checksums = [Checksum.of(c) for c in contents]
    buffers = asyncio.run(resolution.resolve_batch_async(checksums, concurrency=2))
    assert [b.content for b in buffers] == contents
    missing = Checksum.of(unique("nowhere"))
    with pytest.raises(resolution.CacheMissError):
        resolution.resolve_batch_sync([checksums[0], missing])


def test_concurrent_resolves_of_one_checksum_download_it_once(proxy, hashserver):
    content = unique("single flight")
    checksum = Checksum.of(content)
    HashServer(hashserver.url).put(checksum, content)
    stores.add(HashServer(proxy.url))
    release = threading.Event()
    proxy.hold(lambda m, p: m == "GET" and p == f"/{checksum.hex()}", release)
    barrier = threading.Barrier(8)

    def resolve():
        barrier.wait(60)
        return checksum.resolve().content

    started = [run_in_thread(resolve) for _ in range(8)]
    assert proxy.wait_for(lambda: proxy.count("GET", f"/{checksum.hex()}") >= 1)
    for thread, _ in started:
        thread.join(0.3)  # time for the others to start their own download, if they would
    release.set()
    for thread, outcome in started:
        thread.join(120)
        assert outcome.get("result") == content, outcome
    assert proxy.count("GET", f"/{checksum.hex()}") == 1


def test_concurrent_async_resolves_of_one_checksum_download_it_once(proxy, hashserver):
    content = unique("single async flight")
    checksum = Checksum.of(content)
    HashServer(hashserver.url).put(checksum, content)
    stores.add(HashServer(proxy.url))

    async def main():
        return await asyncio.gather(*(resolution.resolve_async(checksum) for _ in range(8)))

    buffers = asyncio.run(main())
    assert {b.content for b in buffers} == {content}
    assert proxy.count("GET", f"/{checksum.hex()}") == 1


def test_a_cancelled_leader_does_not_fail_its_followers(proxy, hashserver):
    content = unique("cancelled leader")
    checksum = Checksum.of(content)
    HashServer(hashserver.url).put(checksum, content)
    stores.add(HashServer(proxy.url))
    release = threading.Event()
    proxy.hold(lambda m, p: m == "GET" and p == f"/{checksum.hex()}", release)

    async def main():
        leader = asyncio.ensure_future(resolution.resolve_async(checksum))
        await asyncio.to_thread(
            proxy.wait_for, lambda: proxy.count("GET", f"/{checksum.hex()}") == 1
        )
        follower = asyncio.ensure_future(resolution.resolve_async(checksum))
        await asyncio.sleep(0)  # the follower boards the leader's flight
        leader.cancel()
        release.set()
        return await follower

    assert asyncio.run(main()).content == content


# -- compressed transfer, passthrough --------------------------------------------------------


@pytest.mark.parametrize("encoding, suffix", [("zstd", ".zst"), ("gzip", ".gz")])
def test_compressed_upload(hashserver, encoding, suffix):
    client = HashServer(hashserver.url, compress=encoding)
    content = unique(f"compressible {encoding}", size=200_000)
    checksum = Checksum.of(content)
    assert client.put(checksum, content) is True
    path = hashserver.directory / checksum.hex()[:2] / (checksum.hex() + suffix)
    assert path.exists() and path.stat().st_size < len(content) // 10
    assert HashServer(hashserver.url).get(checksum) == content  # served compressed
    assert asyncio.run(client.get_async(checksum)) == content


def test_bad_compression_setting_is_refused(monkeypatch):
    with pytest.raises(ValueError, match="compress"):
        HashServer("http://127.0.0.1:1", compress="lz4")
    monkeypatch.setenv(module.COMPRESS_ENV, "brotli")
    with pytest.raises(ValueError, match=module.COMPRESS_ENV):
        HashServer("http://127.0.0.1:1")


def test_headers_and_auth_are_passed_through(proxy):
    client = HashServer(proxy.url, headers={"X-Seamless-Token": "t0k"}, auth=("user", "pw"))
    content = unique("with headers")
    client.put(Checksum.of(content), content)
    assert client.get(Checksum.of(content)) == content
    for _method, _path, headers in proxy.log:
        assert headers["x-seamless-token"] == "t0k"
        assert headers["authorization"].startswith("Basic ")
        assert "zstd" in headers["accept-encoding"]


@pytest.fixture
def sha3_hashserver(tmp_path):
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "hashserver", str(tmp_path), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--writable", "--hash-algorithm", "sha3-256"]
    with open(tmp_path.parent / f"sha3-{port}.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for _ in range(1200):  # bounded: a loaded machine starts it slowly
            if process.poll() is not None:
                break
            try:
                with opener.open(f"{url}/healthcheck", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        try:
            yield url
        finally:
            process.kill()
            process.wait(10)


def test_a_server_hashing_with_another_algorithm_is_named(sha3_hashserver):
    client = HashServer(sha3_hashserver)
    content = unique("sha-256 buffer")
    with pytest.raises(StoreNotWritableError, match="another algorithm"):
        client.put(Checksum.of(content), content)
    with pytest.raises(StoreNotWritableError, match="another algorithm"):
        asyncio.run(client.put_async(Checksum.of(content), content))


@pytest.fixture
def wrong_bytes_server():
    """Serves the same plain bytes, with their length, for every buffer asked."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            body = b"not what was asked for " * 1000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_plain_download_hashed_while_received_is_still_refused_when_wrong(wrong_bytes_server):
    client = HashServer(wrong_bytes_server, retries=0)
    checksum = Checksum.of(unique("asked for"))
    with pytest.raises(module.CorruptBufferError, match="another checksum"):
        client.get(checksum)
    with pytest.raises(module.CorruptBufferError, match="another checksum"):
        asyncio.run(client.get_async(checksum))


@pytest.fixture
def slow_first_byte_server():
    """Answers every GET after ``delay`` seconds of silence, as hashserver does while it
    hashes a large file before sending it; ``release`` ends the silence early."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = b"slowly hashed " * 1000
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            release.wait(60)  # bounded: the test releases it
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", body, release
    release.set()
    httpd.shutdown()
    httpd.server_close()


def test_a_buffer_the_server_is_still_hashing_is_waited_for(slow_first_byte_server):
    url, body, release = slow_first_byte_server
    client = HashServer(url, timeout=0.5, read_timeout=120, deadline=0.5, retries=0)
    thread, outcome = run_in_thread(client.get, Checksum.of(body))
    thread.join(3.0)  # well past both 0.5 s bounds
    assert thread.is_alive(), outcome
    release.set()
    thread.join(120)
    assert outcome.get("result") == body, outcome
