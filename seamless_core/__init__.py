"""seamless-core: the content-addressed data layer of the Seamless ecosystem.

``Checksum`` and ``Buffer`` turn Python values into canonical bytes and SHA-256 checksums
under 13 celltypes; ``get_buffer_cache()`` keeps buffers in memory; stores bring them back.

Conversions, the cache, the stores and the Jupyter layer load on first use, so that importing the package
stays fast and pulls in neither NumPy nor asyncio.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import errors
from .buffer import Buffer
from .celltypes import CELLTYPES
from .checksum import Checksum
from .errors import (
    BufferTooLargeError,
    CacheMissError,
    CelltypeTypeError,
    CelltypeValueError,
    CorruptBufferError,
    DecompressionError,
    LossyCoercionWarning,
    MissingDependency,
    NotRegularFileError,
    SeamlessConversionError,
    StoreNotWritableError,
    StoreUnavailableError,
    TooLargeError,
    UploadFailedWarning,
)

__version__ = "0.2.0.dev0"

# name -> (module, attribute or None for the module itself), imported when first used
_LAZY = {
    "conversion_category": (".conversion", "conversion_category"),
    "conversion_matrix": (".conversion", "conversion_matrix"),
    "conversion_steps": (".conversion", "conversion_steps"),
    "convert": (".conversion", "convert"),
    "convert_checksum": (".conversion", "convert_checksum"),
    "get_buffer_cache": (".cache", "get_buffer_cache"),
    "BufferCache": (".cache", "BufferCache"),
    "TempRef": (".cache", "TempRef"),
    "register_fingertip_provider": (".resolution", "register_fingertip_provider"),
    "stores": (".stores", None),
    "flush": (".stores.upload", "flush"),
    "lifecycle": (".lifecycle", None),
    "is_worker": (".lifecycle", "is_worker"),
    "set_is_worker": (".lifecycle", "set_is_worker"),
    "ensure_open": (".lifecycle", "ensure_open"),
    "close": (".lifecycle", "close"),
    "register_close_hook": (".lifecycle", "register_close_hook"),
    "dashboard": (".jupyter.dashboard", "dashboard"),
}


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext seamless_core``: register the ``%checksum`` and ``%%buffer`` magics."""
    from .jupyter import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext seamless_core``: remove the magics again."""
    from .jupyter import unload_ipython_extension as unload

    unload(ipython)


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'seamless_core' has no attribute {name!r}") from None
    module = importlib.import_module(module_name, __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "CELLTYPES",
    "Buffer",
    "BufferCache",
    "BufferTooLargeError",
    "CacheMissError",
    "CelltypeTypeError",
    "CelltypeValueError",
    "Checksum",
    "CorruptBufferError",
    "DecompressionError",
    "LossyCoercionWarning",
    "MissingDependency",
    "NotRegularFileError",
    "SeamlessConversionError",
    "StoreNotWritableError",
    "StoreUnavailableError",
    "TooLargeError",
    "UploadFailedWarning",
    "TempRef",
    "conversion_category",
    "conversion_matrix",
    "conversion_steps",
    "convert",
    "close",
    "dashboard",
    "ensure_open",
    "flush",
    "get_buffer_cache",
    "is_worker",
    "register_close_hook",
    "register_fingertip_provider",
    "set_is_worker",
    "errors",
    "stores",
    "__version__",
]
