"""The store conformance suite (tests/helpers/store_conformance.py) on every store."""

from __future__ import annotations

import hashlib
import os

import pytest
from helpers.store_conformance import CompressingFolder, StoreConformance, overwrite

from seamless_core.checksum import Checksum
from seamless_core.stores import BufferFolder, HashServer
from seamless_core.stores.folder import PREFIX_SENTINEL


def _unique(request) -> str:
    return hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]


# -- BufferFolder ----------------------------------------------------------------------------


class TestBufferFolderPrefix(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path):
        folder = BufferFolder(tmp_path / "buffers", writable=True)
        assert folder.layout == "prefix"
        return folder

    def corrupt(self, store, checksum, data):
        overwrite(store.path_of(checksum), data)

    def read_only(self, store):
        return BufferFolder(store.path)


class TestBufferFolderFlat(TestBufferFolderPrefix):
    @pytest.fixture
    def store(self, tmp_path):
        root = tmp_path / "flat"
        root.mkdir()
        seed = b"a buffer that was there before"
        (root / Checksum.of(seed).hex()).write_bytes(seed)  # not empty: stays flat
        folder = BufferFolder(root, writable=True)
        assert folder.layout == "flat" and not (root / PREFIX_SENTINEL).exists()
        return folder


class TestBufferFolderCompressed(TestBufferFolderPrefix):
    @pytest.fixture
    def store(self, tmp_path):
        return CompressingFolder(tmp_path / "buffers", writable=True)

    def corrupt(self, store, checksum, data):
        import zstandard

        path = store.path_of(checksum) + ".zst"
        assert os.path.exists(path)
        if data[:1] == b"\x00":  # raw bytes that are no zstd frame at all
            overwrite(path, data)
        else:  # a well-formed frame of the wrong content
            overwrite(path, zstandard.ZstdCompressor().compress(data))

    def read_only(self, store):
        return BufferFolder(store.path)

    def test_buffers_really_are_compressed(self, store, content):
        checksum = Checksum.of(content)
        store.put(checksum, content)
        assert not os.path.exists(store.path_of(checksum))
        assert os.path.exists(store.path_of(checksum) + ".zst")

    def test_a_damaged_frame_is_never_served(self, store, content):
        from seamless_core.stores import CorruptBufferError

        checksum = Checksum.of(content)
        store.put(checksum, content)
        path = store.path_of(checksum) + ".zst"
        with open(path, "rb") as f:
            frame = f.read()
        overwrite(path, frame[: len(frame) // 2])
        with pytest.raises(CorruptBufferError, match=checksum.hex()):
            store.get(checksum)


# -- HashServer ------------------------------------------------------------------------------


class TestHashServer(StoreConformance):
    # hashserver answers 201 "already there" to a PUT without checking its copy: put then
    # returns False (a claim), as BufferStore.put allows.
    repairs_damaged_copies = False

    @pytest.fixture
    def store(self, hashserver):
        self.directory = hashserver.directory
        return HashServer(hashserver.url)

    def corrupt(self, store, checksum, data):
        hex_ = checksum.hex()
        overwrite(str(self.directory / hex_[:2] / hex_), data)

    def read_only(self, store):
        return HashServer(store.url, writable=False)


# -- FsspecStore -----------------------------------------------------------------------------


class TestFsspecMemory(StoreConformance):
    cross_process = False  # memory:// lives in this process

    @pytest.fixture
    def store(self, request):
        pytest.importorskip("fsspec")
        from seamless_core.stores import FsspecStore

        store = FsspecStore(f"memory://conformance-{_unique(request)}")
        yield store
        store.fs.rm(store.root, recursive=True) if store.fs.exists(store.root) else None

    def corrupt(self, store, checksum, data):
        store.fs.pipe_file(store.path_of(checksum), data)

    def read_only(self, store):
        from seamless_core.stores import FsspecStore

        return FsspecStore(store.url, writable=False)


class TestFsspecS3(StoreConformance):
    @pytest.fixture
    def store(self, request, moto_server, s3_bucket):
        from seamless_core.stores import FsspecStore

        self.options = moto_server.storage_options()
        return FsspecStore(f"s3://{s3_bucket}/{_unique(request)}", **self.options)

    def corrupt(self, store, checksum, data):
        store.fs.pipe_file(store.path_of(checksum), data)

    def read_only(self, store):
        from seamless_core.stores import FsspecStore

        return FsspecStore(store.url, writable=False, **self.options)


class TestFsspecLocalFiles(StoreConformance):
    """A backend without atomic PUTs: writes go through a temporary name and a move."""

    @pytest.fixture
    def store(self, tmp_path):
        from seamless_core.stores import FsspecStore

        store = FsspecStore(f"file://{tmp_path}/objects")
        assert not store._atomic_put and store.cost_profile == "read_buffer"
        return store

    def corrupt(self, store, checksum, data):
        overwrite(store.path_of(checksum), data)

    def read_only(self, store):
        from seamless_core.stores import FsspecStore

        return FsspecStore(store.url, writable=False)

    def test_no_temporary_objects_are_left(self, store, content):
        store.put(Checksum.of(content), content)
        directory = os.path.dirname(store.path_of(Checksum.of(content)))
        assert os.listdir(directory) == [Checksum.of(content).hex()]
