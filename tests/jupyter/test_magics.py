"""``%load_ext seamless_core``: the ``%checksum`` and ``%%buffer`` magics in a real IPython shell."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from seamless_core import Buffer, Checksum
from seamless_core.celltypes import CELLTYPES, PLAIN_ALIASES, serialize


@pytest.fixture
def ip(shell):
    """The shell, with the names a test defines removed afterwards."""
    before = set(shell.user_ns)
    yield shell
    for name in set(shell.user_ns) - before:
        del shell.user_ns[name]


def checksum(ip, line):
    return ip.run_line_magic("checksum", line)


def buffer(ip, line, body):
    return ip.run_cell_magic("buffer", line, body)


def run_failing(ip, source):
    """Run a cell through the shell as a notebook would; return the one-line error shown."""
    with capture_output() as captured:
        result = ip.run_cell(source)
    assert isinstance(result.error_in_exec, UsageError), result.error_in_exec
    shown = captured.stderr + captured.stdout
    assert "Traceback" not in shown
    lines = [line for line in shown.splitlines() if line.strip()]
    assert len(lines) == 1, shown
    assert lines[0].startswith("UsageError: ")
    return lines[0]


def usage_error(call, *args):
    with pytest.raises(UsageError) as info:
        call(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- the extension ---------------------------------------------------------------------------


def test_import_seamless_core_does_not_import_ipython(fresh_python):
    code = (
        "import sys, seamless_core; "
        "assert callable(seamless_core.load_ipython_extension); "
        "assert callable(seamless_core.unload_ipython_extension); "
        "print('IPython' in sys.modules, 'seamless_core.jupyter.magics' in sys.modules)"
    )
    out = fresh_python(code)
    assert out.stdout.split() == ["False", "False"]


def test_load_registers_both_magics(ip):
    assert ip.find_line_magic("checksum") is not None
    assert ip.find_cell_magic("buffer") is not None


def test_help_shows_usage_and_options(ip):
    doc = ip.find_line_magic("checksum").__doc__
    assert "%checksum EXPRESSION [-c CELLTYPE]\n  %checksum -c CELLTYPE EXPRESSION\n" in doc
    assert "\n  %checksum -f PATH\n" in doc
    assert "--celltype" in doc and "--file" in doc
    doc = ip.find_cell_magic("buffer").__doc__
    assert "  %%buffer celltype=CELLTYPE [NAME]\n  %%buffer -c CELLTYPE [NAME]\n" in doc
    assert "Python expression" in doc and "JSON" in doc
    with capture_output() as captured:
        ip.run_cell("%checksum?")
    assert "%checksum EXPRESSION [-c CELLTYPE]" in captured.stdout


def test_checksum_help_agrees_with_itself_on_option_order(ip):
    # -f takes the rest of the line: the usage line, the option's help and the docstring
    # all say it comes first; --celltype goes either side of the expression.
    doc = ip.find_line_magic("checksum").__doc__
    assert "[-f PATH]" not in doc and "Must come first" not in doc
    assert doc.count("comes first") == 1 and "Comes first: the rest of the" in doc
    assert "before or after the expression" in doc


def test_buffer_help_names_the_cell_magic(ip):
    with capture_output() as captured:
        ip.run_cell("%%buffer?")
    usage = [line.strip() for line in captured.stdout.splitlines() if "buffer " in line][:2]
    assert usage == ["%%buffer celltype=CELLTYPE [NAME]", "%%buffer -c CELLTYPE [NAME]"]


def test_unload_and_reload(ip):
    ip.run_line_magic("unload_ext", "seamless_core")
    try:
        assert ip.find_line_magic("checksum") is None
        assert ip.find_cell_magic("buffer") is None
    finally:
        ip.run_line_magic("load_ext", "seamless_core")
    ip.run_line_magic("reload_ext", "seamless_core")
    assert ip.find_line_magic("checksum") is not None
    assert checksum(ip, "b''") == Checksum.of(b"")


def test_the_jupyter_subpackage_is_an_extension_too():
    from seamless_core.jupyter import load_ipython_extension

    class Recorder:
        def __init__(self):
            self.registered = []

        def register_magics(self, cls):
            self.registered.append(cls)

    recorder = Recorder()
    load_ipython_extension(recorder)
    assert [cls.__name__ for cls in recorder.registered] == ["SeamlessMagics"]


# -- %checksum ---------------------------------------------------------------------------------


def test_checksum_of_a_buffer_is_its_own(ip):
    ip.user_ns["buf"] = buf = Buffer(b"\x00\x01 raw")
    result = checksum(ip, "buf")
    assert isinstance(result, Checksum)
    assert result == Checksum.of(b"\x00\x01 raw") == buf.checksum


def test_checksum_of_bytes_is_raw(ip):
    assert checksum(ip, "b'abc'") == hashlib.sha256(b"abc").hexdigest()
    assert checksum(ip, "bytearray(b'abc')") == hashlib.sha256(b"abc").hexdigest()


def test_checksum_of_jsonable_values_defaults_to_plain(ip):
    ip.user_ns["x"] = {"b": [1, 2.5], "a": "é"}
    assert checksum(ip, "x") == Checksum.of(serialize({"b": [1, 2.5], "a": "é"}, "plain"))
    assert checksum(ip, "'hello'") == Checksum.of(b'"hello"\n')
    assert checksum(ip, "-1") == Checksum.of(b"-1\n")


def test_checksum_of_other_values_defaults_to_mixed(ip):
    ip.user_ns["arr"] = np.arange(6).reshape(2, 3)
    assert checksum(ip, "arr") == Checksum.of(serialize(np.arange(6).reshape(2, 3), "mixed"))
    ip.user_ns["nan"] = float("nan")
    assert checksum(ip, "nan") == Checksum.of(serialize(float("nan"), "mixed"))
    nested = {"x": np.arange(3), "unit": "K"}
    ip.user_ns["nested"] = nested
    assert checksum(ip, "nested") == Checksum.of(serialize(nested, "mixed"))


def test_checksum_with_a_celltype_before_or_after(ip):
    ip.user_ns["n"] = 3
    expected = Checksum.of(serialize(3, "text"))
    assert checksum(ip, "n --celltype text") == expected
    assert checksum(ip, "n -c text") == expected
    assert checksum(ip, "--celltype text n") == expected
    assert checksum(ip, "--celltype=text n") == expected
    assert checksum(ip, "n --celltype=text") == expected
    # with a celltype, bytes are serialized too
    assert checksum(ip, "b'x' --celltype mixed") == Checksum.of(serialize(b"x", "mixed"))


def test_checksum_expression_is_taken_as_typed(ip):
    ip.user_ns["x"] = 5
    # quotes, repeated spaces and braces survive: no shell-style splitting, no {x} expansion
    assert checksum(ip, '{"a  b": 1}') == Checksum.of(serialize({"a  b": 1}, "plain"))
    assert checksum(ip, "[x, -x]") == Checksum.of(serialize([5, -5], "plain"))
    message = usage_error(checksum, ip, "{x}")  # the set {5}, which no celltype stores
    assert "'{x}'" in message
    assert checksum(ip, "'$x'") == Checksum.of(b'"$x"\n')


def test_checksum_of_a_file_is_streamed_and_raw(ip, tmp_path):
    data = bytes(range(256)) * 9000  # > 2 chunks
    path = tmp_path / "data file.bin"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert checksum(ip, f'-f "{path}"') == expected
    assert checksum(ip, f"--file '{path}'") == expected
    assert checksum(ip, f"--file={path}") == expected
    ip.user_ns["where"] = str(path)
    assert checksum(ip, "-f {where}") == expected
    assert checksum(ip, "-f $where") == expected
    (tmp_path / "empty").write_bytes(b"")
    assert checksum(ip, f"-f {tmp_path / 'empty'}") == Checksum.of(b"")


def test_checksum_of_a_compressed_file_is_that_of_its_content_as_the_cli_says(ip, tmp_path):
    import gzip

    from seamless_core.files import file_checksum

    content = b"line\n" * 1000
    path = tmp_path / "data.txt.gz"
    path.write_bytes(gzip.compress(content))
    assert checksum(ip, f"-f {path}") == Checksum.of(content) == file_checksum(path)
    (tmp_path / "broken.gz").write_bytes(b"not gzip at all")
    message = usage_error(checksum, ip, f"-f {tmp_path / 'broken.gz'}")
    assert message.startswith("%checksum -f: ") and "broken.gz" in message


def test_checksum_through_run_cell_is_the_output(ip):
    result = ip.run_cell("%checksum b'abc'")
    assert result.success
    assert result.result == Checksum.of(b"abc")


def test_checksum_errors(ip, tmp_path):
    assert "give an expression" in usage_error(checksum, ip, "")
    assert "give an expression" in usage_error(checksum, ip, "--celltype plain")
    message = usage_error(checksum, ip, "undefined_thing + 1")
    assert "'undefined_thing + 1'" in message and "NameError" in message
    message = usage_error(checksum, ip, "1 +")
    assert message == "%checksum: cannot evaluate '1 +': SyntaxError: invalid syntax"
    message = usage_error(checksum, ip, "3 --celltype nonsense")
    assert "unknown celltype 'nonsense'" in message and "plain" in message
    ip.user_ns["buf"] = Buffer(b"x")
    assert "drop --celltype" in usage_error(checksum, ip, "buf --celltype plain")
    message = usage_error(checksum, ip, "float('nan') --celltype plain")
    assert "as plain" in message and "NaN" in message
    message = usage_error(checksum, ip, "object()")
    assert "plain or mixed" in message
    message = usage_error(checksum, ip, "'x' --celltype int")
    assert "as int" in message
    message = usage_error(checksum, ip, f"-f {tmp_path / 'missing'}")
    assert message == f"%checksum -f: no such file: {tmp_path / 'missing'}"
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "dangling").symlink_to("nowhere")
    message = usage_error(checksum, ip, f"-f {tmp_path / 'tree'}")
    assert message == f"%checksum -f: no such file: {tmp_path / 'tree' / 'dangling'}"


def test_checksum_of_a_directory_is_that_of_its_index(ip, tmp_path):
    from seamless_core.cli import checksum_index

    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "a.txt").write_text("a\n")
    (tmp_path / "data" / "sub" / "b.json").write_text("[1]\n")
    assert checksum_index.main([str(tmp_path / "data")]) == 0
    written = (tmp_path / "data.CHECKSUM").read_text().strip()
    assert checksum(ip, f"-f {tmp_path / 'data'}").hex() == written
    assert checksum(ip, f"-f {tmp_path / 'data'}/").hex() == written


@pytest.mark.parametrize("line", ["-f", "--file", "-f  ", "--file=", "-f ''", '-f ""'])
def test_checksum_file_without_a_path(ip, line):
    message = usage_error(checksum, ip, line)
    assert message == "%checksum -f: the file path is missing (%checksum -f PATH)"


def test_unknown_celltype_lists_celltypes_then_aliases(ip):
    message = usage_error(checksum, ip, "3 --celltype plian")
    head, aliases = message.split("; aliases of plain: ")
    assert head.startswith("%checksum: unknown celltype 'plian' (did you mean 'plain'?); ")
    listed = head.split("valid celltypes are: ")[1].split(", ")
    assert sorted(listed) == sorted(CELLTYPES)
    assert aliases.split(", ") == list(PLAIN_ALIASES)
    assert "did you mean" not in usage_error(checksum, ip, "3 --celltype zzzzzz")
    message = usage_error(buffer, ip, "celltype=foldr", "1")
    assert "(did you mean 'folder'?)" in message and "; aliases of plain: deepcell" in message


def test_checksum_errors_show_one_line(ip):
    line = run_failing(ip, "%checksum undefined_thing")
    assert line == (
        "UsageError: %checksum: cannot evaluate 'undefined_thing': "
        "NameError: name 'undefined_thing' is not defined"
    )
    line = run_failing(ip, "%checksum 1 --celltype nonsense")
    assert "unknown celltype 'nonsense'" in line


# -- %%buffer ----------------------------------------------------------------------------------


@pytest.mark.parametrize("celltype", ["text", "python", "ipython", "yaml"])
def test_buffer_text_celltypes_take_the_text(ip, celltype):
    body = "x = 1\nprint(x)\n" if celltype != "yaml" else "a: 1\nb: [2, 3]\n"
    result = buffer(ip, f"celltype={celltype}", body + "\n\n")
    assert isinstance(result, Buffer)
    assert result.content == body.encode()
    assert result == Buffer(body, celltype)


def test_buffer_ipython_accepts_magics_and_python_refuses_them(ip):
    assert buffer(ip, "celltype=ipython", "%time x = 1\n").content == b"%time x = 1\n"
    message = usage_error(buffer, ip, "celltype=python", "%time x = 1\n")
    assert message.startswith("%%buffer celltype=python: ")


@pytest.mark.parametrize(
    ("celltype", "body", "value"),
    [
        ("plain", '{"z": 1,   "a": [1, 2.0]}', {"z": 1, "a": [1, 2.0]}),
        ("str", '"hello"', "hello"),
        ("int", "42", 42),
        ("float", "2.5", 2.5),
        ("bool", "true", True),
        ("checksum", json.dumps("ab" * 32), "ab" * 32),
        ("checksum", json.dumps({"x": "cd" * 32}), {"x": "cd" * 32}),
        ("deepcell", '{"a": 1}', {"a": 1}),
    ],
)
def test_buffer_json_celltypes_are_reserialized_canonically(ip, celltype, body, value):
    result = buffer(ip, f"celltype={celltype}", body + "\n")
    assert result.content == serialize(value, celltype)
    assert result.checksum == Checksum.of(serialize(value, celltype))


def test_buffer_mixed_and_binary_evaluate_an_expression_in_the_user_namespace(ip):
    ip.user_ns["arr"] = np.arange(4, dtype="int32")
    result = buffer(ip, "celltype=mixed", "{'data': arr * 2,\n 'unit': 'm'}\n")
    value = result.get_value("mixed")
    assert value["unit"] == "m" and value["data"].tolist() == [0, 2, 4, 6]
    result = buffer(ip, "celltype=binary", "arr[::-1]\n")
    assert result.get_value("binary").tolist() == [3, 2, 1, 0]
    assert result.content == serialize(np.arange(4, dtype="int32")[::-1], "binary")


def test_buffer_bytes_are_the_utf8_body(ip):
    result = buffer(ip, "celltype=bytes", "héllo <raw>\n")
    assert result.content == "héllo <raw>\n".encode()


def test_buffer_is_stored_in_name_and_registered(ip):
    from seamless_core import get_buffer_cache

    result = buffer(ip, "celltype=plain settings", '{"threshold": 0.5}')
    assert ip.user_ns["settings"] is result
    assert get_buffer_cache().get(result.checksum) is result
    result = buffer(ip, "--celltype int answer", "42")
    assert ip.user_ns["answer"].get_value("int") == 42
    result = buffer(ip, "answer2 celltype=int -c int", "43")
    assert ip.user_ns["answer2"].get_value("int") == 43


def test_buffer_through_run_cell_is_shown(ip):
    result = ip.run_cell('%%buffer celltype=plain shown\n{"a": 1}\n')
    assert result.success
    assert result.result is ip.user_ns["shown"]
    assert "Buffer" in ip.display_formatter.formatters["text/plain"](result.result)
    html = result.result._repr_html_()
    assert 'class="sc-view"' in html and "JSON object, 1 key" in html


@pytest.mark.parametrize(
    ("line", "body", "expected"),
    [
        ("", "1", "%%buffer: give the celltype, e.g. %%buffer celltype=plain [NAME]"),
        ("celltype=nonsense", "1", "%%buffer: unknown celltype 'nonsense'; valid celltypes are:"),
        ("--celltype nonsense", "1", "%%buffer: unknown celltype 'nonsense'"),
        ("celltype=int --celltype float", "1", "%%buffer: two celltypes given"),
        ("celltype=int a b", "1", "%%buffer: one variable name only, got 'a' and 'b'"),
        ("celltype=int 1x", "1", "%%buffer: '1x' is not a valid variable name"),
        ("celltype=int class", "1", "%%buffer: 'class' is not a valid variable name"),
        ("celltype=int --frobnicate", "1", "unrecognized arguments: --frobnicate"),
        ("celltype=plain", "   \n", "%%buffer celltype=plain: the cell body is empty"),
        ("celltype=mixed", "\n", "%%buffer celltype=mixed: the cell body is empty"),
        ("celltype=plain", "{'a': 1}", "%%buffer celltype=plain: the body is not JSON: "),
        ("celltype=int", '"x"', "%%buffer celltype=int: "),
        ("celltype=int", "[1]", "%%buffer celltype=int: "),
        ("celltype=plain", "NaN", "%%buffer celltype=plain: NaN and Infinity are not JSON"),
        ("celltype=checksum", '"abc"', "%%buffer celltype=checksum: "),
        (
            "celltype=python",
            "def (:\n",
            "%%buffer celltype=python: the body is not valid Python: invalid syntax (line 1)",
        ),
        (
            "celltype=ipython",
            "x = 1\ny = (\n",
            "%%buffer celltype=ipython: the body is not valid IPython: '(' was never closed "
            "(line 2)",
        ),
        ("celltype=yaml", "a: [1,\n", "%%buffer celltype=yaml: "),
        ("celltype=mixed", "x = 1", "%%buffer celltype=mixed: the body is not a Python expression"),
        (
            "celltype=mixed",
            "undefined_thing",
            "%%buffer celltype=mixed: evaluating the body raised NameError: "
            "name 'undefined_thing' is not defined",
        ),
        ("celltype=binary", "1 / 0", "evaluating the body raised ZeroDivisionError"),
        ("celltype=binary", "object()", "%%buffer celltype=binary: "),
        ("celltype=mixed", "{1, 2}", "%%buffer celltype=mixed: "),
    ],
)
def test_buffer_errors(ip, line, body, expected):
    message = usage_error(buffer, ip, line, body)
    assert message.startswith(expected) or expected in message, message
    assert "Traceback" not in message


def test_buffer_errors_show_one_line_and_bind_nothing(ip):
    line = run_failing(ip, "%%buffer celltype=int bad\nnot json\n")
    assert line.startswith("UsageError: %%buffer celltype=int: the body is not JSON")
    assert "bad" not in ip.user_ns
    line = run_failing(ip, "%%buffer celltype=mixed bad\nmissing_name * 2\n")
    assert "NameError" in line
    line = run_failing(ip, "%%buffer celltype=wrong\n1\n")
    assert "unknown celltype 'wrong'" in line


# -- tab completion ----------------------------------------------------------------------------


def complete(ip, source):
    """The completions the shell offers, as a kernel asks for them (``completions()``, the
    API ipykernel uses), with the cursor at the end of the first line."""
    from IPython.core.completer import provisionalcompleter

    with provisionalcompleter():
        found = ip.Completer.completions(source, len(source.split("\n")[0]))
        return [completion.text for completion in found]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("%checksum x --celltype pl", ["plain"]),
        ("cs = %checksum x --celltype=bi", ["binary"]),
        ("%checksum -c b", ["binary", "bool", "bytes"]),
        ("%checksum -c fo", ["folder"]),
        ("%%buffer celltype=m\n1\n", ["mixed", "module"]),
        ("%%buffer --celltype i", ["int", "ipython"]),
        ("%%buffer celltype=", sorted([*CELLTYPES, *PLAIN_ALIASES])),
    ],
)
def test_completion_offers_celltypes_alone(ip, source, expected):
    assert complete(ip, source) == expected


@pytest.mark.parametrize(
    "source", ["%checksum pl", "%%buffer celltype=plain pl", "x = pl", "celltype=pl", "-c pl"]
)
def test_completion_elsewhere_is_ipythons_own(ip, source):
    ip.user_ns["plenty"] = 1
    ours = complete(ip, source)
    assert "plain" not in ours
    ip.run_line_magic("unload_ext", "seamless_core")
    try:
        assert complete(ip, source) == ours
    finally:
        ip.run_line_magic("load_ext", "seamless_core")


def test_completion_goes_with_the_extension(ip):
    ip.run_line_magic("unload_ext", "seamless_core")
    try:
        assert "plain" not in complete(ip, "%checksum x --celltype pl")
    finally:
        ip.run_line_magic("load_ext", "seamless_core")
    ip.run_line_magic("reload_ext", "seamless_core")  # registered once, however often loaded
    assert complete(ip, "%checksum x --celltype pl") == ["plain"]
    names = [getattr(m, "__name__", "") for m in ip.Completer.custom_matchers]
    assert names.count("_celltype_matcher") == 1
