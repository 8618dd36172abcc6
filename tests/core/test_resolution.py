"""From checksum to buffer: trivial buffers, the cache, the spill folder, stores, providers."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest
from helpers.cache import DictStore

from seamless_core import Buffer, CacheMissError, Checksum, stores
from seamless_core.cache import get_buffer_cache
from seamless_core.resolution import (
    TRIVIAL_CONTENTS,
    fingertip_async,
    fingertip_sync,
    register_fingertip_provider,
    resolve_async,
    resolve_sync,
    unregister_fingertip_provider,
)
from seamless_core.stores import BufferFolder


@pytest.fixture
def provider_registry():
    added = []

    def add(provider):
        added.append(register_fingertip_provider(provider))
        return provider

    yield add
    for provider in added:
        unregister_fingertip_provider(provider)


@pytest.mark.parametrize("content", TRIVIAL_CONTENTS)
def test_trivial_checksums_resolve_without_lookup(content):
    store = stores.add(DictStore())
    buffer = resolve_sync(Checksum.of(content))
    assert buffer == content and buffer.checksum == Checksum.of(content)
    assert store.gets == 0


def test_resolve_from_the_cache():
    buffer = Buffer(b"in memory")
    checksum = buffer.get_checksum()
    assert resolve_sync(checksum) is buffer
    assert checksum.resolve() is buffer
    assert resolve_sync(checksum.hex()) is buffer


def test_miss_raises_cache_miss_error():
    checksum = Checksum.of(b"nowhere")
    with pytest.raises(CacheMissError, match=checksum.hex()):
        resolve_sync(checksum)
    with pytest.raises(CacheMissError):
        checksum.resolve()
    assert issubclass(CacheMissError, LookupError)


def test_stores_are_tried_in_order_and_hits_are_registered(tmp_path):
    content = b"stored remotely"
    checksum = Checksum.of(content)
    empty = stores.add(DictStore("local_hashserver"))
    remote = stores.add(DictStore("remote_hashserver"))
    remote.put(checksum, content)
    assert stores.list()[-2:] == [empty, remote]

    buffer = resolve_sync(checksum)
    assert buffer == content
    assert (empty.gets, remote.gets) == (1, 1)
    cache = get_buffer_cache()
    assert cache.costs.download_profile(checksum) == "remote_hashserver"
    assert resolve_sync(checksum) is buffer  # now from the cache
    assert remote.gets == 1


def test_buffer_folder_store_declares_read_buffer(tmp_path):
    folder = stores.add(BufferFolder(tmp_path / "folder", writable=True))
    content = b"on local disk"
    checksum = Checksum.of(content)
    folder.put(checksum, content)
    assert resolve_sync(checksum) == content
    assert get_buffer_cache().costs.download_profile(checksum) == "read_buffer"


def test_store_serving_wrong_data_is_skipped():
    content = b"genuine"
    checksum = Checksum.of(content)
    liar, honest = stores.add(DictStore()), stores.add(DictStore())
    liar.data[checksum] = b"forged"
    honest.put(checksum, content)
    assert resolve_sync(checksum) == content


def test_corrupt_folder_copy_is_an_error_not_data(tmp_path):
    folder = stores.add(BufferFolder(tmp_path / "folder", writable=True))
    checksum = Checksum.of(b"real")
    folder.put(checksum, b"real")
    with open(folder.path_of(checksum), "wb") as f:
        f.write(b"fake")
    with pytest.raises(CacheMissError, match="1 failed"):
        resolve_sync(checksum)


def test_spill_folder_comes_before_the_stores():
    cache = get_buffer_cache()
    content = b"spilled earlier"
    checksum = Checksum.of(content)
    cache.spill_folder.put(checksum, content)
    store = stores.add(DictStore())
    assert resolve_sync(checksum) == content
    assert store.gets == 0


def test_resolved_buffer_attaches_to_an_existing_ref():
    store = stores.add(DictStore())
    content = b"wanted before it was here"
    checksum = Checksum.of(content)
    checksum.incref()
    store.put(checksum, content)
    resolve_sync(checksum)
    gc.collect()
    assert get_buffer_cache().get(checksum) == content  # held strongly by the ref
    checksum.decref()


def test_resolve_async():
    store = stores.add(DictStore())
    content = b"async"
    checksum = Checksum.of(content)
    store.put(checksum, content)
    assert asyncio.run(resolve_async(checksum)) == content
    assert asyncio.run(checksum.resolution()) == content
    with pytest.raises(CacheMissError):
        asyncio.run(resolve_async(Checksum.of(b"absent")))


def test_sync_resolution_inside_a_running_event_loop():
    store = stores.add(DictStore())
    content = b"jupyter"
    checksum = Checksum.of(content)
    store.put(checksum, content)

    async def main():
        return checksum.resolve()

    assert asyncio.run(main()) == content


def test_fingertip_uses_providers_on_a_miss(provider_registry):
    content = b"recomputed"
    checksum = Checksum.of(content)
    calls = []

    @provider_registry
    def wrong(cs):
        calls.append("wrong")
        return b"something else"

    @provider_registry
    def right(cs):
        calls.append("right")
        return Buffer(content) if cs == checksum else None

    with pytest.raises(CacheMissError):
        resolve_sync(checksum)
    buffer = fingertip_sync(checksum)
    assert buffer == content and calls == ["wrong", "right"]
    assert resolve_sync(checksum) is buffer  # registered in the cache


def test_fingertip_miss(provider_registry):
    provider_registry(lambda cs: None)
    with pytest.raises(CacheMissError, match="fingertip"):
        fingertip_sync(Checksum.of(b"unknowable"))


def test_fingertip_provider_returning_garbage(provider_registry):
    provider_registry(lambda cs: 42)
    with pytest.raises(TypeError, match="int"):
        fingertip_sync(Checksum.of(b"?"))


def test_async_providers_work_from_sync_and_async_code(provider_registry):
    content = b"from a coroutine"
    checksum = Checksum.of(content)

    @provider_registry
    async def provider(cs):
        await asyncio.sleep(0)
        return content if cs == checksum else None

    assert fingertip_sync(checksum) == content
    gc.collect()

    async def inside_a_loop():
        sync_result = checksum.fingertip_sync()
        async_result = await fingertip_async(checksum)
        return sync_result, async_result

    assert asyncio.run(inside_a_loop()) == (content, content)


def test_fingertip_async_with_sync_provider(provider_registry):
    content = b"threaded"
    provider_registry(lambda cs: content)
    assert asyncio.run(Checksum.of(content).fingertip()) == content


def test_write_buffer_puts_into_writable_stores():
    writable = stores.add(DictStore("local_hashserver"))
    read_only = stores.add(DictStore(writable=False))
    buffer = Buffer(b"upload me")
    checksum = buffer.get_checksum()
    asyncio.run(buffer.write())
    assert writable.data[checksum] == b"upload me"
    assert checksum not in read_only.data
    assert get_buffer_cache().costs.download_profile(checksum) == "local_hashserver"


def test_store_registry():
    store = DictStore()
    assert stores.add(store) is store
    stores.add(store)
    assert stores.list().count(store) == 1
    stores.remove(store)
    assert store not in stores.list()
    with pytest.raises(ValueError):
        stores.remove(store)
    with pytest.raises(TypeError):
        stores.add(42)


def test_a_forked_child_does_not_wait_for_its_parents_downloads(tmp_path):
    import multiprocessing

    from seamless_core import resolution

    folder = stores.add(BufferFolder(tmp_path, writable=True))
    content = b"resolved in a child"
    folder.put(Checksum.of(content), content)
    # A download in flight in this process when it forks, led by another thread.
    boarded = []
    thread = threading.Thread(
        target=lambda: boarded.append(resolution._board(Checksum.of(content)))
    )
    thread.start()
    thread.join()
    flight, leader = boarded[0]
    assert leader
    try:
        context = multiprocessing.get_context("fork")
        with context.Pool(1) as pool:
            result = pool.apply_async(_resolve_in_child, (Checksum.of(content).hex(),))
            assert result.get(timeout=120) == content
    finally:
        resolution._land(Checksum.of(content), flight, None)


def _resolve_in_child(hex_checksum: str) -> bytes:
    return Checksum(hex_checksum).resolve().content
