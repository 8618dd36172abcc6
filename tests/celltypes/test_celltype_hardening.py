"""Celltypes and parsing under hostile or awkward input: bounded, exact, and never silent.

Expected bytes marked "0.1.4" were produced by running the published seamless-core 0.1.4.
"""

from __future__ import annotations

import ast
import json
import re
import threading
import time
import warnings

import numpy as np
import pytest
import yaml
from helpers.vectors import load_vectors
from hypothesis import given, settings
from hypothesis import strategies as st

from seamless_core import Buffer
from seamless_core.celltypes import LossyCoercionWarning, deserialize, serialize
from seamless_core.celltypes import text as text_module
from seamless_core.celltypes._ipython import transform_cell
from seamless_core.celltypes._yaml import load_yaml, safe_loader
from seamless_core.conversion import SeamlessConversionError, convert
from seamless_core.jupyter.html import describe_content

# -- YAML ----------------------------------------------------------------------------------------


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_quickly():
    bomb = _alias_bomb()  # ~500 bytes that expand to 9**10 nodes (gigabytes of JSON)
    assert len(bomb) < 600
    buffer = Buffer(bomb, "yaml")  # storing the text is harmless: it stays valid yaml
    start = time.monotonic()
    with pytest.raises(ValueError, match="yaml") as info:
        convert(buffer, "yaml", "plain")
    assert "aliases expand" in str(info.value)
    assert time.monotonic() - start < 30  # refused before expanding (was: 1.4 GB, minutes)


def test_yaml_recursive_alias_is_refused():
    with pytest.raises(ValueError, match="contains itself"):
        convert(Buffer("a: &a [1, *a]\n", "yaml"), "yaml", "plain")


def test_yaml_aliases_of_normal_size_still_convert():
    doc = "base: &b {x: 1, y: [1, 2]}\nd:\n  <<: *b\n  z: 2\ne: *b\n"
    value = convert(Buffer(doc, "yaml"), "yaml", "plain").get_value("plain")
    assert value == {
        "base": {"x": 1, "y": [1, 2]},
        "d": {"x": 1, "y": [1, 2], "z": 2},
        **{"e": {"x": 1, "y": [1, 2]}},
    }


def test_yaml_uses_the_c_safe_loader_when_built():
    loader = safe_loader()
    assert issubclass(loader, yaml.SafeLoader) or loader.__name__ == "CSafeLoader"
    if hasattr(yaml, "CSafeLoader"):
        assert loader is yaml.CSafeLoader


_YAML_DOCS = [
    "a: 1\nb: [1, 2.5, null, true, 'x']\n",
    "- 0o17\n- 0x1f\n- 1_000\n- .inf\n- -.inf\n- 1e3\n- 2001-12-14\n- ~\n",
    "k: |\n  line 1\n  line 2\n",
    "k: >\n  folded\n  text\n",
    "? complex\n: key\n",
    "caf\u00e9: \u2603\nemoji: \U0001f600\n",
    "s: 'it''s'\nd: \"tab\\there\"\n",
    "base: &b {x: 1}\nd:\n  <<: *b\n  y: 2\n",
    "- yes\n- no\n- on\n- off\n- Yes\n",
]


def test_c_and_python_safe_loaders_read_the_same_values():
    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML built without libyaml")
    docs = list(_YAML_DOCS)
    for vector in load_vectors()["serialize"]:
        if vector["celltype"] == "yaml" and vector.get("buffer"):
            import base64

            docs.append(base64.b64decode(vector["buffer"]).decode())
    for doc in docs:
        try:
            python = yaml.load(doc, Loader=yaml.SafeLoader)  # noqa: S506 - safe loader
        except yaml.YAMLError:
            with pytest.raises(yaml.YAMLError):
                load_yaml(doc)
            continue
        assert load_yaml(doc) == python, doc


# -- IPython -------------------------------------------------------------------------------------


def _ipython_reference(cell: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell)


_CELLS = [
    "%time 1 + 1",
    "x = 1\n%timeit -n1 x\ny = 2",
    "%%time\nx = 1\n",
    "  indented = 1\n  %time indented\n",
    ">>> a = 1\n>>> %time a\n",
    "def f():\n    %time 1\n    return 2\n",
    "a = %pwd\nb = !echo hi\n!ls\nlen?\n",
    "s = '''\n%not a magic\n'''\n%time s\n",
    "x = (1,\n     2)\n%time x\n",
    "x = 1 + \\\n    2\n%time x\n",
    "print('%time')\n",
]


def _long_cell(blocks: int) -> str:
    parts = []
    for i in range(blocks):
        parts.append(f"%time x{i} = {i}\n")
        parts.append(f"def f{i}(a):\n    !echo {{a}}\n    return a\n")
        parts.append(f"s{i} = '''\n%time inside a string {i}\n'''\n")
        parts.append(f"y{i} = (1,\n      2)\nlen?\n")
        parts.append(f"z{i} = %pwd\n# a comment\n\n")
    return "".join(parts)


@pytest.mark.parametrize("cell", _CELLS + [_long_cell(12)])
def test_linear_transform_gives_ipythons_output(cell):
    assert transform_cell(cell) == _ipython_reference(cell)


def test_many_magics_validate_in_linear_time():
    cell = "".join(f"%time x = {i}\n" for i in range(450))  # under IPython's 500 rewrites
    start = time.monotonic()
    Buffer(cell, "ipython")
    # IPython alone re-tokenizes the whole cell per magic (quadratic: ~10 s here, 74 s for 36 KB)
    assert time.monotonic() - start < 20


def test_ipython_rewrite_limit_is_kept():
    too_many = "".join(f"%time x = {i}\n" for i in range(500))
    with pytest.raises(ValueError, match="ipython"):
        Buffer(too_many, "ipython")  # IPython itself refuses to run this cell


def test_ipython_to_python_writes_014_bytes():
    # convert(..., "ipython", "python") in 0.1.4 (ipython2python on IPython 9)
    expected = {
        "%time 1 + 1": "_ = get_ipython().run_line_magic('time', '1 + 1')\n",
        "x = 1\n%timeit -n1 x\ny = 2": (
            "x = 1\n_ = get_ipython().run_line_magic('timeit', '-n1 x')\ny = 2\n"
        ),
        "%%time\nx = 1\n": "_ = get_ipython().run_cell_magic('time', '', 'x = 1\\n')\n",
        "def f():\n    %time 1\n    return 2\n": (
            "def f():\n    get_ipython().run_line_magic('time', '1')\n    return 2\n"
        ),
        "a = %pwd\nb = !echo hi\n!ls\nlen?\n": (
            "a = get_ipython().run_line_magic('pwd', '')\nb = get_ipython().getoutput('echo hi')\n"
            "get_ipython().system('ls')\n_ = get_ipython().run_line_magic('pinfo', 'len')\n"
        ),
        "print('%time')\n": "print('%time')\n",
    }
    for cell, python in expected.items():
        assert convert(Buffer(cell, "ipython"), "ipython", "python").content == python.encode()


# -- code validation: size limit, memo, threads --------------------------------------------------


def test_code_above_the_validation_limit_is_stored_unparsed():
    big = "x = 1\n" * (text_module.MAX_VALIDATED_CODE // 6 + 10) + "def (:\n"
    start = time.monotonic()
    buffer = Buffer(big, "python")
    assert buffer.get_value("python") == big.rstrip("\n")
    assert time.monotonic() - start < 30
    with pytest.raises(ValueError, match="invalid python"):
        Buffer("def (:\n", "python")


def test_validation_runs_once_per_content(monkeypatch):
    calls = []
    real_parse = ast.parse

    def counting_parse(*args, **kwargs):
        calls.append(1)
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(ast, "parse", counting_parse)
    source = f"value = {time.monotonic_ns()}\n"
    buffer = Buffer(source, "python")
    for _ in range(5):
        buffer.get_value("python")
        Buffer(source, "python")
    assert len(calls) == 1


def test_an_internal_parser_error_is_not_invalid_code(monkeypatch):
    real_parse = ast.parse
    failures = []

    def failing_parse(*args, **kwargs):
        if len(failures) < 2:
            failures.append(1)
            raise SystemError("AST constructor recursion depth mismatch")
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(ast, "parse", failing_parse)
    with pytest.raises(RuntimeError, match="could not validate") as info:
        Buffer(f"x = {time.monotonic_ns()}\n", "python")
    assert not isinstance(info.value, ValueError)
    failures.clear()
    failures.append(1)  # one spurious failure: retried, and the code is valid
    Buffer(f"y = {time.monotonic_ns()}\n", "python")


def test_validation_from_many_threads_at_once():
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)
    stamp = time.monotonic_ns()

    def work(worker: int) -> None:
        barrier.wait()
        for i in range(150):
            nested = "(" * 30 + "1" + ")" * 30
            source = f"def f_{stamp}_{worker}_{i}(a, b=2):\n    return [a * {i}, {nested}]\n"
            cell = f"%time f = {worker * 1000 + i}\n{source}"
            try:
                buffer = Buffer(source, "python")
                assert buffer.get_value("python") == source.rstrip("\n")
                Buffer(cell, "ipython").get_value("ipython")
            except BaseException as exc:  # noqa: BLE001 - collected and reported below
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []


# -- wrong exception types -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "celltype"), [(float("inf"), "int"), (float("-inf"), "int"), (10**400, "float")]
)
def test_out_of_range_numbers_raise_a_celltype_value_error(value, celltype):
    with pytest.raises(ValueError, match=f"celltype '{celltype}'"):
        Buffer(value, celltype)


def _npy(header: str, data: bytes = b"\x00" * 8) -> bytes:
    header = header + " " * (118 - len(header)) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + data


_CRAFTED_NPY = [
    "{'descr': '<i4', 'fortran_order': False, 'shape': (-1,), }",
    "{'descr': '<i4', 'fortran_order': False, 'shape': (-2, -1), }",
    "{'descr': [('a', '<i4'), ('a', '<i4')], 'fortran_order': False, 'shape': (1,), }",
    "{'descr': [('a', '<i4', (-1,))], 'fortran_order': False, 'shape': (1,), }",
]
# numpy names an empty field f0, f1...: these read (they used to raise KeyError, also out of
# the HTML preview)
_EMPTY_FIELD_NAMES = [
    "{'descr': [('', '<i4')], 'fortran_order': False, 'shape': (1,), }",
    "{'descr': [('', '<i4'), ('b', '<i4')], 'fortran_order': False, 'shape': (1,), }",
]


@pytest.mark.parametrize("header", _CRAFTED_NPY)
def test_crafted_npy_headers_raise_value_errors_naming_the_celltype(header):
    content = _npy(header)
    for celltype in ("binary", "mixed"):
        with pytest.raises(ValueError, match=f"celltype '{celltype}'"):
            deserialize(content, celltype)
    assert describe_content(content)["kind"] == "binary"  # the preview never raises
    Buffer(content)._repr_html_()


@pytest.mark.parametrize("header", _EMPTY_FIELD_NAMES)
def test_npy_with_empty_field_names_reads(header):
    content = _npy(header)
    for celltype in ("binary", "mixed"):
        array = deserialize(content, celltype)
        assert array.dtype.itemsize == len(array.dtype.names) * 4
    assert describe_content(content)["kind"] == "npy"
    Buffer(content)._repr_html_()


# -- scalar readers ------------------------------------------------------------------------------


def test_big_integers_read_exactly_as_int():
    digits = "123456789012345678901234567890"
    assert deserialize(digits.encode() + b"\n", "int") == int(digits)
    assert deserialize(f'"{digits}"\n'.encode(), "int") == int(digits)


def test_true_read_as_int_is_an_int():
    value = deserialize(b"true\n", "int")
    assert value == 1 and type(value) is int
    assert type(deserialize(b"true\n", "float")) is float


@pytest.mark.parametrize("raw", [b'"false"\n', b'"0"\n', b'"False"', b'"no"', b'"0.0"'])
def test_strings_spelling_false_are_refused_as_bool(raw):
    with pytest.raises(ValueError, match="celltype 'bool'"):
        deserialize(raw, "bool")


@pytest.mark.parametrize("raw", [b"[0]\n", b"{}\n", b"null\n"])
def test_containers_and_null_have_no_bool_value(raw):
    with pytest.raises(TypeError, match="celltype 'bool'"):
        deserialize(raw, "bool")


def test_exact_bool_readings():
    assert deserialize(b"true\n", "bool") is True
    assert deserialize(b"0\n", "bool") is False
    assert deserialize(b"1\n", "bool") is True
    assert deserialize(b'""\n', "bool") is False
    assert deserialize(b'"true"\n', "bool") is True


def test_binary_refuses_numbers_mixed_with_strings_as_plain_to_binary_does():
    with pytest.raises(TypeError, match="celltype 'binary'.*mixes strings"):
        Buffer([1, "a"], "binary")
    with pytest.raises(SeamlessConversionError, match="mixes strings"):
        convert(Buffer([1, "a"], "plain"), "plain", "binary")
    assert Buffer(["a", "bc"], "binary").get_value("binary").dtype == np.dtype("<U2")


# -- errors name the celltype (and the alias used) -----------------------------------------------


@pytest.mark.parametrize("celltype", ["str", "text", "bytes", "python"])
def test_integer_without_text_form_names_the_celltype(celltype):
    with pytest.raises(ValueError, match=f"celltype '{celltype}'"):
        Buffer(10**5000, celltype)


def test_lone_surrogate_under_bytes_names_the_celltype():
    with pytest.raises(ValueError, match="celltype 'bytes'"):
        Buffer("\ud800", "bytes")


@pytest.mark.parametrize("alias", ["folder", "deepfolder", "deepcell", "module"])
def test_errors_name_the_alias_used(alias):
    with pytest.raises(TypeError, match=f"celltype '{alias}' \\(stored as 'plain'\\)"):
        Buffer({1j: 2}, alias)
    with pytest.raises(ValueError, match=f"celltype '{alias}'"):
        Buffer(b"\xff").get_value(alias)
    with pytest.raises(SeamlessConversionError, match=f"from '{alias}' to 'int'"):
        convert(Buffer(b"[1]"), alias, "int")


# -- 0.1.4 readings and bytes --------------------------------------------------------------------


def test_get_value_bytes_returns_the_buffer_as_014():
    buffer = Buffer(b"abc")
    assert buffer.get_value("bytes") is buffer
    assert buffer.get_value("bytes") == b"abc"
    assert buffer.get_checksum().resolve("bytes") == b"abc"
    assert isinstance(buffer.get_checksum().resolve("bytes"), Buffer)


def test_none_under_checksum_is_014s_null():
    buffer = Buffer(None, "checksum")
    assert buffer.content == b"null\n"  # 0.1.4
    assert buffer.get_value("checksum") is None


# -- lossy coercions -----------------------------------------------------------------------------


def test_non_integral_numbers_under_int_keep_014s_bytes_with_a_warning():
    for value in (3.5, np.float64(3.5), -3.7):
        with pytest.warns(LossyCoercionWarning, match="truncated"):
            content = Buffer(value, "int").content
        assert content == f"{int(value)}\n".encode()  # 0.1.4 (and its vectors: 3.7 -> 3)
    with pytest.warns(LossyCoercionWarning):
        assert deserialize(b"4.5\n", "int") == 4


@pytest.mark.parametrize("value", ["false", "False", "0", "no", " off ", "0.0"])
def test_strings_spelling_false_under_bool_are_refused(value):
    with pytest.raises(ValueError, match=f"celltype 'bool'.*{re.escape(repr(value))}"):
        Buffer(value, "bool")  # 0.1.4 writes true


def test_exact_scalar_conversions_pass_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Buffer(3.0, "int").content == b"3\n"
        assert Buffer(np.int64(3), "int").content == b"3\n"
        assert Buffer(True, "int").content == b"1\n"  # as 0.1.4
        assert Buffer(np.True_, "int").content == b"1\n"
        assert Buffer("12", "int").content == b"12\n"
        assert Buffer(1, "bool").content == b"true\n"
        assert Buffer(0.0, "bool").content == b"false\n"
        assert Buffer("", "bool").content == b"false\n"
        assert Buffer("true", "bool").content == b"true\n"
        assert Buffer(3, "float").content == b"3.0\n"


def test_other_lossy_bool_coercions_warn():
    for value in ("x", 2, -1.5):
        with pytest.warns(LossyCoercionWarning):
            assert Buffer(value, "bool").content == b"true\n"  # 0.1.4's bytes
    with pytest.raises(TypeError, match="celltype 'bool'"):
        Buffer(None, "bool")
    with pytest.raises(TypeError, match="celltype 'bool'"):
        Buffer([0], "bool")


# -- mixed: non-ASCII text -----------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)) | st.sampled_from('\\"\n\x7f\u2028'),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        _TEXT | st.integers() | st.floats(allow_nan=False),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(_TEXT, c, max_size=4),
        max_leaves=12,
    )
)
def test_mixed_json_matches_the_json_module_on_any_text(value):
    expected = (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()
    assert serialize(value, "mixed") == expected


def test_mixed_non_ascii_text_is_not_much_slower_than_json():
    text = "ü€☃é \U0001f600" * 200_000
    value = {"text": text, "items": [text[:80]] * 2000}
    start = time.perf_counter()
    expected = (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()
    reference = time.perf_counter() - start
    start = time.perf_counter()
    assert serialize(value, "mixed") == expected
    ours = time.perf_counter() - start
    assert ours < 15 * reference + 0.25  # a Python call per character was 70x


def test_a_large_plain_parse_runs_without_cyclic_collections_and_restores_the_collector():
    import gc

    from seamless_core.celltypes import _json

    content = Buffer([[i, str(i)] for i in range(60_000)], "plain").content
    assert len(content) >= _json.GC_PAUSE_FROM
    collections: list[int] = []

    def count(phase, info):
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(count)
    try:
        value = Buffer(content).get_value("plain")
    finally:
        gc.callbacks.remove(count)
    assert value[-1] == [59_999, "59999"] and collections == [] and gc.isenabled()
    gc.disable()
    try:  # a collector the caller turned off stays off
        Buffer(content).get_value("plain")
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("celltype", ["python", "ipython"])
def test_invalid_code_is_reported_once_with_its_line(celltype):
    with pytest.raises(ValueError) as caught:
        Buffer("x = 1\ndef (:\n", celltype)
    message = str(caught.value)
    assert f"invalid {celltype}: invalid syntax (line 2)" in message, message
    assert "((" not in message and "<seamless" not in message
