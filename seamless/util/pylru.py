"""0.1.4's ``seamless.util.pylru``: seamless_core's LRU cache."""

from seamless_core.legacy import LRUCache as lrucache

__all__ = ["lrucache"]
