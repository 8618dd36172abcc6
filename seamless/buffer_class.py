"""0.1.4's ``seamless.buffer_class``: seamless_core's Buffer."""

from seamless_core.buffer import Buffer
from seamless_core.cache import get_buffer_cache

__all__ = ["Buffer", "get_buffer_cache"]
