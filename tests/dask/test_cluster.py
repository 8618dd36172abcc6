"""seamless_core on a real 2-worker dask.distributed cluster (processes, one thread each)."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest

distributed = pytest.importorskip("distributed")

import seamless_core.dask as scd  # noqa: E402
from seamless_core import Buffer, CacheMissError, Checksum, stores  # noqa: E402
from seamless_core.cache.spill import SPILL_FOLDER_ENV  # noqa: E402
from seamless_core.stores import BufferFolder, HashServer  # noqa: E402

MB = 1 << 20
START_TIMEOUT = 120  # seconds: a loaded 2-core machine starts worker processes slowly


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster, timeout=START_TIMEOUT)
    try:
        client.wait_for_workers(2, timeout=START_TIMEOUT)
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture
def workers(client):
    # A worker the nanny restarted (a loaded machine) is back before the test picks workers.
    client.wait_for_workers(2, timeout=START_TIMEOUT)
    addresses = sorted(client.scheduler_info(n_workers=-1)["workers"])
    assert len(addresses) == 2, addresses
    return addresses


@pytest.fixture
def install(client):
    """``install(stores, **options)``: the plugin for this test, removed after it."""
    installed = []

    def install_(store_list, **options):
        installed.append(scd.install(client, store_list, **options))
        return installed[-1]

    yield install_
    if installed:
        scd.uninstall(client)


def _make_and_write(content: bytes) -> Checksum:
    buffer = Buffer(content)
    asyncio.run(buffer.write())
    return buffer.get_checksum()


def _stores_here() -> list:
    return stores.list()


def _in_memory_here(checksum: Checksum) -> bool:
    from seamless_core import get_buffer_cache

    return checksum in get_buffer_cache()


def _roundtrip(client, workers, content: bytes) -> Buffer:
    checksum = client.submit(_make_and_write, content, workers=[workers[0]], pure=False).result()
    assert client.submit(_in_memory_here, checksum, workers=[workers[1]]).result() is False
    (future,) = scd.resolve(client, [checksum], workers=[workers[1]])
    buffer = future.result()
    assert client.who_has([future])[future.key] == (workers[1],)
    return buffer


def test_a_buffer_made_on_one_worker_resolves_on_another_through_a_folder(
    client, workers, install, tmp_path
):
    folder = BufferFolder(tmp_path / "shared", writable=True)
    install([folder])
    content = b"made on the first worker" * 100
    buffer = _roundtrip(client, workers, content)
    assert buffer.content == content
    assert folder.get(Checksum.of(content)) == content  # it went through the folder


def test_a_buffer_made_on_one_worker_resolves_on_another_through_a_hashserver(
    client, workers, install, hashserver
):
    install([HashServer(hashserver.url)])
    content = os.urandom(3 * MB)
    buffer = _roundtrip(client, workers, content)
    assert buffer.content == content
    assert HashServer(hashserver.url).get(Checksum.of(content)) == content


def test_every_worker_gets_the_stores_and_loses_them_at_uninstall(client, tmp_path):
    folder = BufferFolder(tmp_path / "shared", writable=True)
    scd.install(client, [folder])
    try:
        listed = client.run(_stores_here)
        assert len(listed) == 2
        for worker_stores in listed.values():
            assert [(s.path, s.writable) for s in worker_stores] == [(folder.path, True)]
    finally:
        scd.uninstall(client)
    assert all(not found for found in client.run(_stores_here).values())


def test_by_default_the_workers_get_the_stores_registered_here(client, install, tmp_path):
    folder = stores.add(BufferFolder(tmp_path / "registered", writable=True))
    install(None)
    for worker_stores in client.run(_stores_here).values():
        assert [(s.path, s.writable) for s in worker_stores] == [(folder.path, True)]


def _queue_upload(content: bytes) -> Checksum:
    buffer = Buffer(content)
    buffer.incref()  # the background uploader takes it; nothing waits here
    return buffer.get_checksum()


def test_queued_uploads_are_flushed_at_teardown(client, workers, tmp_path):
    folder = BufferFolder(tmp_path / "shared", writable=True)
    scd.install(client, [folder])
    contents = [os.urandom(MB) + bytes([i]) for i in range(8)]
    try:
        checksums = [
            client.submit(_queue_upload, c, workers=[workers[0]], pure=False).result()
            for c in contents
        ]
    finally:
        scd.uninstall(client)  # returns after the workers' teardown
    for checksum, content in zip(checksums, contents):
        assert folder.get(checksum) == content


def test_read_only_install_uploads_nothing(client, workers, install, tmp_path):
    folder = BufferFolder(tmp_path / "shared", writable=True)
    install([folder], read_only=True)
    listed = client.run(_stores_here)
    assert all([s.writable for s in found] == [False] for found in listed.values())
    assert folder.writable  # the client's own store is left as it was


def test_a_missing_checksum_raises_cache_miss_with_its_checksum(client, install, tmp_path):
    install([BufferFolder(tmp_path / "empty", writable=True)])
    checksum = Checksum.of(b"nobody has this")
    (future,) = scd.resolve(client, [checksum])
    with pytest.raises(CacheMissError) as raised:
        future.result()
    assert raised.value.checksum == checksum


def test_submit_resolves_checksums_on_the_worker(client, workers, install, tmp_path):
    folder = BufferFolder(tmp_path / "shared", writable=True)
    install([folder])
    numbers = Buffer([1, 2, 3], "plain")
    folder.put(numbers.get_checksum(), numbers.content)
    future = scd.submit(
        client,
        sum,
        numbers.checksum,
        celltype="plain",
        result_celltype="plain",
        options={"workers": [workers[1]]},
    )
    result = future.result()
    assert isinstance(result, Checksum)
    assert folder.get(result) == Buffer(6, "plain").content  # stored before the task ended


def test_keys_are_deterministic_across_processes(client, workers):
    from dask.tokenize import tokenize

    content = b"one key for one content"
    here = tokenize(Buffer(content))
    there = client.run(lambda: tokenize(Buffer(content)))
    assert set(there.values()) == {here}
    assert client.submit(len, Buffer(content)).key == client.submit(len, Buffer(content)).key
    checksum = Checksum.of(content)
    assert scd.resolve(client, [checksum])[0].key == scd.resolve(client, [checksum.hex()])[0].key


def _sizes(buffer: Buffer) -> tuple[int, int, str]:
    from dask.sizeof import sizeof

    return len(buffer), sizeof(buffer), buffer.checksum.hex()


def _make_large(size: int) -> Buffer:
    buffer = Buffer(os.urandom(size))
    buffer.compute_checksum()
    return buffer


def test_a_large_buffer_crosses_workers_with_its_size_and_checksum(client, workers):
    size = 32 * MB
    made = client.submit(_make_large, size, workers=[workers[0]], pure=False)
    length, sizeof_there, checksum = client.submit(_sizes, made, workers=[workers[1]]).result()
    assert length == size
    assert size <= sizeof_there <= size + 512
    # The checksum came along (buffer.checksum raises when it is unknown) ...
    assert checksum == client.submit(lambda b: b.checksum.hex(), made).result()
    # ... and the scheduler's memory accounting sees the real size, not an object header.
    assert size <= client.nbytes(keys=[made.key], summary=False)[made.key] <= size + 512


def test_serialization_sends_the_content_as_its_own_frame():
    from distributed.protocol import dumps, serialize

    content = os.urandom(16 * MB)
    buffer = Buffer(content)
    buffer.compute_checksum()
    header, frames = serialize(buffer)
    assert header["serializer"] == "pickle"
    big = [f for f in frames if memoryview(f).nbytes >= len(content)]
    assert len(big) == 1 and memoryview(big[0]).obj is content  # the buffer's own bytes
    assert sum(memoryview(f).nbytes for f in frames if f is not big[0]) < 4096
    # A whole message as the comms send it: the content travels out of band, not inside
    # the pickled header.
    message = dumps({"op": "x", "data": distributed.protocol.Serialize(buffer)})
    sizes = sorted(memoryview(frame).nbytes for frame in message)
    assert sizes[-1] == len(content) and sum(sizes[:-1]) < 8192


def _spill_variable() -> str | None:
    return os.environ.get(SPILL_FOLDER_ENV)


def test_the_spill_setting_follows_the_client(client, install):
    install([], spill=None)
    assert set(client.run(_spill_variable).values()) == {"off"}
    install([], spill="default")
    assert set(client.run(_spill_variable).values()) == {None}
    install([])  # inherit: this test process has its own folder (conftest)
    assert set(client.run(_spill_variable).values()) == {os.environ[SPILL_FOLDER_ENV]}


class _Unpicklable(BufferFolder):
    def __reduce__(self):
        raise TypeError("not today")


def test_a_store_that_does_not_pickle_is_named(client, tmp_path):
    store = _Unpicklable(tmp_path / "x")
    with pytest.raises(TypeError, match="cannot be sent to the workers"):
        scd.install(client, [store])
