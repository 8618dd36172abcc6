"""0.1.4's ``seamless.checksum.json_``, from seamless_core."""

from seamless_core.legacy import json_dumps, json_dumps_bytes

__all__ = ["json_dumps", "json_dumps_bytes"]
