"""0.1.4's ``seamless.caching``: seamless_core's buffer cache."""

from seamless_core.cache import BufferCache

__all__ = ["BufferCache"]
