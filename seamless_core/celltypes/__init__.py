"""The 13 celltypes: how Python values become canonical bytes, and back.

``serialize(value, celltype) -> bytes`` and ``deserialize(content, celltype) -> value`` are the
whole interface; each family of celltypes lives in its own module, imported on first use so that
``import seamless_core`` stays light (NumPy, PyYAML and IPython load only when needed).
"""

from __future__ import annotations

import importlib
from typing import Any

from .._errors import CelltypeTypeError, CelltypeValueError

CELLTYPES: tuple[str, ...] = (
    "binary",
    "mixed",
    "text",
    "python",
    "ipython",
    "plain",
    "yaml",
    "str",
    "bytes",
    "int",
    "float",
    "bool",
    "checksum",
)

#: Celltypes of the wider Seamless ecosystem that are stored exactly like ``plain``.
PLAIN_ALIASES: dict[str, str] = {
    "deepcell": "plain",
    "deepfolder": "plain",
    "folder": "plain",
    "module": "plain",
}

TEXT_CELLTYPES = ("text", "python", "ipython", "yaml")

# celltype -> the module implementing it; each module has serialize(value, celltype) and
# deserialize(content, celltype).
_FAMILY = {
    "plain": "jsonlike",
    "str": "jsonlike",
    "int": "jsonlike",
    "float": "jsonlike",
    "bool": "jsonlike",
    "checksum": "jsonlike",
    "text": "text",
    "python": "text",
    "ipython": "text",
    "yaml": "text",
    "bytes": "rawbytes",
    "binary": "binary",
    "mixed": "mixed",
}


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


def serialize(value: Any, celltype: str) -> bytes:
    """The canonical buffer of ``value`` under ``celltype``."""
    celltype = normalize_celltype(celltype)
    try:
        return _family(celltype).serialize(value, celltype)
    except (CelltypeValueError, CelltypeTypeError):
        raise
    except RecursionError:
        raise CelltypeValueError(f"celltype {celltype!r}: value is nested too deeply") from None


def deserialize(content: bytes, celltype: str) -> Any:
    """The value held by ``content`` under ``celltype``."""
    celltype = normalize_celltype(celltype)
    try:
        return _family(celltype).deserialize(content, celltype)
    except (CelltypeValueError, CelltypeTypeError):
        raise
    except (RecursionError, OverflowError, MemoryError) as exc:
        # Crafted input must never escape as anything but a ValueError.
        from .._errors import value_error

        raise value_error(
            celltype, f"cannot parse buffer ({type(exc).__name__})", content
        ) from None


__all__ = [
    "CELLTYPES",
    "PLAIN_ALIASES",
    "TEXT_CELLTYPES",
    "deserialize",
    "normalize_celltype",
    "serialize",
]
