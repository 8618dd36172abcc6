"""The entry points of the notebook views, as the ``_repr_html_`` methods call them.

The views live in three modules: :mod:`.frame` (the stylesheet, the frame every view
shares, the byte formatter), :mod:`.preview` (what a buffer holds) and :mod:`.views`
(checksum, buffer and tempref views); the cache view is :mod:`.cache_view`. This module
keeps the names the classes (and code written against earlier releases) import.

The ``_repr_html_`` methods import this module when first called, so that
``import seamless_core`` does not load it.
"""

from __future__ import annotations

from typing import Any

from .frame import format_bytes, frame, stylesheet, stylesheet_section
from .preview import PREVIEW_CHARS, PREVIEW_LINES, describe_content
from .views import (
    buffer_html,
    buffer_snapshot,
    cache_state,
    checksum_html,
    checksum_snapshot,
    object_css,
    render_buffer,
    render_buffer_text,
    render_checksum,
    render_checksum_text,
    render_tempref,
    render_tempref_text,
    tempref_html,
    tempref_snapshot,
)

#: How many of the largest entries a cache view lists.
TOP_ENTRIES = 20


def human_bytes(size: int | None) -> str:
    """``1536`` -> ``'1.50 KiB'`` (:func:`.frame.format_bytes`); ``None`` -> ``'unknown'``."""
    return "unknown" if size is None else format_bytes(size)


def wrap_view(inner_html: str, text: str, css: str | None = None) -> str:
    """:func:`.frame.frame`, with the object views' stylesheet by default."""
    return frame(inner_html, text, object_css() if css is None else css)


def cache_snapshot(cache: Any, top: int = TOP_ENTRIES) -> dict[str, Any]:
    """The one cache snapshot, :func:`.cache_view.cache_snapshot`."""
    from .cache_view import cache_snapshot as snapshot

    return snapshot(cache, top)


def cache_html(cache: Any) -> str | None:
    """The cache view (shared with the dashboard), or ``None`` when it is not available."""
    try:
        from .cache_view import cache_snapshot as snapshot
        from .cache_view import render_cache_html
    except ImportError:
        return None
    return render_cache_html(snapshot(cache, TOP_ENTRIES))


__all__ = [
    "PREVIEW_CHARS",
    "PREVIEW_LINES",
    "buffer_html",
    "buffer_snapshot",
    "cache_html",
    "cache_snapshot",
    "cache_state",
    "checksum_html",
    "checksum_snapshot",
    "describe_content",
    "human_bytes",
    "render_buffer",
    "render_buffer_text",
    "render_checksum",
    "render_checksum_text",
    "render_tempref",
    "render_tempref_text",
    "stylesheet",
    "stylesheet_section",
    "tempref_html",
    "tempref_snapshot",
    "wrap_view",
]
