"""0.1.4's ``seamless.util.get_event_loop``, from seamless_core."""

from seamless_core.legacy import get_event_loop

__all__ = ["get_event_loop"]
