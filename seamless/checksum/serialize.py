"""0.1.4's ``seamless.checksum.serialize``, from seamless_core."""

from seamless_core.legacy import serialize, serialize_sync

__all__ = ["serialize", "serialize_sync"]
