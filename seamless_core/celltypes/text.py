"""Text celltypes: text, python, ipython, yaml.

The buffer is the text with trailing newlines replaced by exactly one. Code is only parsed,
never executed; YAML is read with a safe loader.

Validation is memoized per content digest: a buffer that was validated once (in any thread) is
not parsed again. ``ast.parse`` calls are serialized under a lock, because on CPython 3.11
concurrent calls can fail spuriously with ``SystemError`` (CPython gh-106905); such an internal
error is never reported as the user's invalid code.
"""

from __future__ import annotations

import ast
import threading
from collections import OrderedDict
from typing import Any

from .._errors import value_error
from ..checksum import Checksum, sha256_digest

#: Code (python, ipython) larger than this is stored and read without being parsed: parsing
#: costs about 100 bytes of memory per byte of code and half a second per MiB, and 0.1.4
#: stored code without a working validation anyway. Smaller code is always validated.
MAX_VALIDATED_CODE = 1 << 20

_MEMO_SIZE = 4096
_memo: OrderedDict[tuple[bytes, str], str | None] = OrderedDict()
_memo_lock = threading.Lock()
_parse_lock = threading.Lock()


class _InternalParserError(RuntimeError):
    """The parser failed for a reason that says nothing about the code."""


def _parse_python(text: str, filename: str) -> None:
    with _parse_lock:
        try:
            ast.parse(text, filename=filename)
        except SystemError as first:
            try:  # the spurious failure of gh-106905 does not repeat on a second try
                ast.parse(text, filename=filename)
            except SystemError:
                raise _InternalParserError(f"Python's parser failed: {first}") from first


def _validate_python(text: str) -> None:
    if len(text) <= MAX_VALIDATED_CODE:
        _parse_python(text, "<seamless python cell>")


def _validate_ipython(text: str) -> None:
    if len(text) <= MAX_VALIDATED_CODE:
        from ._ipython import transform_cell

        _parse_python(transform_cell(text), "<seamless ipython cell>")


def _validate_yaml(text: str) -> None:
    from ._yaml import load_yaml

    load_yaml(text, bounded=False)


_VALIDATORS = {
    "python": _validate_python,
    "ipython": _validate_ipython,
    "yaml": _validate_yaml,
}


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError) and exc.msg:
        # its str() adds "(<file name>, line N)": the file name is ours, not the user's
        return exc.msg if exc.lineno is None else f"{exc.msg} (line {exc.lineno})"
    text = str(exc)
    return text.splitlines()[0] if text.strip() else type(exc).__name__


def _check(text: str, celltype: str) -> str | None:
    """None if ``text`` is valid for ``celltype``, else what is wrong with it."""
    try:
        _VALIDATORS[celltype](text)
    except (_InternalParserError, SystemError, MemoryError):
        raise
    except Exception as exc:  # parsers raise many kinds (SyntaxError, YAMLError, ...)
        return _first_line(exc)
    return None


def _memo_get(key: tuple[bytes, str]) -> tuple[bool, str | None]:
    with _memo_lock:
        if key in _memo:
            _memo.move_to_end(key)
            return True, _memo[key]
    return False, None


def _memo_put(key: tuple[bytes, str], problem: str | None) -> None:
    with _memo_lock:
        _memo[key] = problem
        while len(_memo) > _MEMO_SIZE:
            _memo.popitem(last=False)


def validate(text: str, celltype: str, shown: Any, digest: bytes | None = None) -> None:
    """Raise a ValueError naming ``celltype`` unless ``text`` is valid for it.

    ``digest`` (SHA-256 of the UTF-8 text) keys the memo; it is computed when not given.
    A failure of the parser itself raises ``RuntimeError``, never the ValueError.
    """
    if celltype not in _VALIDATORS:
        return
    if digest is None:
        try:
            digest = sha256_digest(text.encode())
        except UnicodeEncodeError:
            raise value_error(celltype, "text cannot be encoded as UTF-8", shown) from None
    key = (digest, celltype)
    known, problem = _memo_get(key)
    if not known:
        try:
            problem = _check(text, celltype)
        except _InternalParserError as exc:
            raise RuntimeError(f"celltype {celltype!r}: could not validate: {exc}") from exc
        _memo_put(key, problem)
    if problem is not None:
        raise value_error(celltype, f"invalid {celltype}: {problem}", shown)


def _as_text(value: Any, celltype: str) -> str:
    if isinstance(value, Checksum):
        value = value.hex()
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            raise value_error(celltype, "bytes are not UTF-8 text", value) from None
    try:
        return str(value)
    except ValueError as exc:  # e.g. an integer with more digits than str() allows
        raise value_error(celltype, f"value has no text form ({exc})", value) from None


def serialize(value: Any, celltype: str) -> bytes:
    text = _as_text(value, celltype).rstrip("\n")
    try:
        content = (text + "\n").encode()
    except UnicodeEncodeError:
        raise value_error(celltype, "text cannot be encoded as UTF-8", value) from None
    if celltype in _VALIDATORS:
        validate(text, celltype, value, sha256_digest(content))
    return content


def deserialize(content: bytes, celltype: str) -> str:
    try:
        text = content.decode().rstrip("\n")
    except UnicodeDecodeError:
        raise value_error(celltype, "buffer is not UTF-8 text", content) from None
    if celltype in _VALIDATORS:
        # The memo key is the digest of the canonical buffer, whatever trailing newlines
        # this one has, so that a written buffer is never validated again on reading.
        canonical = content if content.endswith(b"\n") and not content.endswith(b"\n\n") else None
        digest = sha256_digest(canonical if canonical is not None else (text + "\n").encode())
        validate(text, celltype, content, digest)
    return text


__all__ = ["MAX_VALIDATED_CODE", "deserialize", "serialize", "validate"]
