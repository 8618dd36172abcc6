"""HashServer against a real ``hashserver`` process, plus a dead, a silent and a lying one."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import warnings

import pytest
import zstandard

from seamless_core import Buffer, CacheMissError, Checksum, stores
from seamless_core.cache import get_buffer_cache
from seamless_core.stores import (
    CorruptBufferError,
    HashServer,
    StoreNotWritableError,
    StoreUnavailableError,
)


def unique(label: str) -> bytes:
    """Content no other test (or earlier run against the shared server) has stored."""
    return f"{label} {time.time_ns()} {os.urandom(8).hex()}\n".encode()


@pytest.fixture
def server(hashserver):
    client = HashServer(hashserver.url)
    yield client
    client.close()


def stored_path(directory, checksum: Checksum):
    return directory / checksum.hex()[:2] / checksum.hex()


# -- the protocol ----------------------------------------------------------------------------


def test_put_get_has_length(server, hashserver):
    content = unique("round trip")
    checksum = Checksum.of(content)
    absent = Checksum.of(unique("absent"))
    assert server.get(checksum) is None
    assert not server.has(checksum)
    server.put(checksum, content)
    server.put(checksum, content)  # already there: fine
    assert stored_path(hashserver.directory, checksum).read_bytes() == content
    assert server.get(checksum) == content
    assert server.get(checksum.hex()) == content
    assert server.has(checksum)
    assert server.has_batch([checksum, absent, checksum]) == [True, False, True]
    assert server.buffer_length(checksum) == len(content)
    assert server.buffer_length_batch([absent, checksum]) == [None, len(content)]
    empty = Checksum.of(b"")
    server.put(empty, b"")
    assert server.buffer_length(empty) == 0
    assert server.healthcheck()


def test_batches_larger_than_one_request(server, monkeypatch):
    from seamless_core.stores import hashserver as module

    monkeypatch.setattr(module, "BATCH_SIZE", 3)
    contents = [unique(f"batch {i}") for i in range(7)]
    for content in contents[::2]:
        server.put(Checksum.of(content), content)
    checksums = [Checksum.of(c) for c in contents]
    assert server.has_batch(checksums) == [i % 2 == 0 for i in range(7)]
    lengths = server.buffer_length_batch(checksums)
    assert lengths == [len(c) if i % 2 == 0 else None for i, c in enumerate(contents)]


def test_async_twins(server):
    content = unique("async")
    checksum = Checksum.of(content)

    async def main():
        await server.put_async(checksum, content)
        got = await asyncio.gather(server.get_async(checksum), server.get_async(checksum))
        has = await server.has_batch_async([checksum, Checksum.of(b"nope")])
        lengths = await server.buffer_length_batch_async([checksum])
        first = await server._async_client()
        assert await server._async_client() is first  # one pooled client per loop
        return got, has, lengths, await server.has_async(checksum)

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)  # the loop's client is closed with it
        got, has, lengths, has_one = asyncio.run(main())
    assert got == [content, content] and has == [True, False] and lengths == [len(content)]
    assert has_one
    assert asyncio.run(server.healthcheck_async())


def test_one_sync_client_is_reused(server):
    server.healthcheck()
    client = server._sync_client()
    server.has(Checksum.of(b"whatever"))
    assert server._sync_client() is client


def test_promise(server):
    content = unique("promised")
    checksum = Checksum.of(content)
    assert server.promise(checksum) > 0
    assert server.has(checksum)  # promised counts for /has ...
    assert server.has_batch([checksum], include_promises=False) == [False]  # ... not /has-now
    assert server.buffer_length(checksum) is None

    # A GET of a promised buffer waits until it is delivered. (The clock starts before the
    # delivery's: a lower bound that holds however late this thread runs.)
    started = time.monotonic()
    threading.Timer(0.3, server.put, (checksum, content)).start()
    assert server.get(checksum) == content
    assert time.monotonic() - started >= 0.3


def test_read_only_server_refuses_uploads(hashserver_factory):
    read_only = hashserver_factory(writable=False)
    client = HashServer(read_only.url)
    content = unique("refused")
    with pytest.raises(StoreNotWritableError, match="--writable"):
        client.put(Checksum.of(content), content)
    with pytest.raises(StoreNotWritableError):
        client.promise(Checksum.of(content))
    assert client.get(Checksum.of(content)) is None
    with pytest.raises(StoreNotWritableError):
        HashServer(read_only.url, writable=False).put(Checksum.of(content), content)


def test_upload_with_a_wrong_checksum_is_refused(server):
    with pytest.raises(CorruptBufferError, match="refused"):
        server.put(Checksum.of(unique("claimed")), unique("actual"))


# -- configuration and costs -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url, profile",
    [
        ("http://127.0.0.1:5813", "local_hashserver"),
        ("http://127.3.4.5:80/", "local_hashserver"),
        ("http://localhost:5813", "local_hashserver"),
        ("http://[::1]:5813", "local_hashserver"),
        ("https://buffers.example.org", "remote_hashserver"),
        ("http://10.0.0.7:5813", "remote_hashserver"),
    ],
)
def test_cost_profile_follows_the_host(url, profile):
    assert HashServer(url).cost_profile == profile


@pytest.mark.parametrize("url", ["127.0.0.1:5813", "ftp://host/", "http://", "/some/path"])
def test_bad_urls(url):
    with pytest.raises(ValueError, match="http://host:port"):
        HashServer(url)


def test_repr_and_url_normalisation():
    assert repr(HashServer("http://h:1/")) == "HashServer('http://h:1')"
    assert (
        repr(HashServer("http://h:1", writable=False)) == "HashServer('http://h:1', writable=False)"
    )


def test_importing_seamless_core_does_not_import_httpx(fresh_python):
    code = (
        "import sys, seamless_core\n"
        "from seamless_core import stores\n"
        "stores.HashServer('http://127.0.0.1:1')\n"
        "assert 'httpx' not in sys.modules, 'httpx imported'\n"
    )
    fresh_python(code)


# -- through the library ---------------------------------------------------------------------


def test_write_and_resolve_through_the_store_list(hashserver):
    store = stores.add(hashserver.url)
    assert isinstance(store, HashServer) and store.writable
    buffer = Buffer(unique("written"))
    checksum = buffer.get_checksum()
    asyncio.run(buffer.write())
    cache = get_buffer_cache()
    assert cache.costs.download_profile(checksum) == "local_hashserver"
    stores.remove(hashserver.url)
    assert store not in stores.list()

    other = stores.add(HashServer(hashserver.url))
    content = unique("only on the server")
    fresh = Checksum.of(content)
    other.put(fresh, content)
    assert fresh.resolve() == content
    assert cache.costs.download_profile(fresh) == "local_hashserver"
    later = unique("resolved asynchronously")
    other.put(Checksum.of(later), later)
    assert asyncio.run(Checksum.of(later).resolution("bytes")) == later


def test_resolve_in_a_fresh_process_configured_by_the_environment(
    fresh_python, hashserver, tmp_path
):
    content = unique("from another process")
    checksum = Checksum.of(content)
    HashServer(hashserver.url).put(checksum, content)
    incref_content = unique("uploaded at exit")
    code = (
        "import sys\n"
        "from seamless_core import Buffer, Checksum, stores\n"
        "assert [type(s).__name__ for s in stores.list()] == ['HashServer']\n"
        f"sys.stdout.write(Checksum('{checksum.hex()}').resolve().decode())\n"
        f"Buffer({incref_content!r}).incref()  # uploaded in the background, flushed at exit\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SEAMLESS_") and key not in ("PYTHONPATH",)
    }
    env["SEAMLESS_HASHSERVER_URLS"] = hashserver.url
    env["SEAMLESS_SPILL_FOLDER"] = "off"
    done = fresh_python(code, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == content.decode()
    uploaded = Checksum.of(incref_content)
    assert stored_path(hashserver.directory, uploaded).read_bytes() == incref_content


# -- failure modes ---------------------------------------------------------------------------


def test_killed_server_gives_a_fast_cache_miss_naming_it(hashserver_factory):
    doomed = hashserver_factory()
    client = stores.add(HashServer(doomed.url))
    content = unique("before the kill")
    client.put(Checksum.of(content), content)
    assert client.get(Checksum.of(content)) == content  # a pooled connection now exists
    doomed.kill()

    missing = Checksum.of(unique("after the kill"))
    started = time.monotonic()
    with pytest.raises(CacheMissError) as info:
        missing.resolve()
    assert time.monotonic() - started < 5
    assert doomed.url in str(info.value)
    with pytest.raises(StoreUnavailableError, match=doomed.url):
        client.get(missing)
    with pytest.raises(CacheMissError, match=doomed.url):
        asyncio.run(missing.resolution())
    assert not client.healthcheck()
    assert time.monotonic() - started < 10


@pytest.fixture
def silent_server():
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_silent_server_times_out(silent_server):
    client = stores.add(HashServer(silent_server, timeout=0.5))
    missing = Checksum.of(unique("never answered"))
    started = time.monotonic()
    with pytest.raises(CacheMissError, match=silent_server):
        missing.resolve()
    with pytest.raises(StoreUnavailableError, match="in time"):
        client.has(missing)
    # a few 0.5 s timeouts, well below the default timeout of 10 s (load adds little to them)
    assert time.monotonic() - started < 8


def test_corrupt_file_on_the_server_is_refused(server, hashserver):
    stores.add(server)
    content = unique("genuine")
    checksum = Checksum.of(content)
    server.put(checksum, content)
    path = stored_path(hashserver.directory, checksum)
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered" + content[8:])
    with pytest.raises(CorruptBufferError, match="corrupt"):
        server.get(checksum)
    with pytest.raises(CacheMissError, match="corrupt"):
        checksum.resolve()


def test_corrupt_compressed_file_is_refused_by_the_client(server, hashserver):
    # The server checks plain files itself, but serves compressed ones as they are.
    stores.add(server)
    content = unique("compressed genuine")
    checksum = Checksum.of(content)
    path = stored_path(hashserver.directory, checksum)
    path.parent.mkdir(exist_ok=True)
    forged = zstandard.ZstdCompressor().compress(b"forged " + content)
    path.with_name(path.name + ".zst").write_bytes(forged)
    with pytest.raises(CorruptBufferError, match="another checksum"):
        server.get(checksum)
    with pytest.raises(CacheMissError, match="another checksum"):
        checksum.resolve()
    with pytest.raises(CorruptBufferError):
        asyncio.run(server.get_async(checksum))

    good = unique("compressed and intact")
    good_path = stored_path(hashserver.directory, Checksum.of(good))
    good_path.parent.mkdir(exist_ok=True)
    good_path.with_name(good_path.name + ".zst").write_bytes(
        zstandard.ZstdCompressor().compress(good)
    )
    assert server.get(Checksum.of(good)) == good


def test_exit_flushes_uploads_whatever_started_first(fresh_python, hashserver):
    # The uploader may start before or after the store's connection pool is created; the
    # flush at exit must find the pool open either way.
    tag = unique("uploaded at exit")
    code = (
        "from seamless_core import Buffer, stores\n"
        f"server = stores.add({hashserver.url!r})\n"
        f"first = Buffer({tag!r})\n"
        "first.incref()  # the uploader starts\n"
        "server.has(first.get_checksum())  # the connection pool is created\n"
        "for i in range(200):  # still queued at exit\n"
        f"    Buffer({tag!r} + b'%d' % i + bytes(20000)).incref()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAMLESS_")}
    env["SEAMLESS_SPILL_FOLDER"] = "off"
    done = fresh_python(code, env=env, timeout=300, check=False)
    assert done.returncode == 0 and not done.stderr, done.stderr
    client = HashServer(hashserver.url)
    expected = [Checksum.of(tag + b"%d" % i + bytes(20000)) for i in range(200)]
    assert client.has_batch([Checksum.of(tag), *expected]) == [True] * 201
