"""The optional C speedups agree with their pure-Python equivalents (seamless_core._native),
and the small worker-thread pool behind directory indexes keeps its promises."""

from __future__ import annotations

import errno
import math
import os
import sys
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seamless_core import _native
from seamless_core._workers import WorkerThreads

speedups = pytest.importorskip("seamless_core._speedups") if _native.SPEEDUPS else None


def test_the_development_install_builds_the_speedups():
    # `make test` installs the package with a C compiler at hand: the extension must be
    # there (setup.py marks it optional, so a broken build would otherwise go unnoticed).
    if os.environ.get("SEAMLESS_NO_SPEEDUPS", "") not in ("", "0"):
        pytest.skip("SEAMLESS_NO_SPEEDUPS is set")
    assert _native.SPEEDUPS
    assert _native.read_files is not None or os.name == "nt"


def test_no_speedups_switch_gives_the_python_versions(fresh_python):
    code = (
        "import seamless_core._native as n;"
        "print(n.SPEEDUPS, n.contains_nonfinite is n.contains_nonfinite_python, n.read_files)"
    )
    env = {**os.environ, "SEAMLESS_NO_SPEEDUPS": "1"}
    out = fresh_python(code, env=env, check=False)
    assert out.stdout.split() == ["False", "True", "None"]


needs_speedups = pytest.mark.skipif(speedups is None, reason="C speedups not built")


# -- contains_nonfinite ----------------------------------------------------------------------


class FloatSub(float):
    pass


class DictSub(dict):
    pass


class ListSub(list):
    pass


special_floats = st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324])
leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=4)
    | st.floats(allow_nan=False, allow_infinity=False)
    | special_floats
    | special_floats.map(FloatSub)
)
json_like = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=5)
        | st.lists(children, max_size=5).map(tuple)
        | st.lists(children, max_size=5).map(ListSub)
        | st.dictionaries(st.text(max_size=3), children, max_size=5)
        | st.dictionaries(st.text(max_size=3), children, max_size=5).map(DictSub)
    ),
    max_leaves=30,
)


@needs_speedups
@settings(max_examples=500, deadline=None)
@given(json_like)
def test_contains_nonfinite_agrees_with_python(value):
    assert speedups.contains_nonfinite(value) is _native.contains_nonfinite_python(value)


def test_contains_nonfinite_python_finds_what_it_should():
    assert _native.contains_nonfinite_python({"a": [1, {"b": (2.0, math.nan)}]})
    assert _native.contains_nonfinite_python(DictSub(x=ListSub([FloatSub(-math.inf)])))
    assert not _native.contains_nonfinite_python({"a": [1, "nan", None, 1e308]})
    assert not _native.contains_nonfinite_python({math.nan: 1})  # keys are not looked at


@pytest.mark.parametrize(
    "scan",
    [
        _native.contains_nonfinite_python,
        pytest.param(getattr(speedups, "contains_nonfinite", None), marks=needs_speedups),
    ],
)
def test_very_deep_nesting_is_a_recursion_error_not_a_crash(scan):
    deep: list = []
    for _ in range(200_000):
        deep = [deep]
    with pytest.raises(RecursionError):
        scan(deep)


# -- join ------------------------------------------------------------------------------------


@needs_speedups
@given(st.lists(st.binary(max_size=64), max_size=6))
def test_join_is_bytes_join(parts):
    mixed = [memoryview(p) if i % 2 else bytearray(p) for i, p in enumerate(parts)]
    assert speedups.join(mixed) == b"".join(parts)
    assert type(speedups.join(mixed)) is bytes


@needs_speedups
def test_join_of_a_large_array_is_exact():
    array = np.random.default_rng(1).random(4 << 20)  # 32 MiB: the huge-page path
    header = b"\x93NUMPY header"
    joined = speedups.join((header, memoryview(array).cast("B")))
    assert joined == header + array.tobytes()


@needs_speedups
def test_join_refuses_what_is_not_contiguous_bytes():
    with pytest.raises(TypeError):
        speedups.join([b"a", "text"])
    with pytest.raises(TypeError):
        speedups.join(42)
    with pytest.raises((BufferError, ValueError)):  # numpy says ValueError
        speedups.join([np.arange(10)[::2]])


# -- read_files ------------------------------------------------------------------------------


@pytest.fixture
def directory(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "small").write_bytes(b"abc")
    (tmp_path / "exact").write_bytes(b"x" * 16)
    (tmp_path / "large").write_bytes(bytes(range(40)))
    (tmp_path / "h\u00e9llo \u2603").write_bytes(b"snow")
    (tmp_path / "sub").mkdir()
    os.symlink("small", tmp_path / "link")
    os.symlink("missing", tmp_path / "dangling")
    if sys.platform == "linux":  # a name that is not UTF-8, as scandir gives it back
        (tmp_path / os.fsdecode(b"raw\xff")).write_bytes(b"raw")
    return tmp_path


NAMES = ["empty", "small", "exact", "large", "h\u00e9llo \u2603", "sub", "link", "dangling", "nope"]


def expected_sizes() -> list[int]:
    return [0, 3, 16, 16, 4, -errno.EISDIR, 3, -errno.ENOENT, -errno.ENOENT]


def test_read_files_python_by_path_and_by_descriptor(directory):
    names = sorted(os.listdir(directory)) + ["nope"]
    by_path = _native.read_files_python(str(directory) + os.sep, names, 16)
    fd = os.open(directory, os.O_RDONLY)
    try:
        assert _native.read_files_python(fd, names, 16) == by_path
    finally:
        os.close(fd)
    content, sizes = _native.read_files_python(str(directory) + os.sep, NAMES, 16)
    assert sizes == expected_sizes()
    assert content == b"abc" + b"x" * 16 + bytes(range(16)) + b"snow" + b"abc"


@needs_speedups
def test_read_files_agrees_with_python(directory):
    names = sorted(os.listdir(directory)) + NAMES
    fd = os.open(directory, os.O_RDONLY)
    try:
        for limit in (1, 3, 16, 1 << 16):
            assert speedups.read_files(fd, names, limit) == _native.read_files_python(
                fd, names, limit
            )
        assert speedups.read_files(fd, [], 8) == (b"", [])
        for limit in (0, -1, (1 << 30) + 1):
            with pytest.raises(ValueError, match="positive and at most 1 GiB"):
                speedups.read_files(fd, names, limit)
        with pytest.raises(ValueError, match="null"):
            speedups.read_files(fd, ["a\x00b"], 8)
        with pytest.raises(TypeError):
            speedups.read_files(fd, [b"small"], 8)
    finally:
        os.close(fd)
    content, sizes = speedups.read_files(-1, ["x"], 8)  # a bad descriptor is a per-file error
    assert (content, sizes) == (b"", [-errno.EBADF])


@needs_speedups
def test_read_files_grows_its_arena_across_many_files(tmp_path):
    names = []
    for i in range(300):
        (tmp_path / f"f{i}").write_bytes(bytes([i % 256]) * (i * 7))
        names.append(f"f{i}")
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        assert speedups.read_files(fd, names, 1000) == _native.read_files_python(fd, names, 1000)
    finally:
        os.close(fd)


# -- WorkerThreads ---------------------------------------------------------------------------


def test_worker_results_come_in_submission_order():
    done = []
    with WorkerThreads(3, on_done=done.append) as workers:
        for i in range(50):
            workers.submit(lambda i=i: (threading.get_ident(), i))
        workers.run_here(lambda: (threading.get_ident(), "here"))
        results = list(workers.results())
    assert [value for _, value in results] == [*range(50), "here"]
    assert results[-1][0] == threading.get_ident()
    assert sorted(map(str, (v for _, v in done))) == sorted(map(str, [*range(50), "here"]))


def test_the_first_failure_in_submission_order_is_raised_and_later_calls_are_skipped():
    ran = []
    gate = threading.Event()

    def slow_failure():
        gate.wait(5)
        raise KeyError("second")

    def fast_failure():
        gate.set()
        raise ValueError("third")

    with WorkerThreads(2) as workers:
        workers.submit(ran.append, "first")
        workers.submit(slow_failure)
        workers.submit(fast_failure)
        for i in range(100):
            workers.submit(ran.append, i)
        with pytest.raises(KeyError, match="second"):
            list(workers.results())
    assert ran[0] == "first" and len(ran) < 101


def test_leaving_on_an_error_stops_every_thread():
    before = threading.active_count()
    with pytest.raises(RuntimeError), WorkerThreads(4) as workers:
        for _ in range(20):
            workers.submit(sum, [1, 2])
        raise RuntimeError("interrupted walk")
    assert threading.active_count() == before


def test_an_on_done_error_is_the_calls_error():
    def refuse(result):
        raise OSError("display gone")

    with WorkerThreads(1, on_done=refuse) as workers:
        workers.submit(sum, [1])
        with pytest.raises(OSError, match="display gone"):
            list(workers.results())


def test_worker_threads_needs_a_thread():
    with pytest.raises(ValueError, match="at least one"):
        WorkerThreads(0)
