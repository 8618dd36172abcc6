"""The NumPy ``.npy`` format: written byte for byte as ``numpy.save`` does, read defensively.

Writing assembles header and array data in a single allocation (no intermediate copy of the
array). Reading checks every length against the buffer before touching the data, refuses object
dtypes (they would need pickle), and returns a zero-copy, read-only view of the buffer.
"""

from __future__ import annotations

import io
import struct
import warnings
from math import prod
from typing import Any

import numpy as np
import numpy.lib.format as npformat

try:  # numpy >= 2 keeps the implementation (with the private helpers numpy.save uses) here
    from numpy.lib._format_impl import (  # type: ignore[attr-defined]
        _read_array_header,
        _write_array_header,
    )
except ImportError:  # numpy 1.x
    from numpy.lib.format import (  # type: ignore[attr-defined, no-redef, unused-ignore]
        _read_array_header,
        _write_array_header,
    )

from .._errors import CelltypeTypeError, CelltypeValueError, type_error, value_error
from .._native import join
from .magic import MAGIC_NUMPY

_MAX_HEADER = 10_000  # numpy's own limit for untrusted headers


def _header_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings():
        # Non-latin-1 field names need format 3.0; numpy warns about old readers.
        warnings.simplefilter("ignore", UserWarning)
        # version=None lets numpy pick the smallest format version, exactly as numpy.save does.
        _write_array_header(out, npformat.header_data_from_array_1_0(array), None)
    return out.getvalue()


def c_order_bytes(array: np.ndarray) -> memoryview | bytes:
    """The array's bytes in C order, without copying when the array is C-contiguous.

    Structured arrays are copied field by field into zeroed memory: the padding between fields
    holds whatever was in memory before, and must not leak into a checksum.
    """
    if array.nbytes == 0:
        return b""
    if array.dtype.fields is not None:
        target = np.zeros(array.nbytes, np.uint8).view(array.dtype)
        target[:] = array.reshape(-1)
        return target.view(np.uint8).data
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8).data


def _data_view(array: np.ndarray) -> memoryview | bytes:
    """The array's bytes in the order .npy stores them."""
    if array.flags.f_contiguous and not array.flags.c_contiguous:
        array = array.T  # .npy stores Fortran-ordered data as the transpose's C order
    return c_order_bytes(array)


def check_storable(array: np.ndarray, celltype: str) -> None:
    if array.dtype.hasobject:
        raise type_error(
            celltype, "arrays of Python objects cannot be stored (that would need pickle)", array
        )
    if isinstance(array, np.ma.MaskedArray):
        raise type_error(
            celltype, "masked arrays cannot be stored; fill or split them first", array
        )


def write_npy(array: np.ndarray, celltype: str) -> bytes:
    """``array`` as the exact bytes of ``numpy.save(f, array, allow_pickle=False)``."""
    check_storable(array, celltype)
    return join((_header_bytes(array), _data_view(array)))


def _read_header(content: bytes, celltype: str) -> tuple[tuple, bool, np.dtype, int]:
    if len(content) < 10:
        raise value_error(celltype, "truncated .npy header", content)
    major = content[6]
    if major == 1:
        (header_len,) = struct.unpack_from("<H", content, 8)
        start = 10
    elif major in (2, 3):
        if len(content) < 12:
            raise value_error(celltype, "truncated .npy header", content)
        (header_len,) = struct.unpack_from("<I", content, 8)
        start = 12
    else:
        raise value_error(celltype, f"unsupported .npy version {major}", content)
    if header_len > _MAX_HEADER or start + header_len > len(content):
        raise value_error(celltype, f".npy header length {header_len} is impossible", content)
    stream = io.BytesIO(content[: start + header_len])
    try:
        version = npformat.read_magic(stream)
        shape, fortran, dtype = _read_array_header(stream, version, max_header_size=_MAX_HEADER)
    except Exception as exc:  # numpy raises ValueError, SyntaxError, TypeError... on bad headers
        raise value_error(celltype, f"malformed .npy header ({exc})", content) from None
    return shape, fortran, dtype, start + header_len


def _aligned_twin(dtype: np.dtype) -> np.dtype | None:
    """The aligned structured dtype with the same layout as ``dtype``, if there is one.

    A .npy header loses the 'aligned' flag of a structured dtype; restoring it (without moving
    any byte) gives back the dtype that was saved. A packed dtype has no such twin.
    """
    described, names = dtype.fields, dtype.names
    if described is None or names is None or dtype.isalignedstruct:
        return None
    if any(len(info) > 2 for info in described.values()):
        return None  # titled fields: keep numpy's reading, which preserves the titles
    try:
        fields: list[tuple[Any, ...]] = []
        for name in names:
            field = described[name][0]
            if field.subdtype is not None:
                base, shape = field.subdtype
                fields.append((name, _aligned_twin(base) or base, shape))
            else:
                fields.append((name, _aligned_twin(field) or field))
        twin = np.dtype(fields, align=True)
    except (TypeError, ValueError):
        return None
    # numpy renames an empty field name to f<i>: such a twin is a different dtype
    same_layout = (
        twin.names == dtype.names
        and twin.itemsize == dtype.itemsize
        and twin.fields is not None
        and all(twin.fields[name][1] == described[name][1] for name in names)
    )
    return twin if same_layout else None


def read_npy(content: bytes, celltype: str) -> Any:
    """The array in a .npy buffer (a NumPy scalar for 0-d arrays other than bytes strings)."""
    try:
        return _read_npy(content, celltype)
    except (CelltypeValueError, CelltypeTypeError):
        raise
    except Exception as exc:  # whatever a crafted header makes numpy raise
        raise value_error(
            celltype, f"malformed .npy buffer ({type(exc).__name__}: {exc})", content
        ) from None


def _read_npy(content: bytes, celltype: str) -> Any:
    shape, fortran, dtype, offset = _read_header(content, celltype)
    if any(not isinstance(n, int) or n < 0 for n in shape):
        raise value_error(celltype, f".npy header has an invalid shape {shape}", content)
    if dtype.hasobject:
        raise value_error(celltype, "object arrays are refused (they would need pickle)", content)
    count = prod(shape)
    if count * dtype.itemsize > len(content) - offset:
        raise value_error(
            celltype,
            f".npy data truncated: shape {shape} of {dtype} needs {count * dtype.itemsize} "
            f"bytes, {len(content) - offset} present",
            content,
        )
    twin = _aligned_twin(dtype)
    if dtype.itemsize == 0:
        array = np.empty(shape, dtype)
    else:
        array = np.frombuffer(content, dtype=dtype, count=count, offset=offset)
        array = array.reshape(shape, order="F" if fortran else "C")
    if twin is not None:
        array = array.view(twin)
    if array.ndim == 0 and array.dtype.char != "S":
        return array[()]
    return array


__all__ = ["MAGIC_NUMPY", "check_storable", "read_npy", "write_npy"]
