"""Background upload of referenced buffers to the writable stores."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
from helpers.cache import DictStore

import seamless_core
from seamless_core import Buffer, Checksum, stores
from seamless_core.cache import BufferCache, get_buffer_cache
from seamless_core.stores import BufferFolder, HashServer, UploadFailedWarning
from seamless_core.stores import upload as upload_module


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(upload_module, "RETRIES", 2)
    monkeypatch.setattr(upload_module, "BACKOFF", 0.01)


class FlakyStore(DictStore):
    """Fails the first ``failures`` puts, then works; counts every put."""

    def __init__(self, failures: int) -> None:
        super().__init__("local_hashserver")
        self.failures = failures
        self.puts = 0

    def put(self, checksum, content):
        self.puts += 1
        if self.puts <= self.failures:
            raise ConnectionError(f"store down (put {self.puts})")
        return super().put(checksum, content)


def test_flush_is_exported():
    assert seamless_core.flush is stores.flush
    assert "flush" in dir(seamless_core)


def test_non_scratch_incref_is_uploaded(tmp_path):
    folder = stores.add(BufferFolder(tmp_path / "up", writable=True))
    buffer = Buffer(b"keep me")
    buffer.incref()
    assert stores.flush(timeout=10)
    assert folder.get(buffer.checksum) == b"keep me"
    cache = get_buffer_cache()
    assert cache.costs.download_profile(buffer.checksum) == "read_buffer"
    buffer.decref()


def test_checksum_incref_uploads_once_the_buffer_is_there():
    store = stores.add(DictStore())
    buffer = Buffer(b"arrives later")
    checksum = Checksum.of(buffer.content)
    checksum.incref()  # nothing to upload yet
    assert stores.flush(timeout=10) and checksum not in store.data
    buffer.get_checksum()  # registered: the ref now holds it
    assert stores.flush(timeout=10)
    assert store.data[checksum] == b"arrives later"
    checksum.decref()


def test_tempref_uploads_unless_scratch():
    store = stores.add(DictStore())
    kept, scratch = Buffer(b"temp but kept"), Buffer(b"temp scratch")
    kept.tempref()
    scratch.tempref(scratch=True)
    assert stores.flush(timeout=10)
    assert kept.checksum in store.data and scratch.checksum not in store.data


def test_scratch_incref_is_not_uploaded():
    store = stores.add(DictStore())
    buffer = Buffer(b"scratch only")
    buffer.incref(scratch=True)
    buffer.incref(scratch=True)
    assert stores.flush(timeout=10)
    assert store.data == {}
    buffer.incref()  # a first non-scratch ref: now it counts
    assert stores.flush(timeout=10)
    assert store.data == {buffer.checksum: b"scratch only"}
    for _ in range(3):
        buffer.decref()


def test_read_only_stores_and_the_spill_folder_get_nothing():
    read_only = stores.add(DictStore(writable=False))
    spill = stores.add(get_buffer_cache().spill_folder)
    buffer = Buffer(b"nowhere to go")
    buffer.incref()
    assert stores.flush(timeout=10)
    assert read_only.data == {} and not spill.has(buffer.checksum)
    asyncio.run(buffer.write())
    assert not spill.has(buffer.checksum)
    buffer.decref()


def test_a_buffer_the_store_has_is_not_sent_again():
    store = stores.add(DictStore())
    buffer = Buffer(b"already there")
    store.data[buffer.get_checksum()] = buffer.content
    calls = []
    store.put = lambda checksum, content: calls.append(checksum)
    buffer.incref()
    assert stores.flush(timeout=10)
    assert calls == []
    # Only the store's word: not a way back the cache relies on (eviction spills first).
    assert get_buffer_cache().costs.download_profile(buffer.checksum) is None
    assert get_buffer_cache().costs.holders(buffer.checksum) == []


def test_failed_upload_is_retried(fast_retries):
    store = stores.add(FlakyStore(failures=2))
    buffer = Buffer(b"third time lucky")
    buffer.incref()
    assert stores.flush(timeout=10)
    assert store.puts == 3 and buffer.checksum in store.data
    assert stores.failed_uploads() == []


def test_failed_upload_is_reported_never_dropped(fast_retries):
    store = stores.add(FlakyStore(failures=1000))
    buffers = [Buffer(b"doomed %d" % i) for i in range(3)]
    with pytest.warns(UploadFailedWarning, match="after 3 attempts"):
        buffers[0].incref()
        assert stores.flush(timeout=10)
    assert store.puts == 3
    failed = stores.failed_uploads()
    assert [(f.checksum, f.store) for f in failed] == [(buffers[0].checksum, store)]
    assert "store down" in str(failed[0].error)

    # The store is now suspended: later buffers fail at once, and are reported too.
    for buffer in buffers[1:]:
        buffer.incref()
    assert stores.flush(timeout=10)
    assert store.puts == 3
    assert [f.checksum for f in stores.failed_uploads(clear=True)] == [b.checksum for b in buffers]
    assert stores.failed_uploads() == []
    # And it stays resolvable: the cache still holds it (and would spill it).
    assert buffers[0].checksum.resolve() == b"doomed 0"


def test_a_failing_store_does_not_block_the_others(fast_retries):
    broken = stores.add(FlakyStore(failures=1000))
    working = stores.add(DictStore())
    buffer = Buffer(b"one of two")
    with pytest.warns(UploadFailedWarning):
        buffer.incref()
        assert stores.flush(timeout=10)
    assert buffer.checksum in working.data and buffer.checksum not in broken.data


def test_unwritable_store_is_reported_without_retries(fast_retries):
    class Refusing(DictStore):
        def put(self, checksum, content):
            self.gets += 1
            raise stores.StoreNotWritableError("no uploads here")

    store = stores.add(Refusing())
    with pytest.warns(UploadFailedWarning, match="no uploads here"):
        Buffer(b"refused").incref()
        assert stores.flush(timeout=10)
    assert store.gets == 1
    Buffer(b"refused too").incref()  # the store is suspended: no new attempt, no new warning
    assert stores.flush(timeout=10)
    assert store.gets == 1 and len(stores.failed_uploads()) == 2


def test_upload_refused_for_a_wrong_checksum_does_not_suspend_the_store():
    class Picky(DictStore):
        def put(self, checksum, content):
            if content.startswith(b"bad"):
                raise stores.CorruptBufferError("server computed another checksum")
            return super().put(checksum, content)

    store = stores.add(Picky())
    with pytest.warns(UploadFailedWarning, match="another checksum"):
        Buffer(b"bad one").incref()
        assert stores.flush(timeout=10)
    Buffer(b"good one").incref()
    assert stores.flush(timeout=10)
    assert list(store.data.values()) == [b"good one"]


def test_flush_times_out_on_a_stuck_store():
    release = threading.Event()

    class Stuck(DictStore):
        def put(self, checksum, content):
            release.wait(60)  # released by the test at once: the bound is for a failure
            return super().put(checksum, content)

    store = stores.add(Stuck())
    Buffer(b"stuck").incref()
    assert stores.flush(timeout=0.2) is False
    assert stores.pending_uploads() == 1
    release.set()
    assert stores.flush(timeout=10)
    assert len(store.data) == 1


def test_increfs_before_any_store_is_configured_upload_once_one_is():
    buffer = Buffer(b"early")
    buffer.incref()  # no store yet: the entry waits
    store = stores.add(DictStore())  # a writable store joins: what waited goes to it
    assert stores.flush(timeout=10)
    assert store.data == {buffer.checksum: b"early"}
    buffer.decref()


def test_increfs_with_only_a_read_only_store_upload_once_a_writable_one_is_added(tmp_path):
    stores.add(BufferFolder(tmp_path / "ro"))  # read-only: nowhere to upload
    scratch, kept = Buffer(b"scratch only"), Buffer(b"kept while read-only")
    kept.incref()
    scratch.incref(scratch=True)
    assert stores.flush(timeout=10)
    writable = stores.add(DictStore())
    assert stores.flush(timeout=10)
    assert writable.data == {kept.checksum: b"kept while read-only"}
    later = DictStore()
    stores.add(later)
    kept.incref()  # referenced again: already handed over once, not uploaded twice
    assert stores.flush(timeout=10)
    kept.decref()
    kept.decref()
    scratch.decref()


def test_cache_without_upload_hook_uploads_nothing():
    store = stores.add(DictStore())
    cache = BufferCache(spill_folder=None, background=False, upload_hook=None)
    buffer = Buffer(b"private cache")
    cache.incref_buffer(buffer)
    assert stores.flush(timeout=10)
    assert store.data == {}


def test_upload_hook_runs_outside_the_cache_lock():
    seen = []
    caches = []

    def hook(checksum, buffer):
        seen.append((checksum, caches[0]._lock.locked()))

    cache = BufferCache(spill_folder=None, background=False, upload_hook=hook)
    caches.append(cache)
    buffer = Buffer(b"hooked")
    cache.incref_buffer(buffer)
    cache.incref_buffer(buffer)  # requested once per entry
    assert seen == [(buffer.checksum, False)]


def test_uploads_to_a_real_hashserver(hashserver):
    server = stores.add(HashServer(hashserver.url))
    tag = os.urandom(8).hex().encode()
    buffers = [Buffer(b"batch upload %d %s" % (i, tag)) for i in range(100)]
    for buffer in buffers:
        buffer.incref()
    assert stores.flush(timeout=30)
    assert server.has_batch([b.checksum for b in buffers]) == [True] * 100
    assert stores.failed_uploads() == []
    assert get_buffer_cache().costs.download_profile(buffers[0].checksum) == "local_hashserver"
    for buffer in buffers:
        buffer.decref()
