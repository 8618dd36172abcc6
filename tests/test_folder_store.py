"""BufferFolder: on-disk layout, atomic writes, verified reads, temp-file sweep."""

from __future__ import annotations

import os
import time

import pytest

from seamless_core import _atomic
from seamless_core.checksum import Checksum
from seamless_core.stores import (
    BufferFolder,
    BufferStore,
    CorruptBufferError,
    StoreNotWritableError,
)
from seamless_core.stores.folder import PREFIX_SENTINEL

CONTENT = b"hello seamless\n"
CHECKSUM = Checksum.of(CONTENT)


def test_new_writable_folder_uses_the_prefix_layout(tmp_path):
    root = tmp_path / "buffers"
    folder = BufferFolder(root, writable=True)
    assert isinstance(folder, BufferStore)
    assert (root / PREFIX_SENTINEL).is_file()
    assert folder.layout == "prefix"

    folder.put(CHECKSUM, CONTENT)
    hex_ = CHECKSUM.hex()
    assert (root / hex_[:2] / hex_).read_bytes() == CONTENT
    assert sorted(os.listdir(root)) == sorted([PREFIX_SENTINEL, hex_[:2]])
    assert folder.get(CHECKSUM) == CONTENT
    assert folder.get(hex_) == CONTENT  # hex strings are accepted too
    assert folder.has(CHECKSUM)
    assert folder.buffer_length(CHECKSUM) == len(CONTENT)


def test_missing_buffers(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True)
    other = Checksum.of(b"absent")
    assert folder.get(other) is None
    assert not folder.has(other)
    assert folder.buffer_length(other) is None


def test_existing_folder_without_marker_is_flat(tmp_path):
    (tmp_path / CHECKSUM.hex()).write_bytes(CONTENT)
    folder = BufferFolder(tmp_path)
    assert folder.layout == "flat"
    assert folder.get(CHECKSUM) == CONTENT
    writable = BufferFolder(tmp_path, writable=True)  # not empty: the layout is kept
    assert writable.layout == "flat"
    assert not (tmp_path / PREFIX_SENTINEL).exists()


def test_read_only_folder_refuses_writes(tmp_path):
    BufferFolder(tmp_path / "f", writable=True)
    folder = BufferFolder(tmp_path / "f")
    with pytest.raises(StoreNotWritableError):
        folder.put(CHECKSUM, CONTENT)
    assert not folder.has(CHECKSUM)


def test_read_only_folder_that_does_not_exist(tmp_path):
    folder = BufferFolder(tmp_path / "nowhere")
    assert folder.get(CHECKSUM) is None
    assert not (tmp_path / "nowhere").exists()


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    folder = BufferFolder(tmp_path / "f", writable=True)

    def broken_fsync(fd):
        raise OSError("disk on fire")

    monkeypatch.setattr(_atomic.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk on fire"):
        folder.put(CHECKSUM, CONTENT)
    monkeypatch.undo()
    assert not folder.has(CHECKSUM)
    leftovers = [name for _, _, names in os.walk(tmp_path / "f") for name in names]
    assert leftovers == [PREFIX_SENTINEL]


def test_put_is_idempotent_and_repairs_truncated_files(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True)
    folder.put(CHECKSUM, CONTENT)
    mtime = os.stat(folder.path_of(CHECKSUM)).st_mtime_ns
    folder.put(CHECKSUM, CONTENT)
    assert os.stat(folder.path_of(CHECKSUM)).st_mtime_ns == mtime

    with open(folder.path_of(CHECKSUM), "wb") as f:
        f.write(CONTENT[:3])
    folder.put(CHECKSUM, CONTENT)
    assert folder.get(CHECKSUM) == CONTENT


def test_corrupt_file_is_refused(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True)
    folder.put(CHECKSUM, CONTENT)
    with open(folder.path_of(CHECKSUM), "wb") as f:
        f.write(b"hello seamlesS\n")
    with pytest.raises(CorruptBufferError, match=CHECKSUM.hex()):
        folder.get(CHECKSUM)
    assert isinstance(CorruptBufferError("x"), ValueError)


def _touch(path, age):
    path.write_bytes(b"partial")
    then = time.time() - age
    os.utime(path, (then, then))


def test_old_temp_files_are_swept_when_opening(tmp_path):
    root = tmp_path / "f"
    folder = BufferFolder(root, writable=True)
    folder.put(CHECKSUM, CONTENT)
    sub = root / CHECKSUM.hex()[:2]
    stale_root = root / (_atomic.TEMP_PREFIX + "stale1")
    stale_sub = sub / (_atomic.TEMP_PREFIX + "stale2")
    fresh = sub / (_atomic.TEMP_PREFIX + "fresh")
    _touch(stale_root, 3600)
    _touch(stale_sub, 3600)
    _touch(fresh, 0)

    BufferFolder(root, writable=True)
    assert not stale_root.exists()
    assert not stale_sub.exists()
    assert fresh.exists()  # may be a write in progress in another process
    assert folder.get(CHECKSUM) == CONTENT

    assert folder.sweep_temp_files() == 1
    assert not fresh.exists()


def test_read_only_folder_does_not_sweep(tmp_path):
    root = tmp_path / "f"
    BufferFolder(root, writable=True)
    stale = root / (_atomic.TEMP_PREFIX + "stale")
    _touch(stale, 3600)
    BufferFolder(root)
    assert stale.exists()


def test_repr(tmp_path):
    folder = BufferFolder(tmp_path, writable=True)
    assert repr(folder) == f"BufferFolder({str(tmp_path)!r}, writable=True)"
