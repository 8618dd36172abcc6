"""Conversions between celltypes: the matrix of categories, and an engine that executes them.

``conversion_category(source, target)`` and ``conversion_steps(source, target)`` read the
matrix; ``convert(buffer_or_checksum, source, target)`` runs the steps and returns a Buffer;
``conversion_matrix()`` shows the whole matrix (as text, or as a colour-coded grid in Jupyter).
"""

from .engine import SeamlessConversionError, convert, convert_checksum
from .matrix import (
    CATEGORIES,
    ConversionMatrix,
    conversion_category,
    conversion_matrix,
    conversion_steps,
    conversion_via,
)

__all__ = [
    "CATEGORIES",
    "ConversionMatrix",
    "SeamlessConversionError",
    "conversion_category",
    "conversion_matrix",
    "conversion_steps",
    "conversion_via",
    "convert",
    "convert_checksum",
]
