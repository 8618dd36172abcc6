"""Byte units, named once for the whole package, and sizes as users write them.

A size is an ``int`` of bytes or a string: a number (decimals allowed) and an optional unit,
case-insensitive, with or without a space: ``B``; ``KB``, ``MB``, ``GB``, ``TB``, ``PB``
(powers of 1000); ``KiB`` ... ``PiB`` and the one-letter ``K``, ``M``, ``G``, ``T``, ``P``
(powers of 1024). ``"8GiB"``, ``"512 MB"``, ``"1.5g"``, ``"1_000"`` and ``4096`` are sizes.
"""

from __future__ import annotations

import math
import re
from typing import Any

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "k": 1024,
    "m": 1024**2,
    "g": 1024**3,
    "t": 1024**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    "pb": 1000**5,
    "p": 1024**5,
    "pib": 1024**5,
}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zA-Z]*)\s*")
_UNIT_LIST = "B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB (or K, M, G, T, P for the binary ones)"


def parse_size(value: Any, name: str = "size") -> int:
    """``value`` (bytes, or a string with a unit) as a number of bytes >= 0.

    ``ValueError``/``TypeError`` name ``name`` (the knob or the variable) and the value."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TypeError(f"{name}: a size is an int of bytes or a string like '8GiB', got {value!r}")
    if isinstance(value, str):
        match = _SIZE.fullmatch(value.replace("_", ""))  # "1_000" as Python writes it
        unit = _UNITS.get(match.group(2).lower()) if match else None
        if match is None or unit is None:
            raise ValueError(
                f"{name}: cannot read {value[:40]!r} as a size: write a number of bytes or a "
                f"number with a unit: {_UNIT_LIST}"
            )
        number = float(match.group(1)) * unit
    else:
        number = value
    if isinstance(number, float):
        if not math.isfinite(number) or number != round(number) and not isinstance(value, str):
            raise ValueError(f"{name}: a size is a whole number of bytes, got {value!r}")
        number = round(number)
    if number < 0:
        raise ValueError(f"{name}: a size cannot be negative, got {value!r}")
    return int(number)


def format_size(size: int) -> str:
    """``size`` bytes in the largest binary unit that keeps it readable (``"4 GiB"``)."""
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} B"


__all__ = ["GIB", "KIB", "MIB", "format_size", "parse_size"]
