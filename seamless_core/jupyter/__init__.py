"""The Jupyter layer: magics, rich HTML views, and the live cache dashboard.

``%load_ext seamless_core`` registers the ``%checksum`` and ``%%buffer`` magics
(:mod:`seamless_core.jupyter.magics`). The ``_repr_html_`` views share one frame and
stylesheet (:mod:`.frame`); checksums, buffers and temprefs are drawn by :mod:`.views` (with
:mod:`.preview` for what a buffer holds), caches by :mod:`.cache_view`, the conversion
matrix by :mod:`.html_matrix`; :mod:`.html` holds the entry points the classes import.
Nothing here imports IPython until the extension is loaded.
"""

from __future__ import annotations

from typing import Any


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%checksum`` and ``%%buffer`` magics with ``ipython``, and the cache's
    knobs as ``%config SeamlessCache`` (:mod:`seamless_core.jupyter.config`)."""
    from .config import register
    from .magics import load_ipython_extension as load

    load(ipython)
    register(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics (``%unload_ext seamless_core``)."""
    from .magics import unload_ipython_extension as unload

    unload(ipython)


__all__ = ["load_ipython_extension", "unload_ipython_extension"]
