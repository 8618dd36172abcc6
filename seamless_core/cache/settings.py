"""The cache's knobs as users write them: sizes with units, the caps from the environment.

A size is an ``int`` of bytes or a string: a number (decimals allowed) and an optional unit,
case-insensitive, with or without a space: ``B``; ``KB``, ``MB``, ``GB``, ``TB`` (powers of
1000); ``KiB``, ``MiB``, ``GiB``, ``TiB`` and the one-letter ``K``, ``M``, ``G``, ``T``
(powers of 1024). ``"8GiB"``, ``"512 MB"``, ``"1.5g"`` and ``4096`` are sizes.

``SEAMLESS_SOFT_CAP`` and ``SEAMLESS_HARD_CAP`` set the caps of the process-wide cache when
it is made. A cap left unset keeps its default, moved to the other cap if they would cross
(``SEAMLESS_HARD_CAP=4GiB`` alone also lowers the 5 GiB default soft cap to 4 GiB).

:func:`cap_warnings` says which caps exceed the machine's memory (``stats()["warnings"]``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .._units import format_size, parse_size

SOFT_CAP_ENV = "SEAMLESS_SOFT_CAP"
HARD_CAP_ENV = "SEAMLESS_HARD_CAP"


def check_caps(soft_cap: int, hard_cap: int) -> None:
    """``ValueError`` unless ``0 <= soft_cap <= hard_cap``."""
    if not 0 <= soft_cap <= hard_cap:
        raise ValueError(
            f"the soft cap ({format_size(soft_cap)}) must not exceed the hard cap "
            f"({format_size(hard_cap)}): need 0 <= soft_cap <= hard_cap, got {soft_cap} and "
            f"{hard_cap}"
        )


def caps_from_environment(
    soft_default: int, hard_default: int, environ: Mapping[str, str] | None = None
) -> tuple[int, int]:
    """The caps set by ``SEAMLESS_SOFT_CAP``/``SEAMLESS_HARD_CAP`` (the defaults for the
    unset ones, moved to the set one if they would cross). ``ValueError`` names the
    variable of a bad value."""
    environ = os.environ if environ is None else environ
    soft_text, hard_text = environ.get(SOFT_CAP_ENV, ""), environ.get(HARD_CAP_ENV, "")
    soft = parse_size(soft_text, SOFT_CAP_ENV) if soft_text.strip() else None
    hard = parse_size(hard_text, HARD_CAP_ENV) if hard_text.strip() else None
    if soft is not None and hard is not None:
        if soft > hard:
            raise ValueError(
                f"{SOFT_CAP_ENV}={soft_text} exceeds {HARD_CAP_ENV}={hard_text}: the soft cap "
                f"must not exceed the hard cap"
            )
        return soft, hard
    if soft is not None:
        return soft, max(hard_default, soft)
    if hard is not None:
        return min(soft_default, hard), hard
    return soft_default, hard_default


_memory_total: int | None = None


def _machine_memory() -> int | None:
    """The machine's physical memory in bytes (read once), or ``None`` if unknown."""
    global _memory_total
    if _memory_total is None:
        try:
            import psutil  # type: ignore[import-untyped,unused-ignore]

            _memory_total = int(psutil.virtual_memory().total)
        except Exception:  # no psutil, or a platform it cannot read
            _memory_total = 0
    return _memory_total or None


def cap_warnings(soft_cap: int, hard_cap: int) -> list[str]:
    """Sentences for ``stats()["warnings"]``: each cap larger than the machine's memory."""
    memory = _machine_memory()
    if memory is None:
        return []
    return [
        f"the {name} ({format_size(cap)}) is larger than this machine's memory: the system "
        f"swaps or stops the process before the cache evicts down to it"
        for name, cap in (("soft cap", soft_cap), ("hard cap", hard_cap))
        if cap > memory
    ]
