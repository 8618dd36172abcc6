"""The optional C speedups (``seamless_core._speedups``), or their pure-Python equivalents.

The extension is compiled when the package is installed from source with a C compiler at
hand; without it every function here still works, only slower. ``SEAMLESS_NO_SPEEDUPS=1``
in the environment (read at import) forces the Python versions, for comparison and tests.

- :func:`contains_nonfinite`: NaN/infinity anywhere in a JSON-like value;
- :func:`join`: ``b"".join``, large results backed by huge pages where the kernel allows;
- :data:`read_files`: the start of many files of one directory, read in one call without the
  GIL (``None`` without the extension: :func:`read_files_python` does the same, slower).
"""

from __future__ import annotations

import errno
import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

__all__ = ["SPEEDUPS", "contains_nonfinite", "join", "read_files", "read_files_python"]

_LEAF_TYPES = frozenset({str, int, bool, type(None)})
_SEQUENCE_TYPES = frozenset({list, tuple})


def contains_nonfinite_python(value: object) -> bool:
    """Whether a JSON-like structure holds a NaN or an infinity anywhere (dict values,
    list and tuple items, subclasses included)."""
    kind = type(value)
    children: Iterable[Any]
    if kind is dict:
        children = cast(dict, value).values()
    elif kind in _SEQUENCE_TYPES:
        children = cast(Iterable[Any], value)
    elif kind is float:
        return value - value != 0.0  # type: ignore[operator]  # NaN, +-inf give NaN
    elif isinstance(value, float):
        return not math.isfinite(value)
    elif isinstance(value, dict):
        children = value.values()
    elif isinstance(value, (list, tuple)):
        children = value
    else:
        return False
    leaves = _LEAF_TYPES
    for child in children:
        kind = type(child)
        if kind in leaves:
            continue
        if kind is float:
            if child - child != 0.0:
                return True
        elif contains_nonfinite_python(child):
            return True
    return False


def join_python(parts: Sequence[bytes | memoryview]) -> bytes:
    """``b"".join(parts)``."""
    return b"".join(parts)


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def read_files_python(
    directory: int | str, names: list[str], limit: int
) -> tuple[bytes, list[int]]:
    """Up to ``limit`` bytes of each file ``names[i]``, one ``read`` call each.

    ``directory`` is an open directory's descriptor, or its path ending with a separator.
    Returns ``(content, sizes)``: the files' bytes one after the other, and for each file
    the number of bytes read (``limit`` means there may be more) or ``-errno``.
    """
    chunks, sizes = [], []
    relative = type(directory) is int
    dir_fd = directory if isinstance(directory, int) else None
    prefix = directory if isinstance(directory, str) else ""
    for name in names:
        try:
            if relative:
                fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
            else:
                fd = os.open(prefix + name, _READ_FLAGS)
            try:
                data = os.read(fd, limit)
            finally:
                os.close(fd)
        except OSError as exc:
            sizes.append(-(exc.errno or errno.EIO))
            continue
        chunks.append(data)
        sizes.append(len(data))
    return b"".join(chunks), sizes


contains_nonfinite: Callable[[object], bool] = contains_nonfinite_python
join: Callable[[Sequence[bytes | memoryview]], bytes] = join_python
read_files: Callable[[int, list[str], int], tuple[bytes, list[int]]] | None = None
SPEEDUPS = False  # whether the C extension is in use

if os.environ.get("SEAMLESS_NO_SPEEDUPS", "") in ("", "0"):
    try:
        from . import _speedups
    except ImportError:
        pass
    else:
        SPEEDUPS = True
        contains_nonfinite = _speedups.contains_nonfinite
        join = _speedups.join
        read_files = getattr(_speedups, "read_files", None)
