"""JSON celltypes in the canonical (orjson) flavour: plain, str, int, float, bool, checksum."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .._errors import type_error, value_error
from ..checksum import Checksum
from ._json import dumps_canonical, loads_canonical, loads_exact_integers, may_hold_big_integer
from ._scalars import LossyCoercion, to_bool, to_float, to_int

_SCALAR_BUILTINS = {"str": str, "int": int, "float": float, "bool": bool}
_SCALAR_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "str": str,
    "int": to_int,
    "float": to_float,
    "bool": to_bool,
}


def _checksum_to_hex(obj: Any) -> Any:
    if isinstance(obj, Checksum):
        return obj.hex()
    raise TypeError(f"Type is not JSON serializable: {type(obj).__name__}")


def _dump(value: Any, celltype: str) -> bytes:
    try:
        return dumps_canonical(value, _checksum_to_hex)
    except orjson.JSONEncodeError as exc:
        raise type_error(celltype, f"value cannot be stored as JSON ({exc})", value) from None
    except ValueError as exc:
        raise value_error(celltype, str(exc), value) from None


def _to_scalar(value: Any, celltype: str) -> Any:
    if isinstance(value, Checksum):
        value = value.hex()
    if celltype == "str":
        if isinstance(value, bool):
            return value
        try:
            return str(value)
        except ValueError as exc:  # e.g. an integer with more digits than str() allows
            raise value_error(celltype, f"value has no text form ({exc})", value) from None
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            raise value_error(celltype, "bytes are not UTF-8 text", value) from None
    return _convert_builtin(value, celltype, shown=value)


def _convert_builtin(value: Any, celltype: str, shown: Any) -> Any:
    """``int(value)`` etc. as 0.1.4 does it, but never silently losing information:
    see :mod:`._scalars` for what is exact, what is refused and what only warns."""
    try:
        return _SCALAR_CONVERTERS[celltype](value)
    except LossyCoercion as exc:
        raise value_error(celltype, str(exc), shown) from None
    except (ValueError, OverflowError) as exc:
        raise value_error(celltype, f"cannot convert ({exc})", shown) from None
    except TypeError as exc:
        raise type_error(celltype, f"cannot convert ({exc})", shown) from None


def serialize(value: Any, celltype: str) -> bytes:
    if celltype == "plain":
        return _dump(value, celltype)
    if celltype == "checksum":
        if value is None:
            return b"null\n"  # "no checksum", as 0.1.4 writes it
        value = _checksum_tree(value, celltype, value)
        return _dump(value, celltype)
    return _dump(_to_scalar(value, celltype), celltype)


def _load(content: bytes, celltype: str) -> Any:
    try:
        return loads_canonical(content)  # orjson checks UTF-8 itself
    except (orjson.JSONDecodeError, ValueError) as exc:
        problem = "buffer is not valid JSON"
        if isinstance(exc, UnicodeDecodeError) or "UTF-8" in str(exc):
            problem = "buffer is not UTF-8 text"
        raise value_error(celltype, f"{problem} ({exc})", content) from None


def deserialize(content: bytes, celltype: str) -> Any:
    if celltype == "checksum":
        return _parse_checksum_buffer(content)
    if celltype == "int" and may_hold_big_integer(content):
        value = _load_exact(content, celltype)  # orjson would read beyond 64 bits as a float
    else:
        value = _load(content, celltype)
    builtin = _SCALAR_BUILTINS.get(celltype)
    if builtin is None or type(value) is builtin or (builtin is str and isinstance(value, str)):
        return value
    return _convert_builtin(value, celltype, shown=content)


def _load_exact(content: bytes, celltype: str) -> Any:
    try:
        return loads_exact_integers(content)
    except (ValueError, RecursionError):
        return _load(content, celltype)  # the canonical reader says what is wrong


# -- the checksum celltype ---------------------------------------------------------------------


def _checksum_tree(value: Any, celltype: str, whole: Any) -> Any:
    """Validate a hex checksum, or a dict/list of them; Checksum objects become hex strings."""
    if isinstance(value, Checksum):
        return value.hex()
    if isinstance(value, str):
        try:
            Checksum(value)
        except ValueError:
            raise value_error(celltype, f"{value[:80]!r} is not a checksum", whole) from None
        return value
    if isinstance(value, (list, tuple)):
        return [_checksum_tree(item, celltype, whole) for item in value]
    if isinstance(value, dict):
        return {key: _checksum_tree(item, celltype, whole) for key, item in value.items()}
    raise type_error(
        celltype,
        f"expected a checksum or a dict/list of checksums, found {type(value).__name__}",
        whole,
    )


def _parse_checksum_buffer(content: bytes) -> Any:
    """JSON of a checksum (or dict/list of them); a bare hex line, as in a .CHECKSUM file, too."""
    celltype = "checksum"
    stripped = content.strip()
    if len(stripped) == 64 and stripped[:1] not in (b'"', b"[", b"{"):
        try:
            return Checksum(stripped.decode("ascii")).hex()
        except (ValueError, UnicodeDecodeError):
            raise value_error(celltype, "buffer is not a checksum", content) from None
    value = _load(content, celltype)
    if value is None:
        return None
    return _checksum_tree(value, celltype, content)


__all__ = ["deserialize", "serialize"]
