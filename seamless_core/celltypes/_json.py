"""The two JSON flavours of the Seamless formats.

* the *canonical* flavour (``plain``, ``str``, ``int``, ``float``, ``bool``, ``checksum``):
  orjson with 2-space indent and sorted keys, UTF-8, shortest floats (``1e-7``);
* the *Python* flavour (pure-JSON data under ``mixed``): what ``json.dumps(value, indent=2,
  sort_keys=True)`` writes: ASCII escapes, ``repr`` floats (``1e-07``), NaN allowed, big
  integers allowed.

Both are produced with orjson (fast, native); for the Python flavour the few differences are
patched in the output, and the rare values orjson cannot express (huge integers, non-string
keys, NaN, very deep nesting) go through the standard library instead.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import orjson

_CANONICAL_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
_PYTHON_OPTIONS = (
    orjson.OPT_INDENT_2
    | orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)

# A run of 19+ digits may be an integer beyond 64 bits, which orjson would turn into a float.
_LONG_DIGITS = re.compile(rb"\d{19}")
_LONG_DIGITS_STR = re.compile(r"\d{19}")
# orjson and repr() disagree only on floats below 1e-4 or from 1e16 on (exponent notation).
_EXPONENT_FLOAT_HINT = re.compile(rb"\de|0\.0000")
_STRING_OR_FLOAT = re.compile(rb'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:e[-+]?\d+)?')
_NON_ASCII = re.compile("[^\x00-\x7e]")


class NotPureJSON(Exception):
    """Raised by a ``default`` hook when the value holds something JSON cannot hold as is."""


class NeedsStandardJSON(Exception):
    """Raised by a ``default`` hook for values that only the standard library encodes exactly."""


def contains_nonfinite(value: Any) -> bool:
    """Whether a JSON-like structure holds a NaN or an infinity anywhere."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return False


# -- canonical flavour -------------------------------------------------------------------------


def dumps_canonical(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """orjson, indent 2, sorted keys, plus a newline. Raises orjson.JSONEncodeError (a
    TypeError) for what orjson refuses, ValueError for NaN/Infinity (orjson would write null)."""
    out = orjson.dumps(value, default=default, option=_CANONICAL_OPTIONS)
    if b"null" in out and contains_nonfinite(value):
        raise ValueError("NaN and Infinity are not JSON")
    return out + b"\n"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_canonical(text: str | bytes) -> Any:
    """Strict JSON (no NaN/Infinity); integers of any size are kept exact."""
    value = orjson.loads(text)
    pattern = _LONG_DIGITS if isinstance(text, bytes) else _LONG_DIGITS_STR
    if pattern.search(text):
        value = json.loads(text, parse_constant=_reject_constant)
    return value


# -- Python flavour ----------------------------------------------------------------------------


def _escape_char(match: re.Match) -> str:
    code = ord(match.group())
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def _repr_float_token(match: re.Match) -> bytes:
    token = match.group()
    if token[:1] == b'"' or not (b"." in token or b"e" in token):
        return token
    return repr(float(token)).encode()


def dumps_python_flavour(value: Any, default: Callable[[Any], Any]) -> bytes:
    """Exactly ``json.dumps(value, indent=2, sort_keys=True, default=default)`` + newline.

    ``default`` may raise NotPureJSON to abort; it may raise NeedsStandardJSON to force the
    standard-library path.
    """
    try:
        out = orjson.dumps(value, default=default, option=_PYTHON_OPTIONS)
    except orjson.JSONEncodeError as exc:
        if isinstance(exc.__cause__, NotPureJSON):
            raise exc.__cause__ from None
        if isinstance(exc.__cause__, TypeError) and not isinstance(
            exc.__cause__, orjson.JSONEncodeError
        ):
            raise exc.__cause__ from None
        return _dumps_standard(value, default)
    if b"null" in out and contains_nonfinite(value):
        return _dumps_standard(value, default)
    if _EXPONENT_FLOAT_HINT.search(out):
        out = _STRING_OR_FLOAT.sub(_repr_float_token, out)
    if not out.isascii() or b"\x7f" in out:
        out = _NON_ASCII.sub(_escape_char, out.decode()).encode()
    return out + b"\n"


def _dumps_standard(value: Any, default: Callable[[Any], Any]) -> bytes:
    def lenient(obj: Any) -> Any:
        try:
            return default(obj)
        except NeedsStandardJSON:
            raise TypeError(f"{type(obj).__name__} is not JSON serializable") from None

    text = json.dumps(value, indent=2, sort_keys=True, default=lenient)
    return text.encode() + b"\n"


def loads_python_flavour(text: str) -> Any:
    """``json.loads``, taking orjson's fast path whenever it gives the same result."""
    if not _LONG_DIGITS_STR.search(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)
