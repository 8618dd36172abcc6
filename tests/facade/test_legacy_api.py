"""0.1.4's call shapes and helpers, as the released Seamless packages use them."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import os
import pickle
from contextlib import redirect_stderr

import numpy as np
import pytest

from seamless_core import Buffer, CacheMissError, Checksum, legacy, stores

# ``clock`` and ``cache``: the shared fixtures of tests/conftest.py.


def made(content: bytes) -> tuple[Buffer, Checksum]:
    buffer = Buffer(content)
    return buffer, buffer.get_checksum()


# -- BufferCache in 0.1.4's shapes -------------------------------------------------------------


def test_register_checksum_buffer_size(cache):
    buffer = Buffer(b"registered the old way")
    checksum = Checksum(hashlib.sha256(buffer.content).digest())
    cache.register(checksum, buffer, size=len(buffer))
    assert cache.get(checksum) is buffer
    cache.check_totals()


def test_register_refuses_a_buffer_with_another_checksum(cache):
    buffer, _ = made(b"one")
    other = Checksum(hashlib.sha256(b"two").digest())
    with pytest.raises(ValueError, match="not the"):
        cache.register(other, buffer)
    with pytest.raises(ValueError, match="not the"):
        cache.incref(other, buffer=buffer)
    with pytest.raises(ValueError, match="not the"):
        cache.tempref(other, buffer=buffer)
    assert cache.get(other) is None


def test_incref_and_tempref_with_buffer_keyword(cache):
    buffer, checksum = made(b"held by keyword")
    cache.incref(checksum, buffer=buffer)
    row = cache.entry(checksum)
    assert row["normal_refs"] == 1 and row["strong"]
    cache.decref(checksum)
    cache.tempref(checksum, buffer=buffer, interest=8.0)
    assert cache.entry(checksum)["strong"]
    cache.check_totals()


def test_incref_takes_the_buffer_only_by_keyword(cache):
    # seamless-transformer's worker calls incref(checksum, buffer) inside try/except; on
    # 0.1.4 that raises TypeError, so no extra reference is ever taken there.
    buffer, checksum = made(b"positional")
    with pytest.raises(TypeError):
        cache.incref(checksum, buffer)  # type: ignore[misc]
    assert cache.entry(checksum)["normal_refs"] == 0


def test_scratch_refs_and_purge(cache):
    buffer, checksum = made(b"scratch result")
    assert not cache.is_scratch_ref(checksum)
    checksum.tempref(scratch=True)
    assert cache.is_scratch_ref(checksum)
    assert cache.purge_scratch(checksum) == 1
    # Forgotten although the buffer object is still alive here: a resolve must miss.
    assert cache.get(checksum) is None
    assert not cache.is_scratch_ref(checksum)
    with pytest.raises(CacheMissError):
        checksum.resolve()
    cache.check_totals()
    del buffer


def test_purge_scratch_leaves_non_scratch_and_referenced_entries(cache):
    kept_buffer, kept = made(b"uploaded kind")
    cache.tempref(kept, buffer=kept_buffer)  # not scratch
    ref_buffer, referenced = made(b"scratch but incref'd")
    cache.tempref(referenced, buffer=ref_buffer, scratch=True)
    cache.incref(referenced, scratch=True)
    gone_buffer, gone = made(b"scratch only")
    cache.tempref(gone, buffer=gone_buffer, scratch=True)
    assert cache.purge_scratch() == 1
    assert cache.get(kept) is kept_buffer
    assert cache.get(referenced) is ref_buffer
    assert cache.get(gone) is None
    cache.check_totals()


def test_a_non_scratch_ref_ends_scratch_state(cache):
    buffer, checksum = made(b"first scratch, then not")
    cache.tempref(checksum, buffer=buffer, scratch=True)
    cache.incref(checksum)
    assert not cache.is_scratch_ref(checksum)
    assert cache.purge_scratch(checksum) == 0


def test_refresh_tempref_restarts_the_decay(cache, clock):
    buffer, checksum = made(b"refreshed")
    tempref = cache.tempref(checksum, buffer=buffer, interest=4.0, fade_interval=1.0)
    clock.advance(3.0)
    assert tempref.current_interest() == pytest.approx(0.5)
    cache.refresh_tempref(checksum)
    assert tempref.current_interest() == pytest.approx(4.0)
    cache.refresh_tempref(Checksum(b"\1" * 32))  # no tempref: nothing happens


def test_read_only_tier_views(cache):
    strong_buffer, strong = made(b"strong")
    weak_buffer, weak = made(b"weak")
    cache.incref(strong, buffer=strong_buffer)
    with cache.lock:  # seamless-dask reads the views while holding the lock
        assert strong in cache.strong_cache and strong not in cache.weak_cache
        assert weak in cache.weak_cache and weak not in cache.strong_cache
    assert cache.strong_cache[strong] is strong_buffer
    assert cache.weak_cache[weak.hex()] is weak_buffer
    assert list(cache.strong_cache) == [strong]
    with pytest.raises(TypeError):
        cache.strong_cache[weak] = weak_buffer  # type: ignore[index]
    with pytest.raises(KeyError):
        cache.weak_cache["not a checksum"]


# -- Buffer, Checksum, CacheMissError -----------------------------------------------------------


def test_buffer_write_says_whether_it_was_written(tmp_path):
    buffer = Buffer(b"to be written")
    assert asyncio.run(buffer.write()) is False  # no writable store: nothing written
    folder = stores.add(stores.BufferFolder(tmp_path / "store", writable=True))
    assert asyncio.run(buffer.write()) is True
    assert folder.get(buffer.checksum) == b"to be written"


def test_await_existing_task_waits_for_the_background_upload(tmp_path, cache):
    folder = stores.add(stores.BufferFolder(tmp_path / "store", writable=True))
    buffer = Buffer(b"queued for upload")
    buffer.incref()  # a non-scratch reference queues the upload
    assert asyncio.run(legacy.await_existing_task(buffer.checksum)) is None
    assert folder.get(buffer.checksum) == b"queued for upload"
    assert asyncio.run(legacy.await_existing_task(Checksum(b"\4" * 32))) is None
    buffer.decref()


def test_get_checksum_async_and_from_async(cache):
    big = Buffer(os.urandom(3 << 20))  # hashed in a thread
    checksum = asyncio.run(big.get_checksum_async())
    assert checksum == Checksum(hashlib.sha256(big.content).digest())
    assert cache.get(checksum) is big
    small = asyncio.run(Buffer.from_async({"a": 1}, "plain"))
    assert small == Buffer({"a": 1}, "plain")
    trusted = asyncio.run(Buffer.from_async(2, "int", checksum=checksum))
    assert trusted.checksum == checksum  # a given checksum is trusted, as by Buffer()


def test_cache_miss_error_carries_its_checksum():
    checksum = Checksum(b"\2" * 32)
    error = CacheMissError(checksum)
    assert error.checksum == checksum and checksum.hex() in str(error)
    assert CacheMissError(checksum.hex()).checksum == checksum
    assert CacheMissError("just a message").checksum is None
    assert str(CacheMissError("just a message")) == "just a message"
    with pytest.raises(CacheMissError) as caught:
        checksum.resolve()
    assert caught.value.checksum == checksum
    copy = pickle.loads(pickle.dumps(caught.value))
    assert copy.checksum == checksum and str(copy) == str(caught.value)


def test_fingertip_goes_through_checksum_resolution(monkeypatch):
    # Seamless workers replace Checksum.resolve / resolution to fetch from their parent.
    served = Buffer(b"from the parent")
    checksum = served.get_checksum()
    seen = []

    def resolve(self, celltype=None):
        seen.append("resolve")
        return served

    async def resolution(self, celltype=None):
        seen.append("resolution")
        return served

    monkeypatch.setattr(Checksum, "resolve", resolve)
    monkeypatch.setattr(Checksum, "resolution", resolution)
    assert asyncio.run(checksum.fingertip()) is served
    assert checksum.fingertip_sync() is served
    assert seen == ["resolution", "resolve"]


def test_fingertip_falls_back_to_providers_after_a_miss():
    from seamless_core.resolution import register_fingertip_provider, unregister_fingertip_provider

    content = b"recomputed"
    checksum = Checksum(hashlib.sha256(content).digest())
    provider = register_fingertip_provider(lambda cs: content if cs == checksum else None)
    try:
        assert checksum.fingertip_sync().content == content
    finally:
        unregister_fingertip_provider(provider)


# -- helpers -----------------------------------------------------------------------------------


def test_calculate_checksum():
    assert legacy.calculate_checksum(b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert legacy.calculate_checksum("é") == hashlib.sha256("é".encode()).hexdigest()
    with pytest.raises(TypeError, match="bytes or str"):
        legacy.calculate_checksum(12)  # type: ignore[arg-type]


def test_calculate_file_checksum_never_decompresses(tmp_path):
    path = tmp_path / "data.txt.gz"
    raw = gzip.compress(b"inside", mtime=0)
    path.write_bytes(raw)
    assert legacy.calculate_file_checksum(path) == hashlib.sha256(raw).hexdigest()
    assert legacy.calculate_file_checksum("/dev/stdout") is None


def test_json_dumps_bytes_is_plain_without_the_newline():
    value = {"b": [1, 2], "a": {"c": None}}
    assert legacy.json_dumps_bytes(value) + b"\n" == Buffer(value, "plain").content
    assert legacy.json_dumps(value) == legacy.json_dumps_bytes(value).decode()
    assert legacy.calculate_dict_checksum(value) == Buffer(value, "plain").get_checksum().hex()


def test_serialize_and_parse_under_014_names():
    content = legacy.serialize_sync({"x": 1.5}, "mixed")
    assert content == Buffer({"x": 1.5}, "mixed").content
    assert asyncio.run(legacy.serialize("hi", "text")) == b"hi\n"
    checksum = legacy.calculate_checksum(content)
    assert legacy.parse_buffer_sync(Buffer(content), checksum, "mixed", copy=False) == {"x": 1.5}
    assert asyncio.run(legacy.parse_buffer(content, checksum, "plain", True)) == {"x": 1.5}
    assert "deepfolder" not in legacy.celltypes and len(legacy.celltypes) == 13


def test_get_form():
    assert legacy.get_form("text") == ("pure-plain", "string")
    assert legacy.get_form({"a": 1})[0] == "pure-plain"
    assert legacy.get_form(np.arange(3))[0] == "pure-binary"
    assert legacy.get_form({"a": np.arange(3)})[0] == "mixed-plain"


def test_unchecksum_and_parse_checksum():
    checksum = Checksum(b"\3" * 32)
    value = {"a": [checksum, (1, checksum)], "b": checksum}
    assert legacy.unchecksum(value) == {
        "a": [checksum.hex(), [1, checksum.hex()]],
        "b": checksum.hex(),
    }
    assert legacy.parse_checksum(checksum.hex()) == checksum


def test_get_event_loop_outside_and_inside_a_loop():
    loop = legacy.get_event_loop()
    assert not loop.is_closed()

    async def inside():
        return legacy.get_event_loop() is asyncio.get_running_loop()

    assert loop.run_until_complete(inside())


def test_lru_cache():
    dropped = []
    lru = legacy.LRUCache(2, callback=lambda k, v: dropped.append(k))
    lru["a"] = 1
    lru["b"] = 2
    assert lru.get("a") == 1  # "a" is now the most recent
    lru["c"] = 3
    assert dropped == ["b"] and "b" not in lru and len(lru) == 2
    assert lru.keys() == ["c", "a"] and lru.get("missing", 0) == 0
    with pytest.raises(ValueError):
        legacy.LRUCache(0)


def test_write_to_directory(tmp_path):
    target = tmp_path / "out"
    (target / "stale").mkdir(parents=True)
    (target / "old.txt").write_text("old")
    deep = Buffer(b"deep content")
    deep.incref()
    data = {"a.txt": "text", "sub/b.bin": b"\0\1", "sub/c.json": {"k": 1}}
    legacy.write_to_directory(target, data, cleanup=True, deep=False, text_only=False)
    assert (target / "a.txt").read_text() == "text\n"
    assert (target / "sub" / "b.bin").read_bytes() == b"\0\1"
    assert (target / "sub" / "c.json").read_bytes() == Buffer({"k": 1}, "mixed").content
    assert not (target / "old.txt").exists() and not (target / "stale").exists()
    legacy.write_to_directory(
        target,
        {"d": deep.checksum.hex()},
        cleanup=False,
        deep=True,
        text_only=False,
        compression_suffix=".gz",
    )
    assert gzip.decompress((target / "d.gz").read_bytes()) == b"deep content"
    assert (target / "a.txt").exists()  # no cleanup this time
    with pytest.raises(ValueError, match="outside"):
        legacy.write_to_directory(target, {"../x": b""}, cleanup=False, deep=False, text_only=False)
    with pytest.raises(CacheMissError):
        legacy.write_to_directory(
            target, {"e": "ab" * 32}, cleanup=False, deep=True, text_only=False
        )
    deep.decref()


def test_ipython_execute_runs_only_when_asked(tmp_path):
    marker = tmp_path / "ran"
    code = f"%time open({str(marker)!r}, 'w').close()\nresult = x * 2\n"
    # Parsing and converting ipython code never runs it.
    Buffer(code, "ipython").get_value("ipython")
    assert not marker.exists()
    namespace = {"x": 21}
    assert legacy.ipython_execute(code, namespace) is namespace
    assert namespace["result"] == 42 and marker.exists()
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        legacy.ipython_execute("1 / 0", {})
    assert "ZeroDivisionError" in stderr.getvalue()
