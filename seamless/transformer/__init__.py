"""0.1.4's ``seamless.transformer``: seamless-transformer's API when it is installed, else
empty."""

try:
    from seamless_transformer import *  # noqa: F403
    from seamless_transformer import __all__  # noqa: F401
except ImportError:
    __all__ = []
