"""Refusals: the right exception class, a message naming the celltype and showing the data, and
malformed buffers that fail fast without allocating more than their own size."""

from __future__ import annotations

import struct
import time
import tracemalloc

import numpy as np
import pytest

from seamless_core import Buffer

REFUSED_VALUES = [
    ("plain", {1: 2}, TypeError),
    ("plain", b"abc", TypeError),
    ("plain", np.arange(3), TypeError),
    ("plain", float("nan"), ValueError),
    ("plain", {"x": [1, float("inf")]}, ValueError),
    ("float", float("nan"), ValueError),
    ("float", "abc", ValueError),
    ("int", "abc", ValueError),
    ("int", [1], TypeError),
    ("python", "def (:", ValueError),
    ("yaml", "a: [broken", ValueError),
    ("ipython", "%time x = 1\ndef (:", ValueError),
    ("text", b"\xff\xfe", ValueError),
    ("mixed", {1, 2}, TypeError),
    ("mixed", np.array([object()]), TypeError),
    ("mixed", {"a": np.array(["unicode"])}, TypeError),
    ("mixed", {"a": np.arange(3, dtype=">i4")}, TypeError),
    ("mixed", {"a": np.zeros(2, dtype=[("a", "u1"), ("b", "<f8")])}, TypeError),
    ("mixed", {"a": np.zeros(2, dtype=complex)}, TypeError),
    ("binary", {"a": 1}, TypeError),
    ("binary", [[1, 2], [3]], ValueError),
    ("checksum", "abc", ValueError),
    ("checksum", {"a": 12}, TypeError),
]


@pytest.mark.parametrize("celltype,value,error", REFUSED_VALUES, ids=lambda x: repr(x)[:30])
def test_refused_values_name_the_celltype_and_show_the_value(celltype, value, error):
    with pytest.raises(error) as info:
        Buffer(value, celltype)
    message = str(info.value)
    assert f"'{celltype}'" in message
    assert "got " in message


REFUSED_BUFFERS = [
    ("plain", b"x"),
    ("plain", b"NaN"),
    ("plain", b"\xff"),
    ("str", b"hello"),
    ("int", b"abc"),
    ("float", b"[1, 2]"),
    ("python", b"def (:\n"),
    ("yaml", b"a: [broken\n"),
    ("text", b"\xff\xfe"),
    ("binary", b"\x93NUMPY"),
    ("binary", b'{"a": 1}'),
    ("mixed", b"\xff\xfe"),
    ("checksum", b"zz"),
    ("checksum", b'["abc"]'),
]


@pytest.mark.parametrize("celltype,content", REFUSED_BUFFERS, ids=lambda x: repr(x)[:30])
def test_refused_buffers_name_the_celltype_and_show_the_start(celltype, content):
    with pytest.raises((ValueError, TypeError)) as info:
        Buffer(content).get_value(celltype)
    message = str(info.value)
    assert f"'{celltype}'" in message
    assert repr(content[:5])[2:-1][:3] in message


def test_long_content_is_cut_in_messages():
    with pytest.raises(ValueError) as info:
        Buffer(b"x" * 1_000_000).get_value("plain")
    assert len(str(info.value)) < 400


def _npy_header(descr: str, shape: tuple) -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    header = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()


def _container(form_len: int, parts_len: int, raw_len: int, body: bytes = b"") -> bytes:
    return (
        b"\x94SEAMLESS-MIXED\x0bmixed-plain"
        + struct.pack("<I", form_len)
        + b"{}"
        + b"\x93SEAMLESS"
        + struct.pack("<QQ", parts_len, raw_len)
        + body
    )


MALFORMED = [
    _npy_header("<f8", (10**12,)) + b"\x00" * 64,  # absurd shape, truncated data
    _npy_header("<f8", (2**62, 2**62)),  # shape whose size overflows 64 bits
    _npy_header("|O", (3,)) + b"\x00" * 24,  # object dtype: would need pickle
    _npy_header("<f8", (4,))[:-30],  # header cut short
    b"\x93NUMPY\x01\x00\xff\xff" + b"{" * 100,  # header length past the end
    b"\x93NUMPY\x09\x00" + b"\x00" * 50,  # unknown version
    _container(2, 2**63, 2**63),  # lengths pointing past the end
    _container(2**31, 10, 10),
    b"\x94SEAMLESS-MIXED\xff",  # storage name past the end
    b"\x94SEAMLESS-MIXED\x0bmixed-plain\x02\x00\x00\x00{}\x93SEAMLESS",  # stream header cut
    _container(2, 16, 8, b'[[0, 8], {"a": 0}]' + b"\x00" * 6),
]


@pytest.mark.parametrize("content", MALFORMED, ids=lambda c: repr(c[:24]))
@pytest.mark.parametrize("celltype", ["binary", "mixed"])
def test_malformed_buffers_fail_fast_without_large_allocation(celltype, content):
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError):
            Buffer(content).get_value(celltype)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 5.0  # milliseconds when idle: a bound load cannot reach
    assert peak < 64 * 1024 + 4 * len(content)


def test_container_whose_form_and_index_disagree_is_a_value_error():
    good = Buffer({"a": np.arange(3), "b": [np.zeros(2)]}, "mixed").content
    bad = good.replace(b'"a": 0', b'"z": 0')
    assert bad != good
    with pytest.raises(ValueError, match="mixed"):
        Buffer(bad).get_value("mixed")
    wrong_size = good.replace(b'"shape": [3]', b'"shape": [4]')
    with pytest.raises(ValueError, match="mixed"):
        Buffer(wrong_size).get_value("mixed")
