"""Forms: the JSON description of a mixed value that the Seamless-mixed container carries.

A form says, for every node of a value, what it is (scalar kind, object, array, NumPy dtype) and
how it is stored: ``pure-plain`` (JSON), ``pure-binary`` (raw array bytes) or ``mixed-plain``
(JSON holding arrays). Key order inside each form follows the Seamless ecosystem exactly, because
the form is part of the bytes that get checksummed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checksum import Checksum

PURE_PLAIN = "pure-plain"
PURE_BINARY = "pure-binary"
MIXED_PLAIN = "mixed-plain"

INTEGER_TYPES = (
    int,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
)
UNSIGNED_TYPES = (np.uint8, np.uint16, np.uint32, np.uint64)
FLOAT_TYPES = (float, np.float16, np.float32, np.float64, np.longdouble)
SCALAR_TYPES = (type(None), bool, str, bytes, Checksum) + INTEGER_TYPES + FLOAT_TYPES
_BUILTIN_DTYPES = tuple(
    np.dtype(name)
    for name in (
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float32",
        "float64",
    )
)


def scalar_form(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, INTEGER_TYPES):
        return "integer"
    if isinstance(value, FLOAT_TYPES):
        return "number"
    if isinstance(value, (str, Checksum)):
        return "string"
    if value is None:
        return "null"
    raise TypeError(f"{type(value).__name__} cannot be stored in a mixed value")


def _is_string_dtype(dt: np.dtype) -> bool:
    return dt.fields is None and dt.subdtype is None and dt.kind in "SU"


def _matches(dt: np.dtype, types: tuple) -> bool:
    return any(dt == t for t in types)


def _element_form(dt: np.dtype) -> dict:
    base = dt.base
    if base.hasobject:
        raise TypeError("arrays of Python objects cannot be stored")
    if base.kind == "U":
        # The container has no unicode element type: it would come back as bytes.
        raise TypeError(
            f"a unicode array (dtype {base}) cannot be nested in a mixed value; "
            "store it on its own, or convert it to bytes (dtype 'S') first"
        )
    if base == np.dtype(bool):
        form: dict = {"type": "boolean", "bytesize": base.itemsize}
    elif _matches(base, INTEGER_TYPES):
        form = {"type": "integer", "bytesize": base.itemsize}
        # Judged on the element type: the ecosystem judged it on the whole (sub-array)
        # dtype and then could not store unsigned sub-array fields at all.
        form["unsigned"] = _matches(base, UNSIGNED_TYPES)
    elif _matches(base, FLOAT_TYPES):
        form = {"type": "number", "bytesize": base.itemsize}
    elif _is_string_dtype(base):
        form = {"type": "string", "bytesize": base.itemsize}
    else:
        raise TypeError(f"dtype {base} cannot be nested in a mixed value")
    if dt.ndim:
        form = {"type": "tuple", "items": form, "identical": True, "shape": list(dt.shape)}
    return form


def _struct_form(dt: np.dtype) -> dict:
    if not dt.isalignedstruct:
        raise TypeError(
            f"structured dtype {dt} is not aligned; nested in a mixed value it must be "
            "created with align=True"
        )
    if not dt.isnative:
        raise TypeError(f"structured dtype {dt} is not in native byte order")
    names = list(dt.fields or ())
    form = {
        "type": "object",
        "properties": {name: dtype_form(dt[name]) for name in names},
        "bytesize": dt.itemsize,
        "order": names,
    }
    if dt.ndim:
        form["storage"] = PURE_BINARY
        form = {"type": "tuple", "shape": list(dt.shape), "items": form, "identical": True}
    return form


def dtype_form(dt: np.dtype) -> dict:
    """The form of one element of an array of dtype ``dt``."""
    if dt.base.isbuiltin or _is_string_dtype(dt) or dt in _BUILTIN_DTYPES:
        return _element_form(dt)
    return _struct_form(dt)


def _strictly_contiguous(array: np.ndarray) -> bool:
    if not array.flags.c_contiguous:
        return False
    stride = array.itemsize
    for size, actual in zip(reversed(array.shape), reversed(array.strides)):
        if actual != stride:
            return False
        stride *= size
    return True


def array_form(array: np.ndarray) -> dict:
    if not array.dtype.isnative:
        raise TypeError(
            f"dtype {array.dtype} is not in native byte order; nested in a mixed value, "
            "convert it with .astype(dtype.newbyteorder('='))"
        )
    items = dtype_form(array.dtype)
    if form_dtype(items) != array.dtype:
        raise TypeError(f"dtype {array.dtype} cannot be described exactly in a mixed value")
    form = {
        "type": "array",
        "items": items,
        "identical": True,
        "shape": list(array.shape),
        "contiguous": _strictly_contiguous(array),
    }
    if not form["contiguous"]:
        form["strides"] = list(array.strides)
    return form


def _with_storage(form: Any, storage: str) -> dict:
    if isinstance(form, str):
        form = {"type": form}
    form["storage"] = storage
    return form


def dict_form(value: dict, child_forms: list[tuple[str, Any]]) -> tuple[str, dict]:
    """Form of a dict whose children's (storage, form) are given in the dict's order."""
    form: dict = {"type": "object"}
    if not value:
        return PURE_PLAIN, form
    properties = {}
    mixed = False
    for key, (storage, child) in zip(value, child_forms):
        if storage != PURE_PLAIN:
            mixed = True
            child = _with_storage(child, storage)
        properties[key] = child
    form["properties"] = properties
    return (MIXED_PLAIN if mixed else PURE_PLAIN), form


def list_form(child_forms: list[tuple[str, Any]]) -> tuple[str, dict]:
    """Form of a list or tuple whose items' (storage, form) are given in order."""
    storages = {storage for storage, _ in child_forms}
    forms = [form for _, form in child_forms]
    storage = PURE_PLAIN if storages <= {PURE_PLAIN} else MIXED_PLAIN
    identical = len(storages) <= 1 and all(form == forms[0] for form in forms[1:])
    if not forms:
        items: Any = None
    elif identical:
        items = forms[0]
        if storage != PURE_PLAIN:
            items = _with_storage(items, child_forms[0][0])
    else:
        items = [
            form if item_storage == PURE_PLAIN else _with_storage(form, item_storage)
            for item_storage, form in child_forms
        ]
    form = {"type": "array", "items": items, "identical": identical, "shape": [len(forms)]}
    return storage, form


# -- reading: forms back into dtypes -----------------------------------------------------------


def _scalar_dtype(form: dict) -> np.dtype:
    kind = form["type"]
    size = form.get("bytesize")
    if kind == "boolean":
        return np.dtype("|b1")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ValueError(f"invalid bytesize {size!r} in form")
    if kind == "integer":
        return np.dtype(("=u" if form.get("unsigned") else "=i") + str(size))
    if kind == "number":
        return np.dtype("=f" + str(size))
    if kind == "string":
        return np.dtype("S" + str(size))
    raise ValueError(f"unknown element type {kind!r} in form")


def parse_shape(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value
    ):
        raise ValueError(f"invalid shape {value!r} in form")
    return tuple(value)


def form_dtype(form: Any, toplevel: bool = True) -> np.dtype:
    """The dtype described by an element form (raises ValueError when it makes no sense)."""
    if not isinstance(form, dict):
        raise ValueError(f"invalid element form {form!r}")
    kind = form.get("type")
    if kind in ("string", "integer", "number", "boolean"):
        return _scalar_dtype(form)
    if kind in ("tuple", "array"):
        if kind == "array" and not toplevel:
            raise ValueError("arrays of Python objects are not supported")
        if form.get("identical") is not True:
            raise ValueError("array elements must be identical")
        item = form_dtype(form.get("items"), toplevel=False)
        if kind == "tuple":
            return np.dtype((item, parse_shape(form.get("shape"))))
        return item
    if kind == "object":
        order, properties = form.get("order"), form.get("properties")
        if not isinstance(order, list) or not isinstance(properties, dict):
            raise ValueError("structured form without order/properties")
        if set(order) != set(properties):
            raise ValueError("structured form with inconsistent field names")
        fields = [(name, form_dtype(properties[name], toplevel=False)) for name in order]
        return np.dtype(fields, align=True)
    raise ValueError(f"unknown form type {kind!r}")


__all__ = [
    "MIXED_PLAIN",
    "PURE_BINARY",
    "PURE_PLAIN",
    "SCALAR_TYPES",
    "array_form",
    "dict_form",
    "dtype_form",
    "form_dtype",
    "list_form",
    "scalar_form",
]
