"""The Seamless-mixed container: JSON data with NumPy arrays inside, in one buffer.

Layout (all integers little-endian)::

    b"\\x94SEAMLESS-MIXED"  u8 n  storage name (n bytes)  u32 m  form JSON (m bytes)
    b"\\x93SEAMLESS"  u64 j  u64 b  JSON [offsets, skeleton] (j bytes)  raw array bytes (b bytes)

The skeleton is the value with every array replaced by 0; arrays are laid out depth first,
dict entries in sorted key order. docs/formats.md describes the format in full.
"""

from __future__ import annotations

import json
import struct
from math import prod
from typing import Any

import numpy as np

from .._native import join
from ..checksum import Checksum
from . import forms
from .forms import MIXED_PLAIN, PURE_BINARY, PURE_PLAIN
from .magic import MAGIC_MIXED, MAGIC_STREAM
from .npy import c_order_bytes


class MalformedContainer(ValueError):
    """The buffer claims to be a Seamless-mixed container but is not a valid one."""


# -- writing -----------------------------------------------------------------------------------


def _encode_numpy_scalar(obj: Any) -> Any:
    if isinstance(obj, forms.INTEGER_TYPES):
        return int(obj)
    if isinstance(obj, forms.FLOAT_TYPES):
        return float(obj)
    if isinstance(obj, Checksum):
        return obj.hex()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


class _Walk:
    """One depth-first pass computing form, skeleton and the arrays in storage order."""

    def node(self, value: Any) -> tuple[str, Any, Any, list]:
        """(storage, form, skeleton, arrays) for ``value``."""
        if isinstance(value, bytes):
            value = np.array(value)
        if isinstance(value, forms.SCALAR_TYPES):
            skeleton = value.hex() if isinstance(value, Checksum) else value
            return PURE_PLAIN, forms.scalar_form(value), skeleton, []
        if isinstance(value, np.void):
            return PURE_BINARY, forms.dtype_form(value.dtype), 0, [np.array(value)]
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise TypeError("arrays of Python objects cannot be stored (no pickles)")
            return PURE_BINARY, forms.array_form(value), 0, [value]
        if isinstance(value, (list, tuple)):
            return self._sequence(value)
        if isinstance(value, dict):
            return self._mapping(value)
        raise TypeError(f"{type(value).__name__} cannot be stored in a mixed value")

    def _sequence(self, value: list | tuple) -> tuple[str, Any, Any, list]:
        children = [self.node(item) for item in value]
        storage, form = forms.list_form([(c[0], c[1]) for c in children])
        arrays = [array for c in children for array in c[3]]
        return storage, form, [c[2] for c in children], arrays

    def _mapping(self, value: dict) -> tuple[str, Any, Any, list]:
        for key in value:
            if not isinstance(key, str):
                raise TypeError(
                    f"dict key {key!r} is not a string; a mixed value holding arrays "
                    "needs string keys"
                )
        children = {key: self.node(item) for key, item in value.items()}
        storage, form = forms.dict_form(value, [(c[0], c[1]) for c in children.values()])
        arrays = [array for key in sorted(children) for array in children[key][3]]
        skeleton = {key: c[2] for key, c in children.items()}
        return storage, form, skeleton, arrays


def value_form(value: Any) -> tuple[str, Any]:
    """(storage, form) of a mixed value, as its container would describe it."""
    storage, form, _skeleton, _arrays = _Walk().node(value)
    return storage, form


def write_container(value: Any) -> bytes:
    """The container bytes of a dict or list that holds arrays."""
    storage, form, skeleton, arrays = _Walk().node(value)
    if storage != MIXED_PLAIN:
        raise ValueError(f"internal error: a {storage} value does not need a container")
    chunks = [c_order_bytes(array) for array in arrays]
    offsets = [0]
    for chunk in chunks:
        offsets.append(offsets[-1] + len(chunk))
    storage_name = storage.encode()
    form_json = json.dumps(form).encode()
    parts_json = json.dumps([offsets, skeleton], default=_encode_numpy_scalar).encode()
    head = b"".join(
        (
            MAGIC_MIXED,
            struct.pack("<B", len(storage_name)),
            storage_name,
            struct.pack("<I", len(form_json)),
            form_json,
            MAGIC_STREAM,
            struct.pack("<QQ", len(parts_json), offsets[-1]),
            parts_json,
        )
    )
    return join([head, *chunks])  # large containers: huge pages, see _native.join


# -- reading -----------------------------------------------------------------------------------


class _Reader:
    def __init__(self, raw: memoryview, offsets: list):
        self.raw = raw
        self.offsets = offsets
        self.next_array = 0

    def fill(self, data: Any, form: Any) -> None:
        """Put the arrays described by ``form`` into the skeleton node ``data``."""
        kind = form.get("type") if isinstance(form, dict) else None
        if kind == "object":
            properties = form.get("properties", {})
            if not isinstance(properties, dict) or not isinstance(data, dict):
                raise MalformedContainer("form and skeleton disagree (object)")
            for key in sorted(properties):
                self._child(data, key, properties[key])
        elif kind in ("array", "tuple"):
            shape = forms.parse_shape(form.get("shape"))
            if len(shape) != 1 or not isinstance(data, list) or shape[0] > len(data):
                raise MalformedContainer("form and skeleton disagree (array)")
            items = form.get("items")
            identical = form.get("identical")
            if not identical and (not isinstance(items, list) or len(items) < shape[0]):
                raise MalformedContainer("form lists too few items")
            for n in range(shape[0]):
                self._child(data, n, items if identical else items[n])
        else:
            raise MalformedContainer(f"unexpected form type {kind!r}")

    def _child(self, parent: Any, key: Any, form: Any) -> None:
        if not isinstance(form, dict):
            return  # a scalar: already in the skeleton
        storage = form.get("storage", PURE_PLAIN)
        if storage == PURE_BINARY:
            if key not in parent if isinstance(parent, dict) else key >= len(parent):
                raise MalformedContainer(f"skeleton has no entry {key!r}")
            parent[key] = self._array(form)
        elif storage == MIXED_PLAIN:
            self.fill(parent[key], form)
        elif storage != PURE_PLAIN:
            raise MalformedContainer(f"unknown storage {storage!r}")

    def _array(self, form: dict) -> Any:
        if self.next_array + 1 >= len(self.offsets):
            raise MalformedContainer("more arrays in the form than offsets")
        start = self.offsets[self.next_array]
        end = self.offsets[self.next_array + 1]
        self.next_array += 1
        kind = form.get("type")
        if kind == "array":
            dtype = forms.form_dtype(form.get("items"))
            shape: tuple | None = forms.parse_shape(form.get("shape"))
        elif kind == "object":
            dtype, shape = forms.form_dtype(form), None
        else:
            raise MalformedContainer(f"binary node of type {kind!r}")
        count = 1 if shape is None else prod(shape)
        if dtype.itemsize * count != end - start:
            raise MalformedContainer(
                f"array of {count} x {dtype} does not fit its {end - start} stored bytes"
            )
        if dtype.itemsize == 0:
            array = np.zeros(shape or (1,), dtype)
        else:
            # A writable copy of the exact bytes (ndarray.copy() would not copy the padding
            # of structured dtypes, leaving uninitialized memory there).
            array = np.frombuffer(bytearray(self.raw[start:end]), dtype, count)
        if shape is None:
            return array[0]
        return array.reshape(shape)


def _unpack(fmt: str, content: bytes, offset: int) -> tuple[Any, int]:
    size = struct.calcsize(fmt)
    if offset + size > len(content):
        raise MalformedContainer("container truncated")
    return struct.unpack_from(fmt, content, offset)[0], offset + size


def _take(content: bytes, offset: int, length: int) -> tuple[bytes, int]:
    if length > len(content) - offset:
        raise MalformedContainer(f"a length field ({length}) points past the end of the buffer")
    return content[offset : offset + length], offset + length


def _load_json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw.decode())
    except (ValueError, RecursionError) as exc:
        raise MalformedContainer(f"{what} is not valid JSON ({exc})") from None


def _valid_offsets(offsets: Any, raw_size: int) -> list:
    if (
        not isinstance(offsets, list)
        or not offsets
        or offsets[0] != 0
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
        or any(b < a for a, b in zip(offsets, offsets[1:]))
        or offsets[-1] > raw_size
    ):
        raise MalformedContainer("invalid array offsets")
    return offsets


def read_container(content: bytes) -> Any:
    """The value held by a container buffer; ``MalformedContainer`` when it is not valid."""
    offset = len(MAGIC_MIXED)
    name_len, offset = _unpack("<B", content, offset)
    storage_name, offset = _take(content, offset, name_len)
    if storage_name != MIXED_PLAIN.encode():
        raise MalformedContainer(f"unknown container storage {storage_name[:40]!r}")
    form_len, offset = _unpack("<I", content, offset)
    form_json, offset = _take(content, offset, form_len)
    form = _load_json(form_json, "the form")
    magic, offset = _take(content, offset, len(MAGIC_STREAM))
    if magic != MAGIC_STREAM:
        raise MalformedContainer("stream marker missing")
    parts_len, offset = _unpack("<Q", content, offset)
    raw_len, offset = _unpack("<Q", content, offset)
    if parts_len + raw_len != len(content) - offset:
        raise MalformedContainer(
            f"length fields ({parts_len} + {raw_len}) do not match the "
            f"{len(content) - offset} bytes present"
        )
    parts = _load_json(content[offset : offset + parts_len], "the array index")
    if not isinstance(parts, list) or len(parts) != 2:
        raise MalformedContainer("the array index is not [offsets, skeleton]")
    offsets = _valid_offsets(parts[0], raw_len)
    skeleton = parts[1]
    raw = memoryview(content)[offset + parts_len :]
    try:
        _Reader(raw, offsets).fill(skeleton, form)
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise MalformedContainer(f"form and skeleton disagree ({type(exc).__name__})") from None
    except ValueError as exc:
        raise MalformedContainer(str(exc)) from None
    return skeleton


__all__ = ["MAGIC_MIXED", "MAGIC_STREAM", "MalformedContainer", "read_container", "write_container"]
