"""Checksum: construction, comparison, representations and .CHECKSUM files."""

from __future__ import annotations

import hashlib
import os
import pickle

import pytest

from seamless_core import Checksum

HEX = hashlib.sha256(b"hello").hexdigest()
RAW = bytes.fromhex(HEX)


def test_constructions_agree():
    assert Checksum(HEX) == Checksum(HEX.upper()) == Checksum(RAW) == Checksum(Checksum(HEX))
    assert Checksum.of(b"hello") == HEX


def test_representations():
    c = Checksum(HEX)
    assert c.hex() == HEX and str(c) == HEX and c.bytes() == RAW
    assert repr(c) == f"Checksum('{HEX}')"
    assert c.__dask_tokenize__() == HEX


def test_equality_with_hex_and_bytes_and_hash():
    c = Checksum(HEX)
    assert c == HEX and c == HEX.upper() and c == RAW
    assert c != "not a checksum" and c != b"short" and c != 42
    assert hash(c) == hash(Checksum(RAW))
    assert len({c, Checksum(HEX), Checksum(RAW)}) == 1


def test_ordering():
    a, b = sorted([Checksum(HEX), Checksum(hashlib.sha256(b"x").hexdigest())])
    assert a < b and b > a and a <= a and b >= a
    assert a < b.hex() and a < b.bytes()
    with pytest.raises(TypeError):
        _ = a < 3


def test_pickle_round_trip_and_immutability():
    c = Checksum(HEX)
    assert pickle.loads(pickle.dumps(c)) == c
    with pytest.raises(AttributeError):
        c._digest = b"x" * 32


@pytest.mark.parametrize("bad", [None, 12, 1.5, ["a"], {"a": 1}])
def test_wrong_type_is_type_error(bad):
    with pytest.raises(TypeError, match="Checksum"):
        Checksum(bad)


@pytest.mark.parametrize("bad", ["abc", "z" * 64, HEX + "00", b"\x00" * 31, "g" * 64])
def test_wrong_value_is_value_error_showing_the_input(bad):
    with pytest.raises(ValueError) as info:
        Checksum(bad)
    shown = bad[:10] if isinstance(bad, str) else repr(bad[:10])[2:-1]
    assert shown in str(info.value)


def test_long_input_is_cut_in_the_message():
    with pytest.raises(ValueError) as info:
        Checksum("a" * 10_000)
    assert len(str(info.value)) < 300


def test_save_adds_the_extension_and_load_reads_it(tmp_path):
    c = Checksum(HEX)
    written = c.save(tmp_path / "result")
    assert written.endswith("result.CHECKSUM")
    with open(written) as f:
        assert f.read() == HEX + "\n"
    assert Checksum.load(tmp_path / "result") == c
    assert Checksum.load(tmp_path / "result.CHECKSUM") == c


def test_load_refuses_a_file_without_a_checksum(tmp_path):
    (tmp_path / "x.CHECKSUM").write_text("not a checksum\n")
    with pytest.raises(ValueError, match="not a checksum"):
        Checksum.load(tmp_path / "x")


def test_failed_save_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "keep.CHECKSUM"
    target.write_text("old\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        Checksum(HEX).save(target)
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.CHECKSUM"]


def test_equal_to_its_hex_string_but_not_hashed_like_it():
    # as in 0.1.4 (docs/architecture.md, "Equality and hashing"): downstream relies on ==
    c = Checksum(HEX)
    assert c == HEX and not isinstance(c, str)
    assert hash(c) == hash(RAW) != hash(HEX)
    assert c.hex() in {HEX: 1} and HEX in {c.hex(): 1}
