"""0.1.4's ``seamless.checksum_class``: seamless_core's Checksum."""

from seamless_core.cache import get_buffer_cache
from seamless_core.checksum import Checksum

__all__ = ["Checksum", "get_buffer_cache"]
