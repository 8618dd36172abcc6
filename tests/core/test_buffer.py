"""Buffer: construction, equality, files and value access."""

from __future__ import annotations

import asyncio
import hashlib
import os

import numpy as np
import pytest

from seamless_core import Buffer, Checksum
from seamless_core.celltypes import CELLTYPES, PLAIN_ALIASES


def test_bytes_and_bytes_like_are_copied_into_bytes():
    data = bytearray(b"abc")
    buffer = Buffer(data)
    data[0] = ord("z")
    assert buffer.content == b"abc" and isinstance(buffer.content, bytes)
    assert Buffer(memoryview(b"xy")).content == b"xy"


@pytest.mark.parametrize("bad", ["text", 12, None, [1, 2], np.arange(3)])
def test_non_bytes_without_celltype_is_type_error(bad):
    with pytest.raises(TypeError, match="celltype"):
        Buffer(bad)


def test_unknown_celltype_lists_the_valid_ones():
    with pytest.raises(TypeError) as info:
        Buffer(1, "jsonish")
    for celltype in CELLTYPES:
        assert celltype in str(info.value)


@pytest.mark.parametrize("alias", sorted(PLAIN_ALIASES))
def test_aliases_serialize_as_plain(alias):
    value = {"b": [1, 2], "a": None}
    assert Buffer(value, alias) == Buffer(value, "plain")
    assert Buffer(value, "plain").get_value(alias) == value


def test_checksum_property_until_computed():
    buffer = Buffer(b"hello")
    with pytest.raises(AttributeError):
        _ = buffer.checksum
    given = Buffer(b"hello", checksum=hashlib.sha256(b"hello").digest())
    assert given.checksum == Checksum.of(b"hello")


def test_len_eq_hash_decode_bytes():
    a, b = Buffer(b"hello"), Buffer(b"hello")
    assert len(a) == 5 and a == b and a == b"hello" and a != Buffer(b"other")
    assert hash(a) == hash(b)
    assert a.decode() == "hello" and bytes(a) == b"hello"
    assert "hello" in repr(a)


def test_value_round_trip_sync_and_async():
    buffer = Buffer({"a": [1, 2.5, "x"]}, "plain")
    assert buffer.get_value("plain") == {"a": [1, 2.5, "x"]}
    assert asyncio.run(buffer.get_value_async("plain")) == {"a": [1, 2.5, "x"]}


def test_save_and_load(tmp_path):
    buffer = Buffer(np.arange(5), "binary")
    path = tmp_path / "data.npy"
    buffer.save(path)
    assert Buffer.load(path) == buffer
    assert np.array_equal(np.load(path), np.arange(5))  # a real .npy file


def test_failed_save_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.bin"

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        Buffer(b"x" * 1000).save(target)
    assert list(tmp_path.iterdir()) == []


def test_compute_checksum_has_no_side_effects(cache):
    buffer = Buffer(b"computed, not registered")
    checksum = buffer.compute_checksum()
    assert checksum == hashlib.sha256(b"computed, not registered").hexdigest()
    assert buffer.compute_checksum() is checksum  # hashed once
    assert cache.get(checksum) is None  # not in the cache: get_checksum() registers
    assert buffer.get_checksum() == checksum
    assert cache.get(checksum) is buffer


def test_equal_to_its_bytes_but_hashed_by_checksum():
    # as in 0.1.4 (docs/architecture.md, "Equality and hashing")
    buffer = Buffer(b"hello")
    assert buffer == b"hello"
    assert hash(buffer) == hash(buffer.compute_checksum()) != hash(b"hello")
