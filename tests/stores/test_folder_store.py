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


# -- compressed files, layouts, concurrency --------------------------------------------------


def _compress(suffix: str, data: bytes) -> bytes:
    import gzip

    import zstandard

    if suffix == ".zst":
        return zstandard.ZstdCompressor().compress(data)
    return gzip.compress(data)


@pytest.mark.parametrize("suffix", [".zst", ".gz"])
def test_compressed_files_are_read_decompressed(tmp_path, suffix):
    folder = BufferFolder(tmp_path / "f", writable=True)
    path = folder.path_of(CHECKSUM) + suffix
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as f:
        f.write(_compress(suffix, CONTENT))
    assert folder.has(CHECKSUM)
    assert folder.get(CHECKSUM) == CONTENT
    assert folder.buffer_length(CHECKSUM) == len(CONTENT)  # by decompressing
    with open(folder.path_of(CHECKSUM) + ".BUFFERLENGTH", "w") as f:
        f.write(str(len(CONTENT)))
    assert folder.buffer_length(CHECKSUM) == len(CONTENT)  # from the hashserver's sidecar


@pytest.mark.parametrize("suffix", [".zst", ".gz"])
def test_corrupt_compressed_files_are_refused(tmp_path, suffix):
    folder = BufferFolder(tmp_path, writable=True)
    path = folder.path_of(CHECKSUM) + suffix
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as f:
        f.write(_compress(suffix, b"something else"))
    with pytest.raises(CorruptBufferError, match="another checksum"):
        folder.get(CHECKSUM)
    with open(path, "wb") as f:
        f.write(b"not compressed at all")
    with pytest.raises(CorruptBufferError, match="corrupt compressed data"):
        folder.get(CHECKSUM)


def test_an_intact_copy_wins_over_a_corrupt_one(tmp_path):
    folder = BufferFolder(tmp_path, writable=True)
    folder.put(CHECKSUM, CONTENT)
    with open(folder.path_of(CHECKSUM), "wb") as f:
        f.write(b"bit rot")
    with open(folder.path_of(CHECKSUM) + ".zst", "wb") as f:
        f.write(_compress(".zst", CONTENT))
    assert folder.get(CHECKSUM) == CONTENT


def test_flat_folder_with_compressed_files(tmp_path):
    (tmp_path / (CHECKSUM.hex() + ".gz")).write_bytes(_compress(".gz", CONTENT))
    folder = BufferFolder(tmp_path)
    assert folder.layout == "flat"
    assert folder.get(CHECKSUM) == CONTENT
    assert folder.has_batch([CHECKSUM, Checksum.of(b"x")]) == [True, False]
    assert folder.buffer_length_batch([CHECKSUM]) == [len(CONTENT)]


def test_prefix_folder_written_by_a_hashserver(tmp_path):
    (tmp_path / PREFIX_SENTINEL).write_bytes(b"1\n")
    sub = tmp_path / CHECKSUM.hex()[:2]
    sub.mkdir()
    (sub / CHECKSUM.hex()).write_bytes(CONTENT)
    assert BufferFolder(tmp_path).get(CHECKSUM) == CONTENT


def test_async_twins(tmp_path):
    import asyncio

    folder = BufferFolder(tmp_path, writable=True)

    async def main():
        await folder.put_async(CHECKSUM, CONTENT)
        return (
            await folder.get_async(CHECKSUM),
            await folder.has_async(CHECKSUM),
            await folder.buffer_length_async(CHECKSUM),
            await folder.has_batch_async([CHECKSUM]),
        )

    assert asyncio.run(main()) == (CONTENT, True, len(CONTENT), [True])


def _hammer(root: str, content: bytes, rounds: int, start) -> None:
    folder = BufferFolder(root, writable=True)
    checksum = Checksum.of(content)
    start.wait()
    for _ in range(rounds):
        path = folder.path_of(checksum)
        try:
            os.unlink(path)  # force a real write every round
        except FileNotFoundError:
            pass
        folder.put(checksum, content)
        got = folder.get(checksum)
        assert got is None or got == content  # a reader never sees a partial file


def test_concurrent_writers_leave_one_intact_file(tmp_path):
    import multiprocessing

    content = os.urandom(2 << 20)
    root = str(tmp_path / "shared")
    BufferFolder(root, writable=True)
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_hammer, args=(root, content, 15, start)) for _ in range(4)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(180)  # spawned interpreters start slowly on a loaded machine
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    folder = BufferFolder(root)
    checksum = Checksum.of(content)
    assert folder.get(checksum) == content
    files = [name for _, _, names in os.walk(root) for name in names]
    assert sorted(files) == sorted([PREFIX_SENTINEL, checksum.hex()])


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_a_writer_killed_while_its_temporary_file_grows(tmp_path, fresh_python):
    """The child is killed once its temporary file exists, i.e. inside write_atomic: the
    final name never holds a partial buffer, and the leftover is swept."""
    root = str(tmp_path / "f")
    BufferFolder(root, writable=True)
    size = 64 << 20
    code = (
        "import os, signal, threading, time\n"
        "from seamless_core.checksum import Checksum\n"
        "from seamless_core.stores import BufferFolder\n"
        f"folder = BufferFolder({root!r}, writable=True)\n"
        f"content = b'k' * {size}\n"
        "checksum = Checksum.of(content)\n"
        "directory = os.path.dirname(folder.path_of(checksum))\n"
        "threading.Thread(target=folder.put, args=(checksum, content), daemon=True).start()\n"
        "deadline = time.monotonic() + 60\n"
        "while time.monotonic() < deadline:\n"
        "    if os.path.isdir(directory) and any(\n"
        "        n.startswith('.seamless-tmp-') for n in os.listdir(directory)):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    time.sleep(0.001)\n"
        "raise SystemExit('no temporary file appeared')\n"
    )
    done = fresh_python(code, check=False)
    assert done.returncode == -9, done.stderr[-2000:]
    content = b"k" * size
    checksum = Checksum.of(content)
    folder = BufferFolder(root)
    assert folder.get(checksum) in (None, content)
    directory = os.path.dirname(folder.path_of(checksum))
    leftovers = [n for n in os.listdir(directory) if n.startswith(_atomic.TEMP_PREFIX)]
    assert leftovers or folder.get(checksum) == content  # killed mid-write, or just after
    assert BufferFolder(root, writable=True, sweep_age=0).sweep_temp_files() == 0
    assert not [n for n in os.listdir(directory) if n.startswith(_atomic.TEMP_PREFIX)]
