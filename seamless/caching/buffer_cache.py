"""0.1.4's ``seamless.caching.buffer_cache``: seamless_core's buffer cache."""

from seamless_core.cache import BufferCache, TempRef, get_buffer_cache

__all__ = ["BufferCache", "TempRef", "get_buffer_cache"]
