"""``convert_checksum``: a checksum-level conversion that fetches a buffer only when it must."""

from __future__ import annotations

import pytest

import seamless_core
from seamless_core import Buffer, CacheMissError, Checksum, SeamlessConversionError
from seamless_core.conversion import convert, convert_checksum

NOWHERE = Checksum("ab" * 32)  # no buffer anywhere: resolving it would raise CacheMissError


@pytest.mark.parametrize(
    "source, target", [("text", "bytes"), ("plain", "mixed"), ("python", "text"), ("int", "int")]
)
def test_identity_and_trivial_pairs_keep_the_checksum_without_fetching(source, target):
    assert convert_checksum(NOWHERE, source, target) == NOWHERE
    assert convert_checksum(NOWHERE.hex(), source, target) == NOWHERE


def test_a_forbidden_pair_fails_without_fetching():
    with pytest.raises(SeamlessConversionError, match="forbidden"):
        convert_checksum(NOWHERE, "python", "int")


def test_other_pairs_resolve_and_convert():
    with pytest.raises(CacheMissError):
        convert_checksum(NOWHERE, "text", "plain")
    buffer = Buffer("hello", "text")
    buffer.incref()
    try:
        checksum = convert_checksum(buffer.get_checksum(), "text", "plain")
        assert checksum == convert(buffer, "text", "plain").get_checksum()
        assert checksum == Buffer("hello", "plain").get_checksum()
        # reinterpret: the checksum stays, after the buffer was checked
        plain = Buffer({"a": 1}, "plain")
        plain.incref()
        assert convert_checksum(plain.get_checksum(), "mixed", "plain") == plain.get_checksum()
        plain.decref()
    finally:
        buffer.decref()


def test_exported():
    assert seamless_core.convert_checksum is convert_checksum
