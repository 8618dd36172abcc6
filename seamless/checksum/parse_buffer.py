"""0.1.4's ``seamless.checksum.parse_buffer``, from seamless_core."""

from seamless_core.legacy import parse_buffer, parse_buffer_sync

__all__ = ["parse_buffer", "parse_buffer_sync"]
