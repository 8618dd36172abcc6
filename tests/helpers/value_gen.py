"""Seeded generator of awkward values for differential testing against seamless-core 0.1.4.

It needs only ``random`` and NumPy, so the very same values can be rebuilt in the reference
interpreter (which has 0.1.4 installed) and in ours, and their buffers compared.
"""

from __future__ import annotations

import random

import numpy as np

_KEYS = [
    "a",
    "b",
    "Z",
    "_",
    "10",
    "9",
    "café",
    "日本",
    "sp ace",
    'q"uote',
    "back\\slash",
    "\x7f",
    "",
]
_STRINGS = [
    "",
    "x",
    "hello world",
    "tab\there",
    "line\nbreak",
    "é",
    "\U0001f600",
    "\x00\x1f",
    "1e5",
]
_FLOATS = [0.0, -0.0, 0.1, 1.5, 1e-7, 1e-5, 0.0001, 2.5e-05, 1e15, 1e16, 1.7e308, 5e-324, 123.456]
_DTYPES = ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "?", "S3"]


def _scalar(rng: random.Random):
    kind = rng.randrange(9)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randint(-(2**40), 2**40)
    if kind == 2:
        return rng.choice(_FLOATS) * rng.choice([1, -1])
    if kind == 3:
        return rng.uniform(-1e6, 1e6)
    if kind == 4:
        return rng.choice(_STRINGS)
    if kind == 5:
        return getattr(np, rng.choice(["int8", "int32", "int64", "uint16", "uint64"]))(
            rng.randint(0, 100)
        )
    if kind == 6:
        return getattr(np, rng.choice(["float16", "float32", "float64"]))(rng.uniform(-10, 10))
    if kind == 7:
        return rng.randint(-(2**63), 2**63 - 1)
    return rng.choice(_STRINGS) + str(rng.randint(0, 9))


def _array(rng: random.Random):
    kind = rng.randrange(6)
    if kind == 0:
        dtype = np.dtype([("a", "i4"), ("b", "f8"), ("c", "u1", (2,))], align=True)
        arr = np.zeros(rng.randint(0, 3), dtype)
        if len(arr):
            arr["a"] = np.arange(len(arr))
        return arr
    dtype = np.dtype(rng.choice(_DTYPES))
    shape = rng.choice([(), (0,), (3,), (2, 3), (1, 4, 1)])
    size = int(np.prod(shape))
    data = np.arange(size).astype(dtype).reshape(shape)
    if kind == 1 and data.ndim == 2:
        return np.asfortranarray(data)
    if kind == 2 and data.ndim >= 1 and data.shape[-1] > 1:
        return data[..., ::2]
    if kind == 3:
        return rng.choice([b"raw", b"", b"ab\x00c"])
    return data


def value(rng: random.Random, depth: int = 0, arrays: bool = True):
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return _array(rng) if arrays and rng.random() < 0.25 else _scalar(rng)
    if roll < 0.7:
        keys = rng.sample(_KEYS, rng.randint(0, 5))
        return {k: value(rng, depth + 1, arrays) for k in keys}
    items = [value(rng, depth + 1, arrays) for _ in range(rng.randint(0, 4))]
    return tuple(items) if rng.random() < 0.2 else items


def cases(seed: int, count: int):
    """(celltype, value) pairs; plain values hold no arrays."""
    rng = random.Random(seed)
    for n in range(count):
        celltype = ["plain", "mixed", "mixed", "str", "int", "float", "text", "bytes"][n % 8]
        yield celltype, value(rng, arrays=(celltype == "mixed"))
