"""Size-limited BufferFolders: disk usage, least-valuable-first collection, retention
advice, configuration, and two processes sharing one folder."""

from __future__ import annotations

import os
import pickle
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers.store_conformance import make_content

from seamless_core import stores
from seamless_core.checksum import Checksum
from seamless_core.stores import BufferFolder, parse_size
from seamless_core.stores import folder as folder_module

KB = 1000


def _put(folder: BufferFolder, name: str, size: int = KB, age: float | None = None) -> Checksum:
    """Put a buffer of ``size`` bytes; ``age``: make its last access that many seconds ago
    (explicit times: the order of collection must not hang on timestamp resolution)."""
    content = make_content(name, size)
    checksum = Checksum.of(content)
    folder.put(checksum, content)
    if age is not None:
        _age(folder, checksum, age)
    return checksum


def _age(folder: BufferFolder, checksum: Checksum, age: float) -> None:
    then = 1_000_000_000 - age  # long ago, in order
    os.utime(folder.path_of(checksum), (then, then))


def _on_disk(folder: BufferFolder) -> int:
    """The buffers' bytes, counted independently of the folder."""
    total = 0
    for directory, _, names in os.walk(folder.path):
        for name in names:
            if len(name) >= 64 and not name.startswith("."):
                total += os.path.getsize(os.path.join(directory, name))
    return total


class Advisor:
    """A retention advisor as the buffer cache is one."""

    def __init__(self, referenced=(), scores=None) -> None:
        self.referenced = set(referenced)
        self.scores = scores or {}

    def is_referenced(self, checksum):
        return checksum in self.referenced

    def keep_score(self, checksum):
        return self.scores.get(checksum, 0.0)


# -- sizes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1024", 1024),
        (" 10GiB ", 10 << 30),
        ("10 gib", 10 << 30),
        ("1.5GB", 1_500_000_000),
        ("500M", 500 << 20),
        ("2k", 2048),
        ("3KB", 3000),
        ("1_000", 1000),
        ("0", 0),
        (4096, 4096),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "ten", "10 furlongs", "-1", "GiB", "nan", "1e400GiB"])
def test_parse_size_refuses_non_sizes(text):
    with pytest.raises(ValueError, match="THE_KNOB"):
        parse_size(text, "THE_KNOB")


def test_parse_size_refuses_other_types():
    with pytest.raises(ValueError):
        parse_size(1.5)  # not a whole number of bytes
    with pytest.raises(TypeError):
        parse_size(True)  # type: ignore[arg-type]


def test_only_writable_folders_take_a_limit(tmp_path):
    with pytest.raises(ValueError, match="writable"):
        BufferFolder(tmp_path, size_limit=10)
    reader = BufferFolder(tmp_path)
    assert reader.size_limit is None
    with pytest.raises(ValueError, match="writable"):
        reader.size_limit = 10
    assert BufferFolder(tmp_path / "w", writable=True, size_limit="2KiB").size_limit == 2048


# -- disk usage ------------------------------------------------------------------------------


def test_disk_usage_is_exact_after_puts_and_repairs(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True)
    assert folder.disk_usage() == 0
    for i in range(5):
        _put(folder, f"u{i}", 100 * (i + 1))
    assert folder.disk_usage() == _on_disk(folder) == 1500
    _put(folder, "u0", 100)  # already there: nothing added
    assert folder.disk_usage() == 1500
    assert folder.reduce_size(1000) >= 500
    assert folder.disk_usage() == _on_disk(folder) <= 1000


def test_disk_usage_follows_the_repair_of_a_damaged_copy(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True)
    content = make_content("repaired", 200)
    checksum = Checksum.of(content)
    os.makedirs(os.path.dirname(folder.path_of(checksum)))
    with open(folder.path_of(checksum), "wb") as f:
        f.write(b"short")
    assert folder.disk_usage() == 5
    folder.put(checksum, content)  # replaces the damaged copy
    assert folder.disk_usage() == _on_disk(folder) == 200


def test_disk_usage_sees_other_writers_once_stale(tmp_path, monkeypatch):
    folder = BufferFolder(tmp_path / "f", writable=True)
    _put(folder, "mine", 300)
    assert folder.disk_usage() == 300
    other = BufferFolder(folder.path, writable=True)  # another process, as far as we know
    _put(other, "theirs", 200)
    assert folder.disk_usage() == 300  # the running total, still fresh
    monkeypatch.setattr(folder_module, "USAGE_RESCAN_SECONDS", -1.0)
    assert folder.disk_usage() == 500


# -- collection ------------------------------------------------------------------------------


def test_a_put_over_the_limit_removes_the_oldest_first(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True, size_limit=10 * KB)
    old = [_put(folder, f"old{i}", KB, age=100 - i) for i in range(10)]  # old[0] oldest
    assert folder.disk_usage() == 10 * KB and all(folder.has(c) for c in old)
    new = _put(folder, "new", KB)
    # Back under 90% of the limit: the two oldest went, the new one stays.
    assert folder.disk_usage() == _on_disk(folder) == 9 * KB
    assert [folder.has(c) for c in old] == [False, False] + [True] * 8
    assert folder.get(new) == make_content("new", KB)


def test_the_buffer_being_put_is_never_collected(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True, size_limit=KB)
    big = _put(folder, "big", 5 * KB)
    assert folder.has(big)  # over the limit alone, but it is what was just put
    assert folder.disk_usage() == 5 * KB


def test_a_read_makes_a_buffer_recent(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True, size_limit=3 * KB)
    first = _put(folder, "first", KB, age=30)
    second = _put(folder, "second", KB, age=20)
    third = _put(folder, "third", KB, age=10)
    assert folder.get(first) is not None  # now the most recent
    _put(folder, "fourth", KB)
    assert folder.has(first) and not folder.has(second) and not folder.has(third)


def test_referenced_buffers_are_never_removed_and_scores_order_the_rest(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True)
    a, b, c, d, e = (_put(folder, name, KB, age=50 - i) for i, name in enumerate("abcde"))
    # a is the oldest but referenced; c is valuable; b, d, e tie on score: oldest first.
    folder.set_retention(Advisor(referenced={a}, scores={c: 10.0, b: 1.0, d: 1.0, e: 1.0}))
    assert folder.reduce_size(3 * KB) == 2 * KB
    assert [folder.has(x) for x in (a, b, c, d, e)] == [True, False, True, False, True]
    assert folder.reduce_size(0) == 2 * KB  # e, then c; a stays whatever the target
    assert [folder.has(x) for x in (a, b, c, d, e)] == [True, False, False, False, False]
    assert folder.disk_usage() == KB


def test_nothing_removable_leaves_the_folder_over_its_limit(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True)
    kept = [_put(folder, f"k{i}", KB) for i in range(3)]
    folder.set_retention(Advisor(referenced=set(kept)))
    folder.size_limit = KB  # lower than the usage: collects at once, finds nothing
    assert folder.disk_usage() == 3 * KB
    assert folder.reduce_size() == 0
    _put(folder, "more", KB)  # still accepted
    assert all(folder.has(c) for c in kept)


def test_a_buffer_referenced_after_ranking_survives(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True)
    a = _put(folder, "a", KB, age=10)

    class Late(Advisor):
        # The first question ranks a as removable; by the second it is referenced.
        calls = 0

        def is_referenced(self, checksum):
            self.calls += 1
            return self.calls > 1

    folder.set_retention(Late())
    assert folder.reduce_size(0) == 0 and folder.has(a)


def test_reduce_size_without_a_limit_or_target_removes_nothing(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True)
    _put(folder, "x", KB)
    assert folder.reduce_size() == 0
    assert folder.reduce_size("0.5KB") == KB
    assert folder.disk_usage() == 0


def test_lowering_the_limit_collects(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True)
    checksums = [_put(folder, f"l{i}", KB, age=10 - i) for i in range(10)]
    folder.size_limit = "5KB"
    assert folder.size_limit == 5 * KB
    assert folder.disk_usage() == 4 * KB  # to 90% of the limit
    assert [folder.has(c) for c in checksums] == [False] * 6 + [True] * 4
    folder.size_limit = None
    _put(folder, "unlimited", 20 * KB)
    assert folder.disk_usage() == 24 * KB


def test_compressed_copies_and_sidecars_count_and_go_together(tmp_path):
    from helpers.store_conformance import CompressingFolder

    folder = CompressingFolder(tmp_path / "f", writable=True)
    checksum = _put(folder, "squeezed", 10 * KB)
    used = folder.disk_usage()
    assert used == _on_disk(folder) > 0
    assert os.path.exists(folder.path_of(checksum) + folder_module.LENGTH_SIDECAR)
    assert folder.reduce_size(0) == used
    assert folder.disk_usage() == 0 and not folder.has(checksum)
    assert not os.listdir(os.path.dirname(folder.path_of(checksum)))


def test_other_files_are_left_alone(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True)
    _put(folder, "x", KB)
    notes = tmp_path / "f" / "README"
    notes.write_text("not a buffer")
    assert folder.reduce_size(0) == KB
    assert notes.read_text() == "not a buffer"
    assert os.path.exists(os.path.join(folder.path, folder_module.PREFIX_SENTINEL))


# -- sharing ---------------------------------------------------------------------------------


def test_a_collection_in_progress_elsewhere_is_not_doubled(tmp_path):
    import fcntl

    folder = BufferFolder(tmp_path / "f", writable=True, size_limit=2 * KB)
    _put(folder, "a", KB, age=20)
    _put(folder, "b", KB, age=10)
    fd = os.open(os.path.join(folder.path, folder_module.GC_LOCK), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another collector holds the folder
        _put(folder, "c", KB)
        assert folder.disk_usage() == 3 * KB  # the put did not wait, nor collect
    finally:
        os.close(fd)
    _put(folder, "d", KB)
    assert folder.disk_usage() <= 2 * KB * 0.9


def test_two_processes_share_a_limited_folder(tmp_path, fresh_python):
    root = str(tmp_path / "shared")
    BufferFolder(root, writable=True)
    limit = 20 * KB
    code = (
        "import sys\n"
        f"sys.path.insert(0, {os.path.dirname(os.path.dirname(__file__))!r})\n"
        "from helpers.store_conformance import make_content\n"
        "from seamless_core.checksum import Checksum\n"
        "from seamless_core.stores import BufferFolder\n"
        f"folder = BufferFolder({root!r}, writable=True, size_limit={limit})\n"
        "for i in range(300):\n"
        "    content = make_content(sys.argv[-1] + str(i), 500 + i)\n"
        "    checksum = Checksum.of(content)\n"
        "    assert folder.put(checksum, content) is True\n"
        "    got = folder.get(checksum)\n"
        "    assert got is None or got == content\n"  # the other may have collected it
        "    folder.reduce_size(folder.size_limit) if i % 100 == 99 else None\n"
    )
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(fresh_python, code + f"# {name}\n") for name in ("p1", "p2")]
        for run in runs:
            run.result()
    folder = BufferFolder(root, writable=True, size_limit=limit)
    for entry in folder._scan():  # every buffer left is intact
        assert folder.get(entry.hex) is not None
    folder.reduce_size()
    assert folder.disk_usage() == _on_disk(folder) <= limit


# -- configuration and pickling --------------------------------------------------------------


def test_the_environment_limits_folders_added_writable(tmp_path, monkeypatch):
    monkeypatch.setenv("SEAMLESS_BUFFER_FOLDER_SIZE_LIMIT", "5KiB")
    writable = stores.add(str(tmp_path / "w"), writable=True)
    assert writable.size_limit == 5 * 1024
    assert stores.add(str(tmp_path / "r")).size_limit is None
    # A folder made directly (the cache's spill folder is one) has its own setting.
    assert BufferFolder(tmp_path / "direct", writable=True).size_limit is None
    monkeypatch.setenv("SEAMLESS_BUFFER_FOLDER_SIZE_LIMIT", "lots")
    with pytest.raises(ValueError, match="SEAMLESS_BUFFER_FOLDER_SIZE_LIMIT"):
        stores.add(str(tmp_path / "bad"), writable=True)


def test_pickling_keeps_the_limit_not_the_advisor(tmp_path):
    folder = BufferFolder(tmp_path / "f", writable=True, size_limit=3 * KB)
    folder.set_retention(Advisor())
    _put(folder, "p", KB)
    copy = pickle.loads(pickle.dumps(folder))
    assert copy.size_limit == 3 * KB and copy._advisor is None
    assert copy.disk_usage() == KB
