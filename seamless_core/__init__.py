"""seamless-core: the content-addressed data layer of the Seamless ecosystem.

``Checksum`` and ``Buffer`` turn Python values into canonical bytes and SHA-256 checksums
under 13 celltypes; ``get_buffer_cache()`` keeps buffers in memory; stores bring them back.
"""

from ._errors import CacheMissError
from .buffer import Buffer
from .celltypes import CELLTYPES
from .checksum import Checksum
from .conversion import (
    SeamlessConversionError,
    conversion_category,
    conversion_matrix,
    conversion_steps,
    convert,
)

__version__ = "0.2.0.dev0"

__all__ = [
    "CELLTYPES",
    "Buffer",
    "CacheMissError",
    "Checksum",
    "SeamlessConversionError",
    "conversion_category",
    "conversion_matrix",
    "conversion_steps",
    "convert",
    "__version__",
]
