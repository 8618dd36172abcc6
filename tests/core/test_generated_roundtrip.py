"""Seeded awkward values (tests/helpers/value_gen.py) round-trip through every celltype that takes them."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import value_gen
from helpers.vectors import same_value

from seamless_core import Buffer


def _as_stored(value):
    """What a mixed buffer gives back for ``value``: tuples become lists, NumPy scalars Python
    numbers (inside JSON), bytes 0-d bytes arrays."""
    if isinstance(value, dict):
        return {k: _as_stored(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_stored(v) for v in value]
    if isinstance(value, bytes):
        return np.array(value)
    if isinstance(value, np.ndarray):
        return value.copy(order="C")
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


@pytest.mark.parametrize("seed", range(4))
def test_mixed_values_round_trip_or_raise(seed):
    stored = 0
    for celltype, value in value_gen.cases(seed, 800):
        if celltype != "mixed":
            continue
        try:
            buffer = Buffer(value, celltype)
        except (TypeError, ValueError) as exc:
            assert "mixed" in str(exc)
            continue
        stored += 1
        parsed = buffer.get_value("mixed")
        expected = _as_stored(value)
        if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.char != "S":
            expected = value[()]
        assert same_value(parsed, expected), (value, parsed)
        # Non-contiguous arrays come back contiguous (the form records strides), so the
        # checksum is stable from the first re-serialization on.
        if isinstance(parsed, np.generic) and not isinstance(parsed, (np.number, np.void)):
            continue  # e.g. np.bool_: the ecosystem refuses NumPy booleans under mixed
        again = Buffer(parsed, "mixed")
        assert Buffer(again.get_value("mixed"), "mixed").content == again.content
    assert stored > 50
