"""The 13 celltypes: how Python values become canonical bytes, and back.

``serialize(value, celltype) -> bytes`` and ``deserialize(content, celltype) -> value`` are the
whole interface; each family of celltypes lives in its own module, imported on first use so that
``import seamless_core`` stays light (NumPy, PyYAML and IPython load only when needed).
"""

from __future__ import annotations

import importlib
from typing import Any

from .._errors import CelltypeTypeError, CelltypeValueError

# The registry of celltypes, in 0.1.4's order: celltype -> the module implementing it
# (each has serialize(value, celltype) and deserialize(content, celltype)). Every list of
# celltypes in the package derives from it.
_FAMILY: dict[str, str] = {
    "binary": "binary",
    "mixed": "mixed",
    "text": "text",
    "python": "text",
    "ipython": "text",
    "plain": "jsonlike",
    "yaml": "text",
    "str": "jsonlike",
    "bytes": "rawbytes",
    "int": "jsonlike",
    "float": "jsonlike",
    "bool": "jsonlike",
    "checksum": "jsonlike",
}

CELLTYPES: tuple[str, ...] = tuple(_FAMILY)

#: Celltypes of the wider Seamless ecosystem that are stored exactly like ``plain``.
PLAIN_ALIASES: dict[str, str] = {
    "deepcell": "plain",
    "deepfolder": "plain",
    "folder": "plain",
    "module": "plain",
}

#: Celltypes whose value is source text (stored as UTF-8, unchanged).
TEXT_CELLTYPES: tuple[str, ...] = tuple(c for c, family in _FAMILY.items() if family == "text")
#: Celltypes whose value is one Python scalar, stored as JSON.
SCALAR_CELLTYPES: tuple[str, ...] = ("str", "int", "float", "bool")


def normalize_celltype(celltype: Any) -> str:
    """The canonical name of ``celltype`` (aliases map to ``plain``); ``TypeError`` if unknown."""
    if isinstance(celltype, str):
        if celltype in _FAMILY:
            return celltype
        if celltype in PLAIN_ALIASES:
            return PLAIN_ALIASES[celltype]
    valid = ", ".join(CELLTYPES + tuple(PLAIN_ALIASES))
    raise TypeError(f"unknown celltype {celltype!r}; valid celltypes are: {valid}")


def _family(celltype: str):
    return importlib.import_module(f".{_FAMILY[celltype]}", __name__)


def _named(exc: Exception, given: Any, celltype: str) -> Exception:
    """``exc`` with its message naming the alias the caller used, if one was used."""
    prefix = f"celltype {celltype!r}:"
    message = str(exc)
    if given == celltype or not message.startswith(prefix):
        return exc
    return type(exc)(f"celltype {given!r} (stored as {celltype!r}):{message[len(prefix) :]}")


def serialize(value: Any, celltype: str) -> bytes:
    """The canonical buffer of ``value`` under ``celltype``."""
    given, celltype = celltype, normalize_celltype(celltype)
    try:
        return _family(celltype).serialize(value, celltype)
    except (CelltypeValueError, CelltypeTypeError) as exc:
        raise _named(exc, given, celltype) from None
    except RecursionError:
        raise CelltypeValueError(f"celltype {given!r}: value is nested too deeply") from None
    except OverflowError as exc:
        from .._errors import value_error

        raise value_error(given, f"a number is out of range ({exc})", value) from None


def deserialize(content: bytes, celltype: str) -> Any:
    """The value held by ``content`` under ``celltype``."""
    given, celltype = celltype, normalize_celltype(celltype)
    try:
        return _family(celltype).deserialize(content, celltype)
    except (CelltypeValueError, CelltypeTypeError) as exc:
        raise _named(exc, given, celltype) from None
    except (RecursionError, OverflowError, MemoryError) as exc:
        # Crafted input must never escape as anything but a ValueError.
        from .._errors import value_error

        raise value_error(given, f"cannot parse buffer ({type(exc).__name__})", content) from None


def __getattr__(name: str) -> Any:
    # Lazily, so that importing the celltypes does not import the scalar module's users
    if name == "LossyCoercionWarning":
        from ._scalars import LossyCoercionWarning

        return LossyCoercionWarning
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CELLTYPES",
    "LossyCoercionWarning",
    "PLAIN_ALIASES",
    "SCALAR_CELLTYPES",
    "TEXT_CELLTYPES",
    "deserialize",
    "normalize_celltype",
    "serialize",
]
