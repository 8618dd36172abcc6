"""The int, float and bool celltypes' conversions: 0.1.4's ``int(v)``/``float(v)``/``bool(v)``,
without losing information silently.

* exact conversions pass: ``3.0 -> 3``, ``True -> 1``, ``"12" -> 12``, ``1 -> True``, NumPy
  scalars like their Python twins;
* lossy ones keep 0.1.4's bytes, so that checksums stay shared, and emit a
  :class:`LossyCoercionWarning`: a non-integral number under ``int`` is truncated (``3.7 -> 3``,
  pinned by 0.1.4's recorded vectors), a number other than 0 or 1 under ``bool`` is true
  (``int -> bool`` is a conversion that always succeeds), a non-empty string under ``bool`` is
  true (``"x" -> True``, pinned);
* the conversions whose result contradicts the value are refused with a ValueError naming it: a
  string that spells a false value under ``bool`` (``"false"``, ``"0"``, ``"no"``: 0.1.4 writes
  ``true``); ``None`` or a container under ``bool`` (TypeError, as under ``int`` and ``float``);
  a non-finite number under ``int``, a number beyond the float range under ``float``.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

from ..errors import LossyCoercionWarning


class LossyCoercion(ValueError):
    """A value converts to a scalar celltype only by losing information: refused."""


_FALSE_WORDS = frozenset({"false", "no", "off", "none", "null", "nil", "f", "n"})
_TRUE_WORDS = frozenset({"true", "yes", "on", "t", "y"})


def _warn(message: str) -> None:
    warnings.warn(message, LossyCoercionWarning, stacklevel=4)


def _is_bool(value: Any) -> bool:
    """A bool or a NumPy bool (without importing NumPy)."""
    kind = type(value)
    return kind is bool or (kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_"))


def _unwrap_array(value: Any) -> Any:
    """A 0-d NumPy array as its element; other values unchanged."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item") and hasattr(value, "dtype"):
        return value[()]
    return value


def to_int(value: Any) -> int:
    value = _unwrap_array(value)
    if _is_bool(value) or isinstance(value, numbers.Integral):
        return int(value)
    result = int(value)  # OverflowError for infinities, ValueError for NaN and bad strings
    if isinstance(value, numbers.Number) and result != value:
        _warn(f"{value!r} is not an integer: truncated to {result} under 'int', as 0.1.4 does")
    return result


def to_float(value: Any) -> float:
    value = _unwrap_array(value)
    # Integers round to the nearest float as float literals do; beyond the float range they
    # raise OverflowError.
    return float(value)


def _string_to_bool(value: str) -> bool:
    if value == "":
        return False
    word = value.strip().lower()
    spells_false = word in _FALSE_WORDS
    if not spells_false:
        try:
            spells_false = float(word) == 0.0
        except ValueError:
            pass
    if spells_false:
        raise LossyCoercion(
            f"the string {value[:40]!r} spells a false value, but bool() of it is true; "
            "give a bool (or the empty string for false)"
        )
    if word not in _TRUE_WORDS and word != "1":
        _warn(f"the string {value[:40]!r} is true under 'bool' (not empty), as 0.1.4 does")
    return True


def to_bool(value: Any) -> bool:
    value = _unwrap_array(value)
    if _is_bool(value):
        return bool(value)
    if isinstance(value, str):
        return _string_to_bool(value)
    if isinstance(value, numbers.Number):
        result = bool(value)
        if value != result:  # neither 0 nor 1 (nor NaN): the number is lost
            _warn(f"the number {value!r} is {result} under 'bool', as 0.1.4 does")
        return result
    if value is None:
        raise TypeError("None is not a boolean")
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        raise TypeError(f"a {type(value).__name__} has no bool value")
    if hasattr(value, "ndim") and hasattr(value, "dtype"):
        raise TypeError(f"an array of shape {value.shape} has no bool value")
    return bool(value)


__all__ = ["LossyCoercion", "LossyCoercionWarning", "to_bool", "to_float", "to_int"]
