"""IPython magics: ``%checksum`` and ``%%buffer``.

Loaded by ``%load_ext seamless_core`` (or ``%load_ext seamless_core.jupyter``). The arguments
are declared with IPython's ``magic_arguments``, so ``%checksum?`` and ``%%buffer?`` show
their usage. Every mistake (unknown celltype, a body that is not valid for its celltype, a
missing file, ...) is reported as a one-line ``UsageError`` naming the problem, not as a
traceback.
"""

from __future__ import annotations

import ast
import difflib
import json
import keyword
import os
import re
import sys
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, kwds, magic_arguments, parse_argstring

from ..buffer import Buffer
from ..celltypes import CELLTYPES, PLAIN_ALIASES, TEXT_CELLTYPES, normalize_celltype
from ..checksum import Checksum

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

#: Celltypes whose ``%%buffer`` body is JSON, re-serialized canonically.
JSON_BODY_CELLTYPES = ("plain", "str", "int", "float", "bool", "checksum")
#: Celltypes whose ``%%buffer`` body is a Python expression, evaluated in the user namespace.
EXPRESSION_BODY_CELLTYPES = ("mixed", "binary")

_VALID = (
    f"valid celltypes are: {', '.join(CELLTYPES)}; aliases of plain: {', '.join(PLAIN_ALIASES)}"
)
#: What tab completion offers after ``--celltype`` or ``celltype=``.
COMPLETABLE_CELLTYPES = tuple(sorted(CELLTYPES)) + tuple(sorted(PLAIN_ALIASES))

# %checksum options, found at the start or the end of the line; the rest is the expression,
# kept exactly as typed (quotes, braces and minus signs included).
_FILE_OPTION = re.compile(r"^(?:-f|--file)(?:=|\s+)(?P<path>.+)$", re.S)
_FILE_OPTION_ALONE = re.compile(r"^(?:-f|--file)=?\s*$")
# The text before the cursor when it is at a celltype name: what completion completes.
_AT_CELLTYPE = re.compile(r"(?:(?:^|\s)(?:-c|--celltype)(?:=|\s+)|(?:^|\s)celltype=)\S*$")
_CELLTYPE_LEADING = re.compile(r"^(?:-c|--celltype)(?:=|\s+)(?P<celltype>\S+)(?:\s+|$)")
_CELLTYPE_TRAILING = re.compile(r"(?:^|\s)(?:-c|--celltype)(?:=|\s+)(?P<celltype>\S+)$")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _problem(exc: BaseException) -> str:
    """An exception as ``problem`` text: the message, without a leading ``celltype 'x': ``
    (the magics name the celltype themselves)."""
    message = _one_line(str(exc)) or type(exc).__name__
    return re.sub(r"^celltype '[^']*': ", "", message)


def _celltype(magic: str, celltype: str) -> str:
    try:
        return normalize_celltype(celltype)
    except TypeError:
        close = difflib.get_close_matches(celltype, COMPLETABLE_CELLTYPES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(f"{magic}: unknown celltype {celltype!r}{hint}; {_VALID}") from None


def value_checksum(value: Any, celltype: str | None = None) -> Checksum:
    """The checksum ``%checksum`` gives for a value: a Buffer's own checksum, raw bytes as
    they are, anything else serialized under ``celltype`` (by default ``plain`` when the
    value is JSON-able, else ``mixed``). Nothing is registered in the buffer cache."""
    from ..celltypes import serialize

    if isinstance(value, Buffer):
        if celltype is not None:
            raise TypeError("a Buffer's checksum does not depend on a celltype; drop --celltype")
        return value.get_checksum()
    if celltype is None:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return Checksum.of(value)
        try:
            content = serialize(value, "plain")
        except (TypeError, ValueError):
            content = serialize(value, "mixed")
    else:
        content = serialize(value, celltype)
    return Checksum.of(content)


def _progress_file_checksum(path: str) -> Checksum:
    """A file's checksum, with a progress bar (in bytes) when it takes long."""
    from .._progress import ProgressBar
    from ..files import file_checksum

    with ProgressBar(os.path.getsize(path), "hashing", "B") as bar:
        return file_checksum(path, progress=bar.advance if bar.enabled else None)


def _directory_checksum(path: str) -> Checksum:
    """A directory's checksum, as ``seamless-checksum-index`` writes it to DIR.CHECKSUM
    (the checksum of its index), with a progress bar (in files) when it takes long."""
    from .._progress import ProgressBar
    from ..files import directory_index, index_buffer

    with ProgressBar(None, "indexing", "files") as bar:
        index = directory_index(path, progress=bar.update if bar.enabled else None)
    return Checksum.of(index_buffer(index).content)


@magics_class
class SeamlessMagics(Magics):
    """``%checksum`` and ``%%buffer``: checksums and buffers from notebook values."""

    @property
    def _shell(self) -> InteractiveShell:
        # Magics.shell is Optional for IPython's typing; registered magics always have one.
        assert self.shell is not None
        return self.shell

    def _expand(self, text: str) -> str:
        """``$name`` and ``{expression}`` expansion over the user namespace, as IPython does
        for magic lines; text that does not expand is left as it is."""
        from IPython.utils.text import DollarFormatter

        try:
            return DollarFormatter().vformat(text, args=[], kwargs=self._shell.user_ns)
        except Exception:
            return text

    @no_var_expand
    @magic_arguments()
    @kwds(
        # argparse's own usage line would put -f among the options; it takes the whole line
        usage="%(prog)s EXPRESSION [-c CELLTYPE]\n  %%%(prog)s -c CELLTYPE EXPRESSION"
        "\n  %%%(prog)s -f PATH"
    )
    @argument(
        "-c",
        "--celltype",
        metavar="CELLTYPE",
        help="serialize the value under this celltype first (default: plain when the value is "
        "JSON-able, else mixed). Not for Buffers, whose checksum is their own.",
    )
    @argument(
        "-f",
        "--file",
        metavar="PATH",
        help="checksum a file instead, as seamless-checksum does: streamed, and decompressed "
        "for .zst/.gz names; or a directory, as seamless-checksum-index does (the checksum "
        "of its index). $name and {expression} expand. Comes first: the rest of the line "
        "is the path.",
    )
    @argument(
        "expression",
        nargs="*",
        help="a Python expression, evaluated in the user namespace. A Buffer gives its own "
        "checksum, bytes are hashed as they are, other values are serialized first.",
    )
    @line_magic
    def checksum(self, line: str = "") -> Checksum:
        """Return the Checksum of a value, or of a file.

        Examples::

            %checksum data
            %checksum {"a": 1} --celltype plain
            %checksum -f results.npy
            %checksum -f data/

        ``--celltype`` may come before or after the expression, which is taken as typed;
        ``-f`` comes first, and the rest of the line is the path.
        """
        line = line.strip()
        if _FILE_OPTION_ALONE.match(line):
            raise UsageError("%checksum -f: the file path is missing (%checksum -f PATH)")
        file_option = _FILE_OPTION.match(line)
        if file_option is not None:
            return self._file_checksum(file_option.group("path").strip())
        celltype = None
        for pattern in (_CELLTYPE_LEADING, _CELLTYPE_TRAILING):
            found = pattern.search(line)
            if found is not None:
                celltype = _celltype("%checksum", found.group("celltype"))
                line = (line[: found.start()] + line[found.end() :]).strip()
                break
        if not line:
            raise UsageError(
                "%checksum: give an expression (%checksum EXPR [--celltype T]) or a file "
                "(%checksum -f PATH)"
            )
        try:
            value = self._shell.ev(line)
        except SyntaxError as exc:  # its str() adds "(<string>, line 1)": noise for one line
            raise UsageError(
                f"%checksum: cannot evaluate {_one_line(line)[:80]!r}: SyntaxError: {exc.msg}"
            ) from None
        except Exception as exc:
            raise UsageError(
                f"%checksum: cannot evaluate {_one_line(line)[:80]!r}: "
                f"{type(exc).__name__}: {_one_line(str(exc))}"
            ) from None
        try:
            return value_checksum(value, celltype)
        except (TypeError, ValueError) as exc:
            what = celltype or "plain or mixed"
            raise UsageError(
                f"%checksum: cannot serialize {_one_line(line)[:80]!r} as {what}: {_problem(exc)}"
            ) from None

    def _file_checksum(self, path: str) -> Checksum:
        if len(path) >= 2 and path[0] == path[-1] and path[0] in "'\"":
            path = path[1:-1]
        if not path.strip():
            raise UsageError("%checksum -f: the file path is missing (%checksum -f PATH)")
        path = os.path.expanduser(self._expand(path))
        try:
            if os.path.isdir(path):
                return _directory_checksum(path)
            return _progress_file_checksum(path)
        except FileNotFoundError as exc:
            missing = os.fsdecode(exc.filename) if exc.filename is not None else path
            raise UsageError(f"%checksum -f: no such file: {missing}") from None
        except OSError as exc:
            where = os.fsdecode(exc.filename) if exc.filename is not None else path
            raise UsageError(f"%checksum -f: cannot read {where}: {exc.strerror or exc}") from None
        except ValueError as exc:  # a corrupt .zst/.gz
            raise UsageError(f"%checksum -f: {_one_line(exc)}") from None

    @magic_arguments("%buffer")  # the usage line adds one "%": a cell magic shows two
    @kwds(usage="%(prog)s celltype=CELLTYPE [NAME]\n  %%%(prog)s -c CELLTYPE [NAME]")
    @argument(
        "-c",
        "--celltype",
        metavar="CELLTYPE",
        help="the celltype (same as celltype=CELLTYPE)",
    )
    @argument(
        "spec",
        nargs="*",
        metavar="celltype=CELLTYPE [NAME]",
        help="the celltype of the body, and the variable that receives the Buffer",
    )
    @cell_magic
    def buffer(self, line: str, cell: str) -> Buffer:
        """Make a Buffer from the cell body: store it in NAME (if given), show it, return it.

        How the body is read depends on the celltype:

        - text, python, ipython, yaml: the text itself (code is parsed, never run);
        - plain, str, int, float, bool, checksum: JSON, serialized again canonically;
        - mixed, binary: a Python expression, evaluated in the user namespace;
        - bytes: the body's UTF-8 bytes.

        Example::

            %%buffer celltype=plain settings
            {"threshold": 0.5, "labels": ["a", "b"]}
        """
        args = parse_argstring(self.buffer, line)
        celltype, name = args.celltype, None
        for item in args.spec:
            if item.startswith("celltype="):
                given = item[len("celltype=") :]
                if celltype is not None and given != celltype:
                    raise UsageError(f"%%buffer: two celltypes given ({celltype!r} and {given!r})")
                celltype = given
            elif name is None:
                name = item
            else:
                raise UsageError(f"%%buffer: one variable name only, got {name!r} and {item!r}")
        if not celltype:
            raise UsageError(
                f"%%buffer: give the celltype, e.g. %%buffer celltype=plain [NAME]; {_VALID}"
            )
        celltype = _celltype("%%buffer", celltype)
        if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
            raise UsageError(f"%%buffer: {name!r} is not a valid variable name")
        buffer = self._make_buffer(celltype, cell)
        buffer.get_checksum()
        if name is not None:
            self._shell.user_ns[name] = buffer
        return buffer

    def _make_buffer(self, celltype: str, body: str) -> Buffer:
        where = f"%%buffer celltype={celltype}"
        if celltype == "bytes":
            return Buffer(body.encode("utf-8"))
        if celltype in TEXT_CELLTYPES:
            if celltype in ("python", "ipython"):
                self._check_code(where, celltype, body)
            value: Any = body
        else:
            if not body.strip():
                raise UsageError(f"{where}: the cell body is empty")
            if celltype in JSON_BODY_CELLTYPES:
                try:
                    value = json.loads(body)
                except ValueError as exc:
                    raise UsageError(f"{where}: the body is not JSON: {_one_line(exc)}") from None
            else:
                value = self._evaluate(where, body)
        try:
            return Buffer(value, celltype)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{where}: {_problem(exc)}") from None

    def _check_code(self, where: str, celltype: str, body: str) -> None:
        """Parse (never run) a python/ipython body, to report a syntax error as the
        ``%%buffer`` magics report others: the message and the line, once."""
        source = body
        if celltype == "ipython":
            source = self._shell.transform_cell(body)
        try:
            ast.parse(source, "<%%buffer>")
        except SyntaxError as exc:
            raise UsageError(
                f"{where}: the body is not valid {'IPython' if celltype == 'ipython' else 'Python'}"
                f": {exc.msg} (line {exc.lineno})"
            ) from None
        except ValueError:  # null bytes and the like: left to the celltype's own check
            pass

    def _evaluate(self, where: str, body: str) -> Any:
        source = body.strip()
        try:
            code = compile(source, "<%%buffer>", "eval")
        except SyntaxError as exc:
            raise UsageError(
                f"{where}: the body is not a Python expression: {exc.msg} (line {exc.lineno})"
            ) from None
        try:
            # safe: the user asked for this (%%buffer on mixed/binary evaluates their own cell)
            return eval(code, self._shell.user_global_ns, self._shell.user_ns)  # safe: see above
        except Exception as exc:
            raise UsageError(
                f"{where}: evaluating the body raised {type(exc).__name__}: {_one_line(exc)}"
            ) from None


_MAGIC_NAMES = {"line": ("checksum",), "cell": ("buffer",)}


# The magic whose line the cursor is on: %checksum anywhere (``cs = %checksum x``), %%buffer
# only at the start of a cell's first line.
_COMPLETED_LINE = re.compile(r"(?:^|[\s=(])%checksum\s|^\s*%%buffer\s")


def celltype_completions(text_until_cursor: str) -> list[str] | None:
    """The celltype names that complete the word before the cursor, if that word is a
    celltype of ``%checksum`` or ``%%buffer`` (after ``--celltype``/``-c`` or ``celltype=``);
    None elsewhere."""
    at = _AT_CELLTYPE.search(text_until_cursor)
    if at is None or not _COMPLETED_LINE.search(text_until_cursor[: at.start() + 1]):
        return None
    typed = re.split(r"[=\s]", text_until_cursor)[-1]
    return [name for name in COMPLETABLE_CELLTYPES if name.startswith(typed)]


def _celltype_matcher(context: Any) -> dict[str, Any]:
    # IPython's matcher API v2: the celltypes alone (suppressing the Python names other
    # matchers would mix in), or nothing so that the other matchers answer.
    from IPython.core.completer import SimpleCompletion

    names = celltype_completions(context.text_until_cursor)
    if names is None:
        return {"completions": []}
    return {
        "completions": [SimpleCompletion(name, type="celltype") for name in names],
        "suppress": True,
    }


_celltype_matcher.matcher_api_version = 2  # type: ignore[attr-defined]


def _matchers(ipython: Any) -> list[Any] | None:
    completer = getattr(ipython, "Completer", None)
    return getattr(completer, "custom_matchers", None)


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics with ``ipython``, and tab completion of their celltypes."""
    ipython.register_magics(SeamlessMagics)
    matchers = _matchers(ipython)
    if matchers is not None and _celltype_matcher not in matchers:
        matchers.append(_celltype_matcher)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics registered by :func:`load_ipython_extension`, and close any live
    cache dashboard (their refresh tasks stop with them)."""
    dashboards = sys.modules.get("seamless_core.jupyter.dashboard")
    if dashboards is not None:
        dashboards.close_all_dashboards()
    manager = ipython.magics_manager
    for kind, names in _MAGIC_NAMES.items():
        table = manager.magics[kind]
        for name in names:
            if isinstance(getattr(table.get(name), "__self__", None), SeamlessMagics):
                del table[name]
    manager.registry.pop(SeamlessMagics.__name__, None)
    matchers = _matchers(ipython)
    if matchers is not None and _celltype_matcher in matchers:
        matchers.remove(_celltype_matcher)


__all__ = [
    "COMPLETABLE_CELLTYPES",
    "EXPRESSION_BODY_CELLTYPES",
    "JSON_BODY_CELLTYPES",
    "SeamlessMagics",
    "celltype_completions",
    "load_ipython_extension",
    "unload_ipython_extension",
    "value_checksum",
]
