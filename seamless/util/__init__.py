"""0.1.4's ``seamless.util``, from seamless_core."""

from seamless_core.legacy import LRUCache as lrucache
from seamless_core.legacy import get_event_loop, parse_checksum, unchecksum

__all__ = ["get_event_loop", "lrucache", "parse_checksum", "unchecksum"]
