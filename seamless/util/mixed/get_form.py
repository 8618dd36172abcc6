"""0.1.4's ``seamless.util.mixed.get_form``, from seamless_core."""

from seamless_core.legacy import get_form

__all__ = ["get_form"]
