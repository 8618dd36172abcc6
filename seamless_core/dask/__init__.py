"""seamless-core on dask.distributed (the ``dask`` extra: ``pip install 'seamless-core[dask]'``).

Buffers are first-class dask values without this package: a :class:`~seamless_core.Buffer`
tokenizes as its checksum, pickles its content out of band (protocol 5, no copy) and reports
its length to ``dask.sizeof`` (registered through the ``dask.sizeof`` entry point). This
package adds what needs a cluster:

    >>> from distributed import Client
    >>> import seamless_core.dask as scd
    >>> client = Client()
    >>> scd.install(client)                       # every worker gets this process's stores
    >>> buffers = scd.resolve(client, checksums)  # futures of Buffers, resolved on workers
    >>> future = scd.submit(client, func, checksum, celltype="mixed")

``distributed`` is imported when one of these names is first used, not before: the
``dask.sizeof`` hook (:mod:`.sizeof`) lives here too and must stay light.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "PLUGIN_NAME": ".plugin",
    "StoresPlugin": ".plugin",
    "install": ".plugin",
    "uninstall": ".plugin",
    "resolve": ".plugin",
    "submit": ".plugin",
    "call_resolved": ".plugin",
}


def __getattr__(name: str) -> Any:
    try:
        module_name = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'seamless_core.dask' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = sorted(_LAZY)
