"""Every vector produced by seamless-core 0.1.4: same bytes, same checksum, same parsed value."""

from __future__ import annotations

import base64
import hashlib

import numpy as np
import pytest
from helpers.vectors import canonical, evaluate, load_vectors, same_value

from seamless_core import Buffer, Checksum

VECTORS = load_vectors()
CHECKSUM_HEX = set("0123456789abcdef")


def _id(vector: dict) -> str:
    return f"{vector['celltype']}:{vector.get('value', vector.get('raw'))[:50]}"


def _improved_on_purpose(value, celltype: str) -> bool:
    """Top-level arrays of any non-object dtype are stored, where 0.1.4 raised."""
    return celltype in ("binary", "mixed") and isinstance(value, np.ndarray)


@pytest.mark.parametrize("vector", VECTORS["serialize"], ids=_id)
def test_serialize_vector(vector):
    value = evaluate(vector["value"])
    celltype = vector["celltype"]
    expected = base64.b64decode(vector["buffer"]) if vector.get("buffer") else None

    if vector.get("error") and not _improved_on_purpose(value, celltype):
        with pytest.raises((ValueError, TypeError)) as info:
            Buffer(value, celltype)
        assert celltype in str(info.value)
        return

    try:
        buffer = Buffer(value, celltype)
    except (ValueError, TypeError) as exc:
        # Refusing is only allowed where 0.1.4 did not read back what it wrote.
        assert vector.get("lossy"), f"refused a value 0.1.4 round-trips: {exc}"
        assert celltype in str(exc)
        return

    if expected is not None and not vector.get("lossy"):
        assert buffer.content == expected
        assert Checksum.of(buffer.content).hex() == vector["checksum"]
        assert hashlib.sha256(expected).hexdigest() == vector["checksum"]

    parsed = buffer.get_value(celltype)
    if vector.get("lossy") or vector.get("error"):
        expected_value = value
        if celltype == "checksum":
            expected_value = _hex_tree(value)
        if celltype in ("text", "python", "ipython", "yaml"):
            expected_value = str(value).rstrip("\n")
        assert same_value(parsed, expected_value), (parsed, value)
    elif celltype == "bytes":
        assert parsed == base64.b64decode(vector["parsed"]["bytes"])
    else:
        assert canonical(parsed) == vector["parsed"]


def _hex_tree(value):
    if isinstance(value, dict):
        return {k: _hex_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_hex_tree(v) for v in value]
    return Checksum(value).hex() if not isinstance(value, str) else value


def _valid_checksum_tree(value) -> bool:
    if isinstance(value, str):
        return len(value) == 64 and set(value.lower()) <= CHECKSUM_HEX
    if isinstance(value, list):
        return all(_valid_checksum_tree(v) for v in value)
    if isinstance(value, dict):
        return all(_valid_checksum_tree(v) for v in value.values())
    return False


@pytest.mark.parametrize("vector", VECTORS["parse"], ids=_id)
def test_parse_vector(vector):
    raw = base64.b64decode(vector["buffer"])
    celltype = vector["celltype"]
    if vector.get("error"):
        if celltype == "checksum":
            # we read the checksum celltype back, validated; 0.1.4 could not
            try:
                value = Buffer(raw).get_value(celltype)
            except (ValueError, TypeError) as exc:
                assert celltype in str(exc)
            else:
                assert _valid_checksum_tree(value)
            return
        with pytest.raises((ValueError, TypeError)) as info:
            Buffer(raw).get_value(celltype)
        assert celltype in str(info.value)
        return
    parsed = Buffer(raw).get_value(celltype)
    if celltype == "bytes":
        assert parsed == base64.b64decode(vector["parsed"]["bytes"])
    else:
        assert canonical(parsed) == vector["parsed"]
