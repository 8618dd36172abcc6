"""Import compatibility with seamless-core 0.1.4 for the released Seamless packages.

Every name here is ``seamless_core``'s own object (the very same classes and functions:
code that patches ``seamless.Checksum`` patches ``seamless_core.Checksum``); nothing is
implemented in this package. New code should import ``seamless_core``.
"""

from __future__ import annotations

from typing import Any

from seamless_core import Buffer, CacheMissError, Checksum
from seamless_core import lifecycle as _lifecycle
from seamless_core.lifecycle import (
    close,
    ensure_open,
    is_worker,
    register_close_hook,
    set_is_worker,
)

# Module state that downstream code reads with getattr(sys.modules["seamless"], ...).
_STATE = {
    "_closed": _lifecycle.closed,
    "_closing": _lifecycle.closing,
    "_IS_WORKER": _lifecycle.is_worker,
    "_require_close": lambda: _lifecycle._close_required,
}


def __getattr__(name: str) -> Any:
    state = _STATE.get(name)
    if state is None:
        raise AttributeError(f"module 'seamless' has no attribute {name!r}")
    return state()


__all__ = [
    "Buffer",
    "CacheMissError",
    "Checksum",
    "close",
    "ensure_open",
    "is_worker",
    "register_close_hook",
    "set_is_worker",
]
