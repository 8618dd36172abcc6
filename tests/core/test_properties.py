"""Property tests: random values round-trip with stable checksums; random bytes never crash."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest
from helpers.vectors import same_value
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from seamless_core import Buffer, Checksum
from seamless_core.celltypes import CELLTYPES

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


def _no_surrogates(value) -> bool:
    text = json.dumps(value)
    return (
        "\\ud8" not in text and "\\ud9" not in text and "\\uda" not in text and "\\udb" not in text
    )


@SETTINGS
@given(json_values)
def test_plain_round_trips_with_orjson_bytes(value):
    if not _no_surrogates(value):
        return  # lone surrogates are not UTF-8; tested separately
    buffer = Buffer(value, "plain")
    assert (
        buffer.content
        == orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )
    parsed = buffer.get_value("plain")
    assert same_value(parsed, value) or parsed == value
    assert Buffer(parsed, "plain").content == buffer.content


@SETTINGS
@given(json_values | st.integers(min_value=-(2**100), max_value=2**100))
def test_mixed_json_equals_the_standard_library(value):
    buffer = Buffer(value, "mixed")
    expected = json.dumps(value, indent=2, sort_keys=True) + "\n"
    assert buffer.content == expected.encode()
    parsed = buffer.get_value("mixed")
    assert parsed == value
    assert Buffer(parsed, "mixed").content == buffer.content


def _dtypes():
    simple = (
        hnp.integer_dtypes(endianness="=")
        | hnp.unsigned_integer_dtypes(endianness="=")
        | hnp.floating_dtypes(endianness="=")
        | hnp.boolean_dtypes()
    )
    exotic = (
        hnp.integer_dtypes(endianness=">")
        | hnp.floating_dtypes(endianness=">")
        | hnp.complex_number_dtypes()
        | hnp.datetime64_dtypes()
        | hnp.timedelta64_dtypes()
        | hnp.byte_string_dtypes(max_len=6)
        | hnp.unicode_string_dtypes(max_len=6)
    )
    structured = hnp.array_dtypes(simple, max_size=3) | st.builds(
        lambda names, align: np.dtype([(n, "u1") for n in names] + [("z", "<f8")], align=align),
        st.lists(st.sampled_from("abcd"), unique=True, max_size=3),
        st.booleans(),
    )
    return simple | exotic | structured


@SETTINGS
@given(hnp.arrays(_dtypes(), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
@pytest.mark.parametrize("celltype", ["binary", "mixed"])
def test_arrays_of_every_dtype_round_trip(celltype, array):
    buffer = Buffer(array, celltype)
    parsed = buffer.get_value(celltype)
    expected = array[()] if array.ndim == 0 and array.dtype.char != "S" else array
    assert same_value(parsed, expected)
    assert np.asarray(parsed).dtype == np.asarray(expected).dtype
    if isinstance(parsed, np.ndarray):  # a 0-d array reads back as a NumPy scalar
        assert Buffer(parsed, celltype).content == buffer.content
    assert Checksum.of(Buffer(array, celltype).content) == Checksum.of(buffer.content)


@SETTINGS
@given(
    st.dictionaries(
        st.text(max_size=5),
        hnp.arrays(
            hnp.integer_dtypes(endianness="=") | hnp.floating_dtypes(endianness="="),
            hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
        )
        | json_scalars,
        max_size=4,
    )
)
def test_dicts_holding_arrays_round_trip(value):
    buffer = Buffer(value, "mixed")
    parsed = buffer.get_value("mixed")
    assert same_value(parsed, value)
    assert Buffer(parsed, "mixed").content == buffer.content


PREFIXES = [b"", b"\x93NUMPY\x01\x00", b"\x93NUMPY\x02\x00", b"\x94SEAMLESS-MIXED", b'{"a": ', b"["]


@SETTINGS
@given(st.sampled_from(PREFIXES), st.binary(max_size=200), st.sampled_from(CELLTYPES))
def test_random_bytes_parse_or_raise_value_or_type_error(prefix, tail, celltype):
    try:
        Buffer(prefix + tail).get_value(celltype)
    except (ValueError, TypeError):
        pass


@SETTINGS
@given(st.binary(max_size=64), st.sampled_from(CELLTYPES))
def test_parsing_a_valid_prefix_then_garbage_is_safe(tail, celltype):
    valid = Buffer({"x": np.arange(4, dtype=np.int16), "y": [1, 2]}, "mixed").content
    for cut in (len(valid) // 3, len(valid) // 2, len(valid) - 3):
        try:
            Buffer(valid[:cut] + tail).get_value(celltype)
        except (ValueError, TypeError):
            pass
