"""The conversion matrix and the conversion engine (seamless_core.conversion)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.vectors import load_vectors

from seamless_core import Buffer, CacheMissError, Checksum
from seamless_core.celltypes import CELLTYPES, deserialize, serialize
from seamless_core.conversion import (
    CATEGORIES,
    SeamlessConversionError,
    conversion_category,
    conversion_matrix,
    conversion_steps,
    conversion_via,
    convert,
    engine,
)

VECTOR_TABLE = load_vectors()["conversions"]
PAIRS = [(s, t) for s in CELLTYPES for t in CELLTYPES if s != t]
PRIMITIVE = {"trivial", "reinterpret", "reformat", "possible", "values", "forbidden"}


def _pair_id(pair: tuple[str, str]) -> str:
    return f"{pair[0]}->{pair[1]}"


# -- the table -----------------------------------------------------------------------------------


def test_table_has_every_pair_once():
    assert len(PAIRS) == 156
    assert set(VECTOR_TABLE) == {_pair_id(pair) for pair in PAIRS}


@pytest.mark.parametrize("pair", PAIRS, ids=_pair_id)
def test_table_matches_vectors(pair):
    expected = VECTOR_TABLE[_pair_id(pair)]
    assert conversion_category(*pair) == expected["category"]
    via = conversion_via(*pair)
    if expected["category"] == "equivalent":
        assert list(via) == expected["via"]
    elif expected["category"] == "chain":
        assert via == expected["via"]
    else:
        assert via is None


def test_matrix_to_dict_matches_vectors():
    table = conversion_matrix().to_dict()
    assert list(table) == list(CELLTYPES)
    flat = {f"{s}->{t}": category for s, row in table.items() for t, category in row.items()}
    assert flat == {key: entry["category"] for key, entry in VECTOR_TABLE.items()}


@pytest.mark.parametrize("pair", PAIRS, ids=_pair_id)
def test_steps_are_primitive_and_connected(pair):
    steps = conversion_steps(*pair)
    assert steps, pair
    assert steps[0][0] == pair[0] and steps[-1][1] == pair[1]
    for (a, b, category), following in zip(steps, steps[1:] + [None]):
        assert category in PRIMITIVE
        assert conversion_category(a, b) == category
        if following is not None:
            assert following[0] == b
    if conversion_category(*pair) in PRIMITIVE:
        assert steps == [(pair[0], pair[1], conversion_category(*pair))]


def test_equivalent_and_chain_examples():
    assert conversion_steps("mixed", "text") == [
        ("mixed", "plain", "reinterpret"),
        ("plain", "text", "reformat"),
    ]
    # the result of text -> str is read as mixed through checksum-keeping pairs
    assert conversion_steps("ipython", "mixed") == [
        ("ipython", "text", "trivial"),
        ("text", "str", "reformat"),
        ("str", "plain", "trivial"),
        ("plain", "mixed", "trivial"),
    ]
    assert conversion_steps("str", "python") == [
        ("str", "text", "reformat"),
        ("text", "python", "reinterpret"),
    ]


def test_identity_and_aliases():
    assert conversion_category("plain", "plain") == "identity"
    assert conversion_steps("mixed", "mixed") == []
    assert conversion_category("deepcell", "plain") == "identity"
    assert conversion_category("folder", "mixed") == "trivial"
    assert conversion_steps("module", "bytes") == [("plain", "bytes", "trivial")]
    assert set(CATEGORIES) == {entry["category"] for entry in VECTOR_TABLE.values()} | {"identity"}


@pytest.mark.parametrize(
    "call",
    [
        lambda: conversion_category("plian", "text"),
        lambda: conversion_steps("text", None),
        lambda: convert(Buffer(b"1\n"), "cson", "plain"),
    ],
)
def test_unknown_celltype_is_a_type_error_listing_valid_ones(call):
    with pytest.raises(TypeError) as info:
        call()
    assert "binary" in str(info.value) and "checksum" in str(info.value)


def test_matrix_repr_is_a_text_grid():
    text = repr(conversion_matrix())
    lines = text.splitlines()
    assert len(lines) == 1 + 1 + 13 + 1
    assert lines[2].split() == [
        "binary",
        ".",
        "T",
        "C",
        "C",
        "C",
        "V",
        "C",
        "C",
        "F",
        "P",
        "P",
        "P",
        "V",
    ]
    for category in CATEGORIES:
        assert category in lines[-1]


# -- samples -------------------------------------------------------------------------------------

_NPY = serialize(np.arange(3, dtype="int16"), "binary")
_CONTAINER = serialize({"x": np.arange(3, dtype="int16"), "y": "hi"}, "mixed")
_STRUCTURED = np.array([(1, 2.5), (3, -1.0)], dtype=[("a", "<i4"), ("b", "<f8")])

SAMPLES: dict[str, list] = {
    "binary": [
        np.arange(5, dtype="int16"),
        np.array(3.5),
        np.array(True),
        np.float32(1.25),
        np.array(2**63 + 5, dtype="uint64"),
        np.array(b"hello"),
        np.array(b"42"),
        np.array(b""),
        np.array([b"ab", b"c"]),
        np.array(["uni", "k\u00e9 \u2603"]),
        _STRUCTURED,
        np.zeros((2, 3), order="F"),
        np.array([]),
        np.array([1 + 2j]),
        np.array([[1, 2], [3, 4]], dtype=">i4"),
        b"not json text",  # the binary celltype stores bytes as they are
    ],
    "mixed": [
        {"a": np.arange(3), "b": [1, "x", {"c": np.array([b"z"])}]},
        [np.zeros(2), {"k": None}],
        np.array([1.5, 2.5]),
        np.float64(2.5),
        np.int8(-3),
        42,
        2**80,
        "hello",
        "",
        "caf\u00e9 \u2603",
        None,
        True,
        1e-7,
        float("nan"),
        {"\u00e9": "\u00fc", "n": [1, 2.5, None]},
        [],
        {},
        b"raw bytes",
    ],
    "text": [
        "",
        "hello",
        "h\u00e9llo \u2603",
        "42",
        "  -1.5 ",
        "true",
        "null",
        '{"a": [1, 2]}',
        "line\n\n",
        "[1, 2",
        "x = 1",
        "%timeit x",
        "a: 1\nb: [2, 3]",
        '"quoted"',
    ],
    "python": ["", "x = 1", "def f():\n    return 2", "# caf\u00e9\nimport numpy as np", "42"],
    "ipython": ["", "x = 1", "%matplotlib inline\nx = 2", "!ls -l", "a = !pwd", "1.5"],
    "plain": [
        0,
        -5,
        2**63 - 1,
        -(2**63),
        1.5,
        1e-7,
        1e16,
        True,
        False,
        None,
        "",
        "hello",
        "\u00e9\u2603",
        "12",
        {"a": [1, 2, {"b": None}], "\u00e9": "x"},
        [1, 2, 3],
        [[1.5, 2], [3, 4]],
        ["a", "bc"],
        [1, "a"],
        [[1], [1, 2]],
        [True, False],
        [],
        {},
    ],
    "yaml": [
        "",
        "a: 1",
        "- 1\n- 2.5",
        "key: value\nlist: [1, 2]",
        "hello",
        "42",
        "caf\u00e9: \u2603",
        "{}",
    ],
    "str": ["", "hello", "\u00e9 \u2603", "42", "4.5", "True", "False", "null", '"quoted"', "a\nb"],
    "bytes": [
        b"",
        b"hello",
        b"\xff\xfe\x00",
        b"\x00",
        b"ab\x00\x00",
        _NPY,
        _CONTAINER,
        b'{"a": 1}',
        b"42\n",
        b"true",
        b"x = 1\n",
        b"\x93NUMPY broken",
        "caf\u00e9".encode(),
    ],
    "int": [0, -1, 7, 2**63 - 1, -(2**63)],
    "float": [0.0, -1.5, 1e-7, 2.5, 1e300, 123456789.125],
    "bool": [True, False],
}


def _reformat_limit(source: str, target: str, value) -> bool:
    """What reformat cannot do, by design: an int buffer holds at most 64 bits."""
    return (source, target) == ("float", "int") and abs(value) >= 2**63


@pytest.fixture
def referenced():
    """Buffers registered in the cache (held alive by the fixture), and checksum samples."""
    buffers = [
        Buffer(serialize(42, "plain")),
        Buffer(serialize("hello", "text")),
        Buffer(_NPY),
        Buffer(serialize({"a": [1, 2]}, "plain")),
        Buffer(b"\xff\x00 binary"),
    ]
    hexes = [buffer.get_checksum().hex() for buffer in buffers]
    samples = hexes + [{"a": hexes[0], "b": [hexes[1]]}, [hexes[2], hexes[3]]]
    return buffers, samples


def _samples(celltype: str, referenced) -> list:
    return referenced[1] if celltype == "checksum" else SAMPLES[celltype]


def _buffer(value, celltype: str) -> Buffer:
    if isinstance(value, bytes) and celltype in ("bytes", "binary"):
        return Buffer(value)
    return Buffer(value, celltype)


def _outcome(function):
    try:
        return function().content
    except SeamlessConversionError as exc:
        return SeamlessConversionError, type(exc.__cause__)


def test_samples_cover_every_source():
    assert set(SAMPLES) | {"checksum"} == set(CELLTYPES)


@pytest.mark.parametrize("pair", PAIRS, ids=_pair_id)
def test_every_pair_on_samples(pair, referenced):
    source, target = pair
    category = conversion_category(source, target)
    for value in _samples(source, referenced):
        buffer = _buffer(value, source)
        try:
            result = convert(buffer, source, target)
        except SeamlessConversionError as exc:
            expected_to_work = category == "trivial" or (
                category == "reformat" and not _reformat_limit(source, target, value)
            )
            assert not expected_to_work, (pair, value, exc)
            message = str(exc)
            assert Checksum.of(buffer.content).hex() in message
            assert repr(source) in message and repr(target) in message
            assert exc.checksum == Checksum.of(buffer.content)
            assert (exc.source, exc.target) == (source, target)
            assert category == "forbidden" or exc.__cause__ is not None
            continue
        assert category != "forbidden", (pair, value)
        if category == "reformat":
            assert not _reformat_limit(source, target, value)
        assert isinstance(result, Buffer)
        deserialize(result.content, target)  # the result is a valid target buffer
        if category in ("trivial", "reinterpret"):
            assert result.content == buffer.content, (pair, value)


@pytest.mark.parametrize(
    "pair",
    [p for p in PAIRS if conversion_category(*p) in ("equivalent", "chain")],
    ids=_pair_id,
)
def test_mapped_pairs_equal_their_steps_run_one_by_one(pair, referenced):
    source, target = pair
    for value in _samples(source, referenced):
        buffer = _buffer(value, source)

        def stepwise(buffer=buffer):
            for a, b, _ in conversion_steps(source, target):
                buffer = convert(buffer, a, b)
            return buffer

        whole = _outcome(lambda buffer=buffer: convert(buffer, source, target))
        assert whole == _outcome(stepwise), (pair, value)


# -- checksum arguments --------------------------------------------------------------------------


@pytest.mark.parametrize("pair", PAIRS, ids=_pair_id)
def test_resolvable_checksum_gives_the_same_result(pair, referenced):
    source, target = pair
    for value in _samples(source, referenced)[:3]:
        buffer = _buffer(value, source)
        checksum = buffer.get_checksum()  # registered: resolvable while `buffer` lives
        assert _outcome(lambda checksum=checksum: convert(checksum, source, target)) == _outcome(
            lambda buffer=buffer: convert(buffer, source, target)
        )


@pytest.mark.parametrize(
    "pair",
    [
        ("text", "bytes"),
        ("text", "plain"),
        ("plain", "binary"),
        ("yaml", "int"),
        ("int", "checksum"),
    ],
)
def test_unresolvable_checksum_is_a_cache_miss(pair):
    missing = Checksum.of(b"nobody has this buffer: test_conversion")
    with pytest.raises(CacheMissError):
        convert(missing, *pair)
    with pytest.raises(CacheMissError):
        convert(missing, pair[0], pair[0])


def test_forbidden_with_unresolvable_checksum_needs_no_buffer():
    missing = Checksum.of(b"nobody has this buffer: forbidden")
    with pytest.raises(SeamlessConversionError, match=missing.hex()):
        convert(missing, "python", "int")


def test_checksum_cell_pointing_nowhere_is_a_cache_miss():
    missing = Checksum.of(b"nobody has this buffer: pointed to")
    cell = Buffer(missing.hex(), "checksum")
    with pytest.raises(CacheMissError):
        convert(cell, "checksum", "text")


# -- behaviour per pair --------------------------------------------------------------------------


def _convert_value(value, source: str, target: str):
    return convert(_buffer(value, source), source, target)


def test_trivial_does_not_read_the_buffer():
    class Unreadable(Buffer):
        @property
        def content(self):
            raise AssertionError("a trivial conversion read the buffer")

    buffer = Unreadable(b"x")
    assert convert(buffer, "python", "text") is buffer
    assert convert(buffer, "plain", "plain") is buffer


def test_reinterpret_parses_once(monkeypatch):
    calls = []

    def counting(content, celltype):
        calls.append(celltype)
        return deserialize(content, celltype)

    monkeypatch.setattr(engine, "deserialize", counting)
    buffer = Buffer("x = 1", "text")
    assert convert(buffer, "text", "python") is buffer
    assert calls == ["python"]


def test_reinterpret_failure():
    with pytest.raises(SeamlessConversionError, match="'text' to 'python'"):
        _convert_value("x = (", "text", "python")
    with pytest.raises(SeamlessConversionError):
        convert(Buffer(b"\xff"), "bytes", "text")
    with pytest.raises(SeamlessConversionError):
        _convert_value({"a": 1}, "mixed", "binary")


def test_text_and_plain():
    json_text = _buffer('{"a": 1}', "text")
    assert convert(json_text, "text", "plain").content == json_text.content
    assert _convert_value("not json", "text", "plain").content == b'"not json"\n'
    assert _convert_value("hello", "plain", "text").content == b"hello\n"
    as_json = _buffer([1, 2], "plain")
    assert convert(as_json, "plain", "text").content == as_json.content
    assert _convert_value("hi", "text", "str").content == b'"hi"\n'
    assert _convert_value("hi\n", "str", "text").content == b"hi\n"
    assert _convert_value("hi", "text", "mixed").content == b'"hi"\n'


def test_bytes_binary_mixed():
    npy = Buffer(_NPY)
    assert convert(npy, "bytes", "binary") is npy
    wrapped = convert(Buffer(b"ab\x00\x00"), "bytes", "binary")
    array = deserialize(wrapped.content, "binary")
    assert array.dtype == np.dtype("S4") and array.shape == ()
    assert convert(wrapped, "binary", "bytes").content == b"ab\x00\x00"
    assert convert(convert(Buffer(b""), "bytes", "binary"), "binary", "bytes").content == b""
    assert convert(Buffer(b"\x93NUMPY broken"), "bytes", "binary").content != b"\x93NUMPY broken"
    # bytes -> mixed: mixed buffers stay, text becomes a str, other bytes an S array
    for kept in (_NPY, _CONTAINER, b'{"a": 1}'):
        assert convert(Buffer(kept), "bytes", "mixed").content == kept
    assert convert(Buffer(b"plain text\n"), "bytes", "mixed").content == b'"plain text"\n'
    binary = convert(Buffer(b"\xff\x00"), "bytes", "mixed")
    assert deserialize(binary.content, "mixed").tobytes() == b"\xff\x00"
    # binary/mixed -> bytes: S arrays give their bytes, other buffers stay
    assert _convert_value(np.array([b"ab", b"c"]), "binary", "bytes").content == b"abc\x00"
    assert convert(npy, "binary", "bytes") is npy
    assert convert(npy, "mixed", "bytes") is npy
    container = Buffer(_CONTAINER)
    assert convert(container, "mixed", "bytes") is container


def test_yaml_and_code():
    assert _convert_value("a: [1, 2]", "yaml", "plain").content == serialize({"a": [1, 2]}, "plain")
    python = _convert_value("%matplotlib inline\nx = 1", "ipython", "python")
    text = deserialize(python.content, "python")
    assert "get_ipython()" in text and "x = 1" in text
    for not_json in ("when: 2020-01-01 12:00:00.5\nd: !!binary aGk=", "{1: 2, 3: 4}", "x: .nan"):
        with pytest.raises(SeamlessConversionError, match="'yaml' to 'plain'"):
            _convert_value(not_json, "yaml", "plain")


def test_binary_and_plain():
    assert _convert_value(np.arange(3), "binary", "plain").content == serialize([0, 1, 2], "plain")
    assert deserialize(_convert_value(_STRUCTURED, "binary", "plain").content, "plain") == [
        [1, 2.5],
        [3, -1.0],
    ]
    assert _convert_value(np.float32(0.5), "binary", "plain").content == b"0.5\n"
    for refused in (np.array([b"x"]), np.array([1 + 1j]), np.array(["2020-01-01"], dtype="M8[D]")):
        with pytest.raises(SeamlessConversionError, match="dtype"):
            _convert_value(refused, "binary", "plain")
    array = deserialize(_convert_value([[1, 2], [3, 4]], "plain", "binary").content, "binary")
    assert array.dtype == np.int64 and array.shape == (2, 2)
    strings = deserialize(_convert_value(["a", "bc"], "plain", "binary").content, "binary")
    assert strings.dtype == np.dtype("<U2")
    for refused in ({"a": 1}, None, [[1], [1, 2]], [1, "a"], [1, None]):
        with pytest.raises(SeamlessConversionError, match="'plain' to 'binary'"):
            _convert_value(refused, "plain", "binary")


def test_scalars_convert_as_the_builtins_do():
    def value(v, source, target):
        return deserialize(_convert_value(v, source, target).content, target)

    assert value(True, "bool", "str") == "True"
    assert value(2.9, "float", "int") == 2
    assert value(-2.9, "float", "int") == -2
    assert value(0.0, "float", "bool") is False
    assert value(7, "int", "float") == 7.0
    assert value(" 12 ", "str", "int") == 12
    assert value("x", "str", "bool") is True  # bool() of a non-empty string (with a warning)
    assert value(np.array(3.7), "binary", "int") == 3
    assert value(5, "mixed", "str") == "5"
    for refused, source, target in (
        ("4.5", "str", "int"),
        ("nan", "str", "float"),
        ([1, 2], "plain", "int"),
        (np.arange(2), "binary", "bool"),
        (_STRUCTURED[0], "binary", "int"),
        ({"a": np.arange(2)}, "mixed", "str"),
        (np.array(7), "mixed", "str"),
        (1e300, "float", "int"),  # beyond the 64 bits of an int buffer
        ("False", "str", "bool"),  # bool() would say True: refused, not silently inverted
    ):
        with pytest.raises(SeamlessConversionError):
            _convert_value(refused, source, target)


def test_text_to_binary_cannot_succeed():
    # text -> mixed gives a JSON string, which the mixed -> binary reinterpretation refuses
    with pytest.raises(SeamlessConversionError, match="step mixed -> binary"):
        _convert_value("1 2 3", "text", "binary")


def test_checksum_cells(referenced):
    buffers, hexes = referenced
    text = buffers[1]
    for source in ("text", "bytes", "python"):
        cell = convert(text, source, "checksum")
        assert cell.content == f'"{text.checksum.hex()}"\n'.encode()
        assert deserialize(cell.content, "checksum") == text.checksum.hex()
    cell = Buffer(hexes[1], "checksum")
    assert convert(cell, "checksum", "text").content == text.content
    assert convert(cell, "checksum", "bytes").content == text.content
    with pytest.raises(SeamlessConversionError, match="'checksum' to 'int'"):
        convert(cell, "checksum", "int")
    npy_cell = Buffer(hexes[2], "checksum")
    assert convert(npy_cell, "checksum", "binary").content == _NPY
    tree = Buffer({"a": hexes[0], "b": [hexes[1]]}, "checksum")
    assert convert(tree, "checksum", "plain") is tree
    assert convert(tree, "checksum", "mixed") is tree
    with pytest.raises(SeamlessConversionError, match="only to plain or mixed"):
        convert(tree, "checksum", "str")
    with pytest.raises(SeamlessConversionError):
        convert(Buffer(b"\xff not valid"), "text", "checksum")


def test_forbidden_and_errors():
    buffer = Buffer("x = 1", "python")
    with pytest.raises(SeamlessConversionError) as info:
        convert(buffer, "python", "int")
    assert isinstance(info.value, ValueError)
    assert buffer.get_checksum().hex() in str(info.value)
    assert "forbidden" in str(info.value)
    with pytest.raises(SeamlessConversionError) as info:
        _convert_value("abc", "str", "int")
    assert isinstance(info.value.__cause__, ValueError)
    assert len(str(info.value)) < 500


def test_convert_accepts_bytes_and_refuses_other_types():
    assert convert(b"42\n", "bytes", "int").content == b"42\n"
    with pytest.raises(TypeError, match="Buffer, a Checksum or bytes"):
        convert("42", "plain", "int")


def test_import_is_cheap(fresh_python):
    code = (
        "import sys, seamless_core.conversion as c; c.conversion_steps('text', 'binary');"
        "print(sorted(m for m in ('numpy', 'yaml', 'IPython') if m in sys.modules))"
    )
    out = fresh_python(code)
    assert out.stdout.strip() == "[]"
