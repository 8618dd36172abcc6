"""0.1.4's ``seamless.config``: seamless-config's API when it is installed, else empty."""

try:
    from seamless_config import *  # noqa: F403
    from seamless_config import __all__  # noqa: F401
except ImportError:
    __all__ = []
