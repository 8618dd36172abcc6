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

import gc
import json
import math
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

import orjson

from .._native import contains_nonfinite

#: From this many bytes on, :func:`loads_canonical` pauses the cyclic garbage collector.
GC_PAUSE_FROM = 1 << 20

_CANONICAL_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
_PYTHON_OPTIONS = (
    orjson.OPT_INDENT_2
    | orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)

# Digits to "0", everything else to " ": a run of 19 zeros then marks 19 consecutive digits,
# found with a plain substring search (much faster than a regular expression).
_DIGIT_RUNS = bytes(48 if chr(i).isdigit() and i < 128 else 32 for i in range(256))
_NINETEEN_DIGITS = b"0" * 19


def may_hold_big_integer(data: bytes) -> bool:
    """Whether JSON text may hold an integer beyond 64 bits (which orjson reads as a float).

    Conservative: long digit runs inside strings or tiny floats also answer True.
    """
    return _NINETEEN_DIGITS in data.translate(_DIGIT_RUNS)


# orjson and repr() disagree only on floats below 1e-4 or from 1e16 on: orjson writes them
# with a bare exponent ("1e16", "1e-7") or as "0.0000...". The exponent is found with the same
# translation trick (digits to "0": a digit before an "e"); the zeros are literal.
_DIGITS_AND_E = bytes(48 if 48 <= i <= 57 else (i if i == ord("e") else 32) for i in range(256))


def may_hold_exponent_float(data: bytes) -> bool:
    if b"0e" in data.translate(_DIGITS_AND_E):
        return True
    return b" 0.0000" in data or b"-0.0000" in data or data.startswith(b"0.0000")


class NotPureJSON(Exception):
    """Raised by a ``default`` hook when the value holds something JSON cannot hold as is."""


class NeedsStandardJSON(Exception):
    """Raised by a ``default`` hook for values that only the standard library encodes exactly."""


# -- canonical flavour -------------------------------------------------------------------------


def dumps_canonical(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """orjson, indent 2, sorted keys, plus a newline. Raises orjson.JSONEncodeError (a
    TypeError) for what orjson refuses, ValueError for NaN/Infinity (orjson would write null)."""
    out = orjson.dumps(value, default=default, option=_CANONICAL_OPTIONS)
    if b"null" in out and contains_nonfinite(value):
        raise ValueError("NaN and Infinity are not JSON")
    return out + b"\n"


def loads_canonical(data: bytes) -> Any:
    """Strict JSON (no NaN/Infinity), read by orjson as the ecosystem reads it.

    Integers beyond 64 bits come back as floats, as in every other Seamless reader; values
    that need them are stored under ``mixed``, whose JSON flavour keeps them exact.
    """
    if len(data) < GC_PAUSE_FROM or not gc.isenabled():
        return orjson.loads(data)
    # A parsed JSON value holds no reference cycles, so the cyclic collections that the
    # parse's own allocations trigger free nothing, and each walks every tracked object
    # (the value built so far included): a large parse runs with the collector paused.
    gc.disable()
    try:
        return orjson.loads(data)
    finally:
        gc.enable()


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_exact_integers(data: bytes) -> Any:
    """Strict JSON like :func:`loads_canonical`, but integers of any size read exactly."""
    return json.loads(data.decode(), parse_constant=_no_constants)


# -- Python flavour ----------------------------------------------------------------------------


def _ascii_escaped(out: bytes) -> bytes:
    """orjson's UTF-8 output with non-ASCII characters (and DEL) escaped as ``json`` escapes
    them (``\\u00e9``, surrogate pairs), at C speed.

    The C escaper of the json module escapes the whole text as one JSON string: every
    non-ASCII character as wanted, but also the quotes, backslashes and newlines of the
    document. orjson's output holds no other raw control characters, and every backslash in
    it was doubled, so undoing those three escapes (doubled backslashes first, through a NUL
    that cannot occur) gives back the document with only the wanted escapes added.
    """
    escaped = encode_basestring_ascii(out.decode())[1:-1]
    return (
        escaped.replace("\\\\", "\x00")
        .replace('\\"', '"')
        .replace("\\n", "\n")
        .replace("\x00", "\\")
        .encode()
    )


def _needs_exponent(x: float) -> bool:
    """Whether repr() writes ``x`` with an exponent (where orjson's notation differs)."""
    magnitude = abs(x)
    return magnitude != 0.0 and not (1e-4 <= magnitude < 1e16)


def _python_float(x: float) -> orjson.Fragment:
    """``x`` exactly as the json module writes it."""
    if x != x:
        return orjson.Fragment(b"NaN")
    if x in (math.inf, -math.inf):
        return orjson.Fragment(b"Infinity" if x > 0 else b"-Infinity")
    return orjson.Fragment(repr(x).encode())


def _has_exponent_float(value: Any) -> bool:
    kind = type(value)
    if kind is float:
        return _needs_exponent(value)
    if kind is dict:
        return any(map(_has_exponent_float, value.values()))
    if kind is list or kind is tuple:
        return any(map(_has_exponent_float, value))
    return False


def _with_python_floats(value: Any) -> Any:
    """A copy of ``value`` whose exponent floats are pre-written as the json module would."""
    kind = type(value)
    if kind is float:
        return _python_float(value) if _needs_exponent(value) else value
    if kind is dict:
        return {key: _with_python_floats(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_with_python_floats(item) for item in value]
    return value


def dumps_python_flavour(value: Any, default: Callable[[Any], Any]) -> bytes:
    """Exactly ``json.dumps(value, indent=2, sort_keys=True, default=default)`` + newline.

    ``default`` may raise NotPureJSON to abort; it may raise NeedsStandardJSON to force the
    standard-library path.
    """

    def fast_default(obj: Any) -> Any:
        result = default(obj)
        return _python_float(result) if type(result) is float else result

    try:
        out = orjson.dumps(value, default=fast_default, option=_PYTHON_OPTIONS)
        if b"null" in out and contains_nonfinite(value):
            return _dumps_standard(value, default)  # NaN is written as NaN, not null
        if may_hold_exponent_float(out) and _has_exponent_float(value):
            out = orjson.dumps(
                _with_python_floats(value), default=fast_default, option=_PYTHON_OPTIONS
            )
    except orjson.JSONEncodeError as exc:
        if isinstance(exc.__cause__, NotPureJSON):
            raise exc.__cause__ from None
        if isinstance(exc.__cause__, TypeError) and not isinstance(
            exc.__cause__, orjson.JSONEncodeError
        ):
            raise exc.__cause__ from None
        return _dumps_standard(value, default)  # huge integers, non-string keys, deep nesting
    if not out.isascii() or b"\x7f" in out:
        out = _ascii_escaped(out)
    return out + b"\n"


def _dumps_standard(value: Any, default: Callable[[Any], Any]) -> bytes:
    def lenient(obj: Any) -> Any:
        try:
            return default(obj)
        except NeedsStandardJSON:
            raise TypeError(f"{type(obj).__name__} is not JSON serializable") from None

    text = json.dumps(value, indent=2, sort_keys=True, default=lenient)
    return text.encode() + b"\n"


def loads_python_flavour(data: bytes) -> Any:
    """``json.loads``, taking orjson's fast path whenever it gives the same result."""
    if not may_hold_big_integer(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # NaN, Infinity, lone surrogates...: only the standard library reads them
    return json.loads(data.decode())
