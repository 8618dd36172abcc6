"""The seamless-checksum* command-line tools: outputs equal to 0.1.4's, and error paths."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from seamless_core import Buffer, Checksum, files
from seamless_core._progress import ProgressBar
from seamless_core.cli import checksum, checksum_file, checksum_index
from seamless_core.files import (
    checksum_sidecar_path,
    directory_index,
    file_checksum,
    index_buffer,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "cli"
sys.path.insert(0, str(DATA))
from make_tree import contents, make_tree  # noqa: E402

EXPECTED = json.loads((DATA / "expected.json").read_text())


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_tree(tmp_path / "tree")
    return tmp_path / "tree"


def written(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): path.read_bytes().decode()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in (".CHECKSUM", ".INDEX")
    }


# -- equal to 0.1.4 --------------------------------------------------------------------------


@pytest.mark.parametrize("relative", sorted(contents()))
def test_checksum_matches_0_1_4(tree, monkeypatch, capfd, relative):
    monkeypatch.chdir(tree)
    assert checksum.main([relative]) == 0
    out, err = capfd.readouterr()
    assert out == EXPECTED["checksum"][relative]
    assert err == ""


@pytest.mark.parametrize("relative", sorted(contents()))
def test_checksum_file_matches_0_1_4(tree, monkeypatch, relative):
    monkeypatch.chdir(tree)
    before = written(tree)
    assert checksum_file.main([relative]) == 0
    after = written(tree)
    new = {name: text for name, text in after.items() if before.get(name) != text}
    assert new == EXPECTED["checksum_file"][relative]


@pytest.mark.parametrize("argument", sorted(EXPECTED["checksum_index"]))
def test_checksum_index_matches_0_1_4(tree, argument):
    assert checksum_index.main([argument]) == 0
    assert written(tree.parent) == EXPECTED["checksum_index"][argument]


def test_index_is_a_plain_buffer_of_the_library_index(tree):
    index = directory_index(tree)
    content = index_buffer(index).content
    assert content == Buffer(index, "plain").content
    assert content.decode() == EXPECTED["checksum_index"]["tree"]["tree.INDEX"]
    assert Checksum.of(content).hex() + "\n" == EXPECTED["checksum_index"]["tree"]["tree.CHECKSUM"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), st.text() | st.integers() | st.none(), max_size=8))
def test_index_buffer_writes_what_the_plain_serializer_writes(index):
    try:
        expected = Buffer(index, "plain").content
    except (ValueError, TypeError) as exc:  # lone surrogates, huge integers
        with pytest.raises(type(exc)):
            index_buffer(index)
        return
    assert index_buffer(index).content == expected


def test_library_file_checksum(tree):
    for relative, line in EXPECTED["checksum"].items():
        assert file_checksum(tree / relative).hex() + "\n" == line
    raw = file_checksum(tree / "nested/data.txt.gz", decompress=False)
    assert raw == Checksum.of((tree / "nested/data.txt.gz").read_bytes())


def test_sidecar_names():
    assert checksum_sidecar_path("a/b.txt") == "a/b.txt.CHECKSUM"
    assert checksum_sidecar_path("a/b.txt.gz") == "a/b.txt.CHECKSUM"
    assert checksum_sidecar_path("a/b.zst") == "a/b.CHECKSUM"
    assert checksum_sidecar_path("dir.INDEX") == "dir.CHECKSUM"
    assert checksum_sidecar_path("dir.INDEX.gz") == "dir.CHECKSUM"
    assert checksum_sidecar_path("x.CHECKSUM") == "x.CHECKSUM.CHECKSUM"  # never the input


# -- several files, stdin -------------------------------------------------------------------


def test_several_files_print_sha256sum_lines(tree, capfd):
    names = ["tree/hello.txt", "tree/nested/data.txt.gz", "tree/empty.dat"]
    assert checksum.main(names) == 0
    out, _ = capfd.readouterr()
    expected = "".join(
        EXPECTED["checksum"][name.removeprefix("tree/")].strip() + "  " + name + "\n"
        for name in names
    )
    assert out == expected


def test_names_are_escaped_as_sha256sum_does(tmp_path, capfdbinary):
    odd = tmp_path / "back\\slash\nnewline"
    odd.write_bytes(b"x")
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    assert checksum.main([str(odd), str(plain)]) == 0
    out, _ = capfdbinary.readouterr()
    first, second = out.splitlines()
    hex_ = Checksum.of(b"x").hex().encode()
    assert first == b"\\" + hex_ + b"  " + os.fsencode(str(tmp_path)) + b"/back\\\\slash\\nnewline"
    assert second == hex_ + b"  " + os.fsencode(str(plain))


def test_stdin(monkeypatch, capfd):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"from stdin\n")))
    assert checksum.main(["-"]) == 0
    out, _ = capfd.readouterr()
    assert out == Checksum.of(b"from stdin\n").hex() + "\n"


def test_checksum_file_refuses_stdin(capfd):
    assert checksum_file.main(["-"]) == 1
    assert "standard input" in capfd.readouterr().err


def test_multi_frame_zstd_is_read_whole(tmp_path, capfd):
    # 0.1.4 reads only the first frame (data loss); we read them all, as `zstd -d` does.
    compressor = zstandard.ZstdCompressor()
    path = tmp_path / "frames.txt.zst"
    path.write_bytes(compressor.compress(b"first ") + compressor.compress(b"second"))
    assert checksum.main([str(path)]) == 0
    assert capfd.readouterr().out == Checksum.of(b"first second").hex() + "\n"


def test_concatenated_gzip_members(tmp_path):
    path = tmp_path / "members.gz"
    path.write_bytes(gzip.compress(b"one ") + gzip.compress(b"two"))
    assert file_checksum(path) == Checksum.of(b"one two")


def test_large_file_is_streamed(tmp_path, monkeypatch):
    content = os.urandom(5 * (1 << 20) + 123)
    (tmp_path / "big").write_bytes(content)
    (tmp_path / "big.zst").write_bytes(zstandard.ZstdCompressor().compress(content))
    seen = []
    assert file_checksum(tmp_path / "big", progress=seen.append) == Checksum.of(content)
    assert max(seen) <= 1 << 20 and sum(seen) == len(content)
    assert file_checksum(tmp_path / "big.zst") == Checksum.of(content)


# -- errors ----------------------------------------------------------------------------------


def test_missing_file(tmp_path, capfd):
    missing = tmp_path / "missing.txt"
    assert checksum.main([str(missing)]) == 1
    out, err = capfd.readouterr()
    assert out == "" and err == f"seamless-checksum: {missing}: No such file or directory\n"
    assert checksum_file.main([str(missing)]) == 1
    assert "No such file" in capfd.readouterr().err
    assert not Path(str(missing) + ".CHECKSUM").exists()


def test_errors_do_not_stop_the_other_files(tree, capfd):
    assert checksum.main(["tree/hello.txt", "tree/missing", "tree/empty.dat"]) == 1
    out, err = capfd.readouterr()
    assert len(out.splitlines()) == 2 and "tree/missing" in err
    assert checksum_file.main(["tree/missing", "tree/hello.txt"]) == 1
    assert (tree / "hello.txt.CHECKSUM").exists()


def test_directory_given_as_file(tree, capfd):
    assert checksum.main(["tree"]) == 1
    assert capfd.readouterr().err == "seamless-checksum: tree: Is a directory\n"


def test_corrupt_compressed_file(tree, capfd):
    (tree / "broken.gz").write_bytes(b"not gzip at all")
    (tree / "broken.zst").write_bytes(b"not zstd either")
    assert checksum.main(["tree/broken.gz"]) == 1
    assert "tree/broken.gz: corrupt compressed data" in capfd.readouterr().err
    assert checksum_file.main(["tree/broken.zst"]) == 1
    assert "tree/broken.zst: corrupt compressed data" in capfd.readouterr().err
    assert not (tree / "broken.CHECKSUM").exists()
    assert checksum_index.main(["tree"]) == 1
    assert "corrupt compressed data" in capfd.readouterr().err
    assert not Path("tree.INDEX").exists() and not Path("tree.CHECKSUM").exists()


def test_index_of_a_file_or_nothing(tree, capfd):
    assert checksum_index.main(["tree/hello.txt"]) == 1
    assert capfd.readouterr().err == "seamless-checksum-index: tree/hello.txt: Not a directory\n"
    assert checksum_index.main(["nowhere"]) == 1
    assert "nowhere: No such file or directory" in capfd.readouterr().err
    assert not Path("tree/hello.txt.INDEX").exists()


def test_unreadable_file_leaves_old_index_untouched(tree, capfd):
    Path("tree.INDEX").write_text("old index\n")
    Path("tree.CHECKSUM").write_text("old checksum\n")
    (tree / "dangling").symlink_to(tree / "no-such-target")
    assert checksum_index.main(["tree"]) == 1
    err = capfd.readouterr().err
    assert err == (
        f"seamless-checksum-index: tree/dangling: broken symbolic link (to "
        f"'{tree / 'no-such-target'}'); nothing written (--skip-unreadable indexes the rest)\n"
    )
    assert Path("tree.INDEX").read_text() == "old index\n"
    assert Path("tree.CHECKSUM").read_text() == "old checksum\n"
    assert not [p for p in Path(".").iterdir() if p.name.startswith(".seamless-tmp")]


def test_unreadable_file_and_directory(tree, capfd):
    secret = tree / "secret.txt"
    secret.write_text("secret")
    secret.chmod(0)
    try:
        if os.access(secret, os.R_OK):
            pytest.skip("running with privileges that read any file")
        assert checksum.main([str(secret)]) == 1
        assert "Permission denied" in capfd.readouterr().err
        assert checksum_index.main(["tree"]) == 1
        assert "Permission denied" in capfd.readouterr().err
    finally:
        secret.chmod(0o644)


def _refuse_nested(monkeypatch):
    """Make the ``nested`` subdirectories unreadable (as root, chmod would not)."""
    real_open, real_scandir = os.open, os.scandir

    def refuse(path):
        if str(path).endswith("nested"):
            raise PermissionError(13, "Permission denied", str(path))

    def open_(path, *args, **kwargs):
        refuse(path)
        return real_open(path, *args, **kwargs)

    def scandir(path="."):
        refuse(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "scandir", scandir)


def test_unreadable_subdirectory_is_an_error(tree, capfd, monkeypatch):
    # 0.1.4's os.walk silently leaves such a folder out of the index.
    _refuse_nested(monkeypatch)
    assert checksum_index.main(["tree"]) == 1
    assert capfd.readouterr().err == (
        "seamless-checksum-index: tree/nested: Permission denied; "
        "nothing written (--skip-unreadable indexes the rest)\n"
    )
    assert not Path("tree.INDEX").exists()


def test_skip_unreadable_indexes_the_rest(tree, capfd, monkeypatch):
    complete = directory_index(tree)
    (tree / "dangling").symlink_to("no-such-target")
    (tree / "dangling.gz").symlink_to("no-such-target.gz")  # read alone, not in a batch
    _refuse_nested(monkeypatch)
    assert checksum_index.main(["--skip-unreadable", "tree"]) == 0
    out, err = capfd.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "seamless-checksum-index: tree/dangling: broken symbolic link (to 'no-such-target') "
        "(skipped)",
        "seamless-checksum-index: tree/dangling.gz: broken symbolic link "
        "(to 'no-such-target.gz') (skipped)",
        "seamless-checksum-index: tree/nested: Permission denied (skipped)",
    ]
    expected = {key: value for key, value in complete.items() if not key.startswith("nested/")}
    assert expected and len(expected) < len(complete)
    content = Path("tree.INDEX").read_bytes()
    assert content == index_buffer(expected).content
    assert Path("tree.CHECKSUM").read_text() == Checksum.of(content).hex() + "\n"


def test_skip_unreadable_is_no_licence_for_an_unreadable_directory(tree, capfd, monkeypatch):
    _refuse_nested(monkeypatch)
    assert checksum_index.main(["--skip-unreadable", "tree/nested"]) == 1
    assert capfd.readouterr().err == "seamless-checksum-index: tree/nested: Permission denied\n"
    assert not Path("tree/nested.INDEX").exists()


def test_skip_unreadable_with_a_file_without_permission(tree, capfd):
    secret = tree / "secret.txt"
    secret.write_text("secret")
    secret.chmod(0)
    try:
        if os.access(secret, os.R_OK):
            pytest.skip("running with privileges that read any file")
        assert checksum_index.main(["--skip-unreadable", "tree"]) == 0
        assert capfd.readouterr().err == (
            "seamless-checksum-index: tree/secret.txt: Permission denied (skipped)\n"
        )
        assert "secret.txt" not in json.loads(Path("tree.INDEX").read_text())
    finally:
        secret.chmod(0o644)


def test_usage_and_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        checksum.main([])
    assert exit_.value.code == 2
    for module, prog in (
        (checksum, "seamless-checksum"),
        (checksum_file, "seamless-checksum-file"),
        (checksum_index, "seamless-checksum-index"),
    ):
        with pytest.raises(SystemExit) as exit_:
            module.main(["--help"])
        assert exit_.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: {prog} ") and "*.zst or *.gz" in out
        with pytest.raises(SystemExit):
            module.main(["--version"])
        assert "seamless-core" in capsys.readouterr().out


def test_installed_console_scripts(tree):
    bin_dir = Path(sys.executable).parent
    script = bin_dir / "seamless-checksum"
    if not script.exists():
        pytest.skip("console scripts not installed next to this interpreter")
    done = subprocess.run([str(script), "tree/hello.txt"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == EXPECTED["checksum"]["hello.txt"]
    done = subprocess.run(
        [str(bin_dir / "seamless-checksum-index"), "tree"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert Path("tree.INDEX").read_text() == EXPECTED["checksum_index"]["tree"]["tree.INDEX"]
    done = subprocess.run(
        [sys.executable, "-m", "seamless_core.cli.checksum_file", "tree/hello.txt"],
        capture_output=True,
    )
    assert done.returncode == 0 and (tree / "hello.txt.CHECKSUM").exists()


# -- parallel hashing and progress -----------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 2046, 2047, 2048, 4094, 4095, 8188, 8189, 20_000])
def test_small_files_hashed_in_pieces_hash_the_same(size):
    data = os.urandom(size)
    assert files._digest_in_memory(memoryview(data)) == Checksum.of(data).hex()


@pytest.mark.parametrize("in_pool", [True, False], ids=["as-built", "python-reads-here"])
def test_index_with_many_and_large_files(tmp_path, monkeypatch, in_pool):
    # Small batches: several per directory, compressed and large files between them.
    monkeypatch.setattr(files, "READ_BATCH", 5)
    monkeypatch.setattr(files, "_read_clock", lambda: 0.0)  # reads measure fast, whatever the load
    if not in_pool:  # as without the C speedups: Python reads, in the walking thread
        monkeypatch.setattr(files, "_BATCHES_IN_POOL", False)
        monkeypatch.setattr(files, "read_files", None)
    root = tmp_path / "many"
    expected = {}
    for i in range(300):
        data = os.urandom(i * 997 % 200_000)  # small ones inline, large ones pooled
        relative = f"d{i % 7}/f{i}.bin"
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        if i % 11 == 0:
            (root / (relative + ".gz")).write_bytes(gzip.compress(data, compresslevel=1))
        else:
            (root / relative).write_bytes(data)
        expected[relative] = Checksum.of(data).hex()
    calls = []
    index = directory_index(root, workers=3, progress=lambda done, total: calls.append(done))
    assert index == expected
    assert calls[-1] == 300


def _slow_tree(root, monkeypatch, seconds_per_file=0.0005, together=0):
    """A tree of 3 x 60 files, read through a file system slow to answer: a read of n files
    takes n * seconds_per_file on the clock that the index times its reads with (not on the
    wall clock, where a loaded machine makes fast reads slow). With ``together=k``, the first
    k reads handed to worker threads wait for each other: k threads read at once."""
    expected = {}
    for d in range(3):
        for f in range(60):
            data = os.urandom(f * 37)
            (root / f"d{d}").mkdir(parents=True, exist_ok=True)
            (root / f"d{d}" / f"f{f}").write_bytes(data)
            expected[f"d{d}/f{f}"] = Checksum.of(data).hex()
    calls = []
    read_starts = files._read_starts
    elapsed = threading.local()  # each thread's reading time: a read measures its own only
    walker = threading.get_ident()
    barrier = threading.Barrier(together, timeout=60) if together else None
    lock = threading.Lock()
    waiting = [0]

    def slow_read_starts(directory, prefix, names):
        calls.append((len(names), threading.get_ident()))
        elapsed.seconds = getattr(elapsed, "seconds", 0.0) + seconds_per_file * len(names)
        if barrier is not None and threading.get_ident() != walker:
            with lock:
                waiting[0] += 1
                wait = waiting[0] <= together
            if wait:
                barrier.wait()
        return read_starts(directory, prefix, names)

    monkeypatch.setattr(files, "_read_starts", slow_read_starts)
    monkeypatch.setattr(files, "_read_clock", lambda: getattr(elapsed, "seconds", 0.0))
    monkeypatch.setattr(files, "READ_BATCH", 20)
    return expected, calls


def test_slow_reads_switch_to_small_batches_on_more_threads(tmp_path, monkeypatch):
    together = files.default_workers() + 1  # more than the pool would have had
    expected, calls = _slow_tree(tmp_path / "slow", monkeypatch, together=together)
    assert directory_index(tmp_path / "slow") == expected
    assert calls[0] == (files.FIRST_BATCH, threading.get_ident())  # read and timed here
    assert max(size for size, _ in calls[1:]) <= files.SLOW_READ_BATCH
    assert len({thread for _, thread in calls[1:]}) >= together


def test_slow_reads_keep_the_number_of_workers_given(tmp_path, monkeypatch):
    expected, calls = _slow_tree(tmp_path / "slow", monkeypatch)
    assert directory_index(tmp_path / "slow", workers=2) == expected
    assert max(size for size, _ in calls[1:]) <= files.SLOW_READ_BATCH
    assert len({thread for _, thread in calls[1:]}) <= 2


def test_fast_reads_stay_in_large_batches(tmp_path, monkeypatch):
    expected, calls = _slow_tree(tmp_path / "fast", monkeypatch, seconds_per_file=0.0)
    assert directory_index(tmp_path / "fast") == expected
    assert calls[0] == (files.FIRST_BATCH, threading.get_ident())
    # the rest in batches of READ_BATCH (worker threads may run them in any order)
    assert sorted(size for size, _ in calls[1:]) == [8] + [20] * 7


@pytest.mark.parametrize(("factor", "slow"), [(1.01, True), (0.99, False)])
def test_the_latency_measured_decides(tmp_path, monkeypatch, factor, slow):
    # exactly at the threshold: the slow and fast tests above do not pass by luck
    per_file = files.SLOW_READ_SECONDS * factor
    expected, calls = _slow_tree(tmp_path / "tree", monkeypatch, seconds_per_file=per_file)
    assert directory_index(tmp_path / "tree", workers=2) == expected
    largest = files.SLOW_READ_BATCH if slow else 20
    assert max(size for size, _ in calls[1:]) == largest


def test_progress_bar_draws_only_when_enabled_and_slow():
    stream = io.StringIO()
    with ProgressBar(100, "work", "files", stream=stream, delay=0.0, enabled=True) as bar:
        bar._last_draw = -1.0
        bar.update(40)
    text = stream.getvalue()
    assert "work: [" in text and "100/100" not in text and "40/100 files" in text
    assert text.endswith("\n")
    quiet = io.StringIO()
    with ProgressBar(100, stream=quiet) as bar:  # not a terminal, and not slow
        bar.update(100)
    assert quiet.getvalue() == ""


def test_progress_bar_in_bytes():
    stream = io.StringIO()
    bar = ProgressBar(3 << 30, "hashing", "B", stream=stream, delay=0.0, enabled=True)
    bar._last_draw = -1.0
    bar.advance(1 << 30)
    bar.close()
    assert "1.0 GiB/3.0 GiB" in stream.getvalue()


# -- the progress bar and the results on one terminal ----------------------------------------


class Terminal:
    """stdout and stderr of a terminal: one screen, where ``\\r`` returns to the start of
    the line and ``ESC[K`` erases the rest of it."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.buffer = self  # stdout's bytes land on the same screen

    def write(self, data: str | bytes) -> int:
        self.written.append(data.decode() if isinstance(data, bytes) else data)
        return len(data)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True

    def lines(self) -> list[str]:
        text, lines, line, column = "".join(self.written), [], [], 0
        for token in re.split(r"(\r|\n|\x1b\[K)", text):
            if token == "\r":
                column = 0
            elif token == "\n":
                lines.append("".join(line))
                line, column = [], 0
            elif token == "\x1b[K":
                del line[column:]
            else:
                for char in token:
                    line[column : column + 1] = [char]
                    column += 1
        return lines + (["".join(line)] if line else [])


@pytest.fixture
def terminal(monkeypatch):
    from seamless_core import _progress

    monkeypatch.setattr(_progress, "DELAY", 0.0)  # draw at once, at every step
    monkeypatch.setattr(_progress, "_REFRESH", 0.0)
    return Terminal()


@contextlib.contextmanager
def on_screen(terminal):
    # In the test's body: pytest sets its own sys.stdout/stderr after the fixtures ran.
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = terminal
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


@pytest.mark.parametrize("count", [1, 6])
def test_results_never_land_on_the_progress_line(tmp_path, terminal, count):
    paths = []
    for number in range(count):
        path = tmp_path / f"big{number}.bin"
        path.write_bytes(bytes([number]) * (3 << 20))  # several reads: several redraws
        paths.append(str(path))
    with on_screen(terminal):
        assert checksum.main(paths) == 0
    lines = terminal.lines()
    assert "hashing: [" in "".join(terminal.written)  # the bar was drawn (then erased)
    results = [line for line in lines if re.search(r"[0-9a-f]{64}", line)]
    assert len(results) == count
    for line in results:
        assert re.fullmatch(r"[0-9a-f]{64}(  \S+)?", line), line


def test_index_errors_never_land_on_the_progress_line(tree, terminal):
    (tree / "dangling").symlink_to("no-such-target")
    with on_screen(terminal):
        assert checksum_index.main(["--skip-unreadable", "tree"]) == 0
        assert checksum_index.main(["tree"]) == 1
    assert "indexing tree: " in "".join(terminal.written)
    reports = [line for line in terminal.lines() if "dangling" in line]
    assert len(reports) == 2
    assert all(line.startswith("seamless-checksum-index: tree/dangling: ") for line in reports)


def test_a_broken_link_is_named_as_such(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    Path("good").write_bytes(b"good")
    Path("dangling").symlink_to("gone")
    assert checksum.main(["dangling", "good"]) == 1
    out, err = capfd.readouterr()
    assert err == "seamless-checksum: dangling: broken symbolic link (to 'gone')\n"
    assert out == f"{Checksum.of(b'good').hex()}  good\n"
    assert checksum.main(["missing"]) == 1  # a plain missing file keeps the plain reason
    assert capfd.readouterr().err == "seamless-checksum: missing: No such file or directory\n"
