"""0.1.4's ``seamless.checksum.celltypes``, from seamless_core."""

from seamless_core.legacy import celltypes, text_types

__all__ = ["celltypes", "text_types"]
