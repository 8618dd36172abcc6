"""The conformance suite every ``BufferStore`` must pass.

Subclass :class:`StoreConformance` in a test module, give it a ``store`` fixture (a
writable store, empty or at least without the test's buffers) and implement
:meth:`~StoreConformance.corrupt` and :meth:`~StoreConformance.read_only`. Class
attributes say what the backend can do:

``cross_process``
    a fresh interpreter reaches the same data (not so for ``memory://``): enables the
    pickle-to-a-child and kill-mid-write tests.
``repairs_damaged_copies``
    ``put`` over a damaged copy replaces it (and returns True); stores that only claim
    (a hashserver answering "already there") return False instead, which is allowed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pickle

import pytest

from seamless_core.checksum import Checksum
from seamless_core.stores import (
    BufferFolder,
    BufferStore,
    CorruptBufferError,
    StoreNotWritableError,
)
from seamless_core.stores.folder import LENGTH_SIDECAR

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_content(name: str, size: int = 1000) -> bytes:
    """Deterministic bytes of ``size``, distinct for each ``name`` (stores may be shared
    by a session's tests: every test writes its own buffers)."""
    seed = hashlib.sha256(name.encode()).digest()
    blocks = (size + 31) // 32
    return b"".join(hashlib.sha256(seed + i.to_bytes(8, "big")).digest() for i in range(blocks))[
        :size
    ]


def flip_byte(content: bytes, index: int = 0) -> bytes:
    return content[:index] + bytes([content[index] ^ 0x01]) + content[index + 1 :]


def overwrite(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` in place: not atomically, on purpose (the damage a
    store must survive)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


class CompressingFolder(BufferFolder):
    """A folder whose buffers end up zstd-compressed with a length sidecar, as a
    hashserver that compresses leaves them: every read goes through decompression."""

    def put(self, checksum, content):
        import zstandard

        stored = super().put(checksum, content)
        plain = self.path_of(checksum)
        if os.path.exists(plain):
            overwrite(plain + ".zst", zstandard.ZstdCompressor().compress(bytes(content)))
            overwrite(plain + LENGTH_SIDECAR, str(len(content)).encode())
            os.unlink(plain)
        return stored

    def __repr__(self):
        return "Compressing" + super().__repr__()


class StoreConformance:
    """Tests shared by every store; see the module docstring."""

    cross_process = True
    repairs_damaged_copies = True

    # -- what a subclass provides ----------------------------------------------------------

    def corrupt(self, store: BufferStore, checksum: Checksum, data: bytes) -> None:
        """Replace, behind the store's back, what it holds under ``checksum`` by ``data``."""
        raise NotImplementedError

    def read_only(self, store: BufferStore) -> BufferStore:
        """A read-only store over the same data as ``store``."""
        raise NotImplementedError

    @pytest.fixture
    def content(self, request) -> bytes:
        return make_content(request.node.nodeid)

    # -- get / put / has / buffer_length ---------------------------------------------------

    def test_is_a_verifying_buffer_store(self, store):
        assert isinstance(store, BufferStore)
        assert store.writable and store.verifies
        assert store.cost_profile in ("read_buffer", "local_hashserver", "remote_hashserver")

    def test_missing_buffer(self, store, content):
        checksum = Checksum.of(content)
        assert store.get(checksum) is None
        assert store.has(checksum) is False
        assert store.buffer_length(checksum) is None

    def test_put_then_get(self, store, content):
        checksum = Checksum.of(content)
        assert store.put(checksum, content) is True
        assert store.get(checksum) == content
        assert store.get(checksum.hex()) == content  # hex strings are accepted too
        assert store.has(checksum) is True
        assert store.buffer_length(checksum) == len(content)

    def test_empty_buffer(self, store):
        checksum = Checksum.of(b"")
        assert store.put(checksum, b"") is True
        assert store.get(checksum) == b""
        assert store.buffer_length(checksum) == 0

    def test_put_twice(self, store, content):
        checksum = Checksum.of(content)
        assert store.put(checksum, content) is True
        assert isinstance(store.put(checksum, content), bool)
        assert store.get(checksum) == content

    def test_batches_keep_the_order(self, store, content):
        present = [make_content(f"{content!r}{i}", 100 + i) for i in range(3)]
        for item in present:
            store.put(Checksum.of(item), item)
        absent = [Checksum.of(make_content(f"absent{content!r}{i}")) for i in range(2)]
        asked = [absent[0], Checksum.of(present[0]), Checksum.of(present[1]), absent[1]]
        asked.append(Checksum.of(present[2]))
        assert store.has_batch(asked) == [False, True, True, False, True]
        assert store.has_batch(asked, include_promises=False) == [False, True, True, False, True]
        lengths = [None, 100, 101, None, 102]
        assert store.buffer_length_batch(asked) == lengths
        assert store.has_batch([]) == []

    # -- corrupt content is never served ---------------------------------------------------

    @pytest.mark.parametrize("damage", ["flipped_first", "flipped_last", "truncated", "empty"])
    def test_corrupt_content_is_never_served(self, store, content, damage):
        checksum = Checksum.of(content)
        store.put(checksum, content)
        data = {
            "flipped_first": flip_byte(content, 0),
            "flipped_last": flip_byte(content, len(content) - 1),
            "truncated": content[: len(content) // 2],
            "empty": b"",
        }[damage]
        self.corrupt(store, checksum, data)
        with pytest.raises(CorruptBufferError, match=checksum.hex()):
            store.get(checksum)
        with pytest.raises(CorruptBufferError):
            asyncio.run(store.get_async(checksum))

    def test_put_over_a_damaged_copy(self, store, content):
        checksum = Checksum.of(content)
        store.put(checksum, content)
        self.corrupt(store, checksum, flip_byte(content, 7))
        verified = store.put(checksum, content)
        if verified or self.repairs_damaged_copies:
            # True promises an intact copy: it must be there now.
            assert verified is True
            assert store.get(checksum) == content

    # -- async twins -----------------------------------------------------------------------

    def test_async_twins_agree_with_sync(self, store, content):
        checksum = Checksum.of(content)
        other = make_content(f"other{content!r}", 333)
        other_checksum = Checksum.of(other)
        missing = Checksum.of(make_content(f"missing{content!r}"))
        asked = [checksum, other_checksum, missing]

        async def main():
            stored = await store.put_async(checksum, content)
            return (
                stored,
                await store.get_async(checksum),
                await store.get_async(missing),
                [await store.has_async(c) for c in asked],
                await store.has_batch_async(asked),
                [await store.buffer_length_async(c) for c in asked],
                await store.buffer_length_batch_async(asked),
            )

        store.put(other_checksum, other)
        stored, got, got_missing, has, has_batch, lengths, length_batch = asyncio.run(main())
        assert stored is True and got == content and got_missing is None
        assert has == has_batch == store.has_batch(asked) == [True, True, False]
        expected_lengths = [len(content), len(other), None]
        assert lengths == length_batch == store.buffer_length_batch(asked) == expected_lengths
        assert store.get(checksum) == content  # what put_async stored, read by the sync side

    def test_concurrent_async_puts_and_gets(self, store, content):
        items = [make_content(f"{content!r}-{i}", 500 + i) for i in range(8)]

        async def main():
            await asyncio.gather(*(store.put_async(Checksum.of(i), i) for i in items))
            return await asyncio.gather(*(store.get_async(Checksum.of(i)) for i in items))

        assert asyncio.run(main()) == items

    # -- read-only stores ------------------------------------------------------------------

    def test_read_only_store_refuses_puts(self, store, content):
        checksum = Checksum.of(content)
        reader = self.read_only(store)
        assert reader.writable is False
        with pytest.raises(StoreNotWritableError, match="read-only"):
            reader.put(checksum, content)
        with pytest.raises(StoreNotWritableError, match="read-only"):
            asyncio.run(reader.put_async(checksum, content))
        assert store.has(checksum) is False
        store.put(checksum, content)
        assert reader.get(checksum) == content  # it still reads

    # -- pickling (dask ships stores to its workers) ---------------------------------------

    def test_pickle_round_trip_gives_an_equivalent_store(self, store, content):
        checksum = Checksum.of(content)
        store.put(checksum, content)
        asyncio.run(store.get_async(checksum))  # live clients or pools, if any, exist now
        copy = pickle.loads(pickle.dumps(store))
        assert type(copy) is type(store) and repr(copy) == repr(store)
        assert (copy.writable, copy.cost_profile, copy.verifies) == (
            store.writable,
            store.cost_profile,
            store.verifies,
        )
        assert copy.get(checksum) == content
        other = make_content(f"copy{content!r}")
        assert copy.put(Checksum.of(other), other) is True
        assert store.get(Checksum.of(other)) == other
        assert pickle.loads(pickle.dumps(self.read_only(store))).writable is False

    def test_pickled_store_works_in_a_fresh_process(self, store, content, fresh_python):
        if not self.cross_process:
            pytest.skip("a fresh process does not see this store's data")
        checksum = Checksum.of(content)
        store.put(checksum, content)
        code = (
            f"import pickle, sys; sys.path.insert(0, {TESTS_DIR!r})\n"
            f"store = pickle.loads({pickle.dumps(store)!r})\n"
            f"content = store.get({checksum.hex()!r})\n"
            "from seamless_core.checksum import Checksum\n"
            "reply = b'child:' + content\n"
            "store.put(Checksum.of(reply), reply)\n"
            "print(Checksum.of(reply).hex())\n"
        )
        done = fresh_python(code)
        assert store.get(done.stdout.strip()) == b"child:" + content

    # -- atomicity -------------------------------------------------------------------------

    def test_a_writer_killed_mid_write_leaves_no_partial_buffer(self, store, fresh_python, request):
        """A fresh process starts putting a 32 MiB buffer and SIGKILLs itself while the put
        runs: afterwards the buffer is absent or intact, never a partial copy."""
        if not self.cross_process:
            pytest.skip("a fresh process does not see this store's data")
        if os.name != "posix":
            pytest.skip("SIGKILL is POSIX")
        size, name = 32 << 20, f"killed writer {request.node.nodeid}"
        code = (
            f"import os, pickle, signal, sys, threading; sys.path.insert(0, {TESTS_DIR!r})\n"
            "from helpers.store_conformance import make_content\n"
            "from seamless_core.checksum import Checksum\n"
            f"store = pickle.loads({pickle.dumps(store)!r})\n"
            f"content = make_content({name!r}, {size})\n"
            "started = threading.Event()\n"
            "def write():\n"
            "    started.set()\n"
            "    store.put(Checksum.of(content), content)\n"
            "threading.Thread(target=write, daemon=True).start()\n"
            "started.wait()\n"
            "threading.Event().wait(0.02)\n"  # let the write get under way
            "os.kill(os.getpid(), signal.SIGKILL)\n"
        )
        done = fresh_python(code, check=False)
        assert done.returncode == -9, done.stderr[-2000:]
        content = make_content(name, size)
        checksum = Checksum.of(content)
        got = store.get(checksum)  # raises CorruptBufferError on a partial copy
        assert got is None or got == content
        assert store.put(checksum, content) in (True, False)
        assert store.get(checksum) == content
