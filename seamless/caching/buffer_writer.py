"""0.1.4's ``seamless.caching.buffer_writer``: seamless_core's background uploads."""

from seamless_core.legacy import await_existing_task
from seamless_core.stores.upload import flush

__all__ = ["await_existing_task", "flush"]
