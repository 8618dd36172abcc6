"""What every notebook view shares: the stylesheet, the frame, and small formatters.

The frame is the same for every view (checksum, buffer, tempref, cache, dashboard,
conversion matrix): a ``<style>`` element with the stylesheet sections the view needs, a
``<pre>`` with the plain-text rendering, and the HTML in a wrapper hidden by an inline
style. The stylesheet shows the wrapper and hides the ``<pre>``; where it is stripped (an
untrusted notebook, a static viewer), the text shows instead.

Everything here is a pure function of its arguments (the stylesheet is read once).
"""

from __future__ import annotations

import functools
import math
import re
from html import escape
from importlib import resources
from typing import Any

__all__ = [
    "compact_css",
    "count",
    "details",
    "format_bytes",
    "frame",
    "h",
    "number",
    "stylesheet",
    "stylesheet_section",
    "token",
    "view_css",
]

DASH = "\u2014"
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
_SECTION = re.compile(r"^/\* ([a-z][a-z ]*) \*/$", re.M)
#: The sections every view embeds, before its own.
BASE_SECTIONS = ("frame", "palette")


# -- the stylesheet -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def stylesheet() -> str:
    """The package's whole stylesheet, ``static/seamless.css`` (read once)."""
    return (
        resources.files(__package__).joinpath("static").joinpath("seamless.css").read_text("utf-8")
    )


@functools.lru_cache(maxsize=16)
def stylesheet_section(name: str) -> str:
    """One section of the stylesheet: from its ``/* name */`` line to the next section."""
    css = stylesheet()
    marks = list(_SECTION.finditer(css))
    for i, mark in enumerate(marks):
        if mark.group(1) == name:
            end = marks[i + 1].start() if i + 1 < len(marks) else len(css)
            return css[mark.start() : end].strip() + "\n"
    raise KeyError(f"no section {name!r} in seamless.css")


@functools.lru_cache(maxsize=16)
def compact_css(css: str) -> str:
    """``css`` without comments and layout whitespace (every view embeds its stylesheet,
    so this keeps notebooks small)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    css = re.sub(r"\s+", " ", css)
    css = re.sub(r" ?([{};,>]) ?", r"\1", css)
    return css.replace(";}", "}").strip()


@functools.lru_cache(maxsize=16)
def view_css(*sections: str) -> str:
    """The compacted frame and palette sections, then ``sections``."""
    return compact_css("".join(stylesheet_section(s) for s in (*BASE_SECTIONS, *sections)))


def frame(inner_html: str, text: str, css: str | None) -> str:
    """A self-contained view: ``<style>`` (left out when ``css`` is ``None``), the plain-text
    fallback, then the HTML.

    ``inner_html`` must already be escaped; ``text`` is escaped here.
    """
    style = f"<style>{css}</style>" if css is not None else ""
    return (
        f"{style}"
        '<div class="sc-view">'
        f'<pre class="sc-text-fallback">{escape(text)}</pre>'
        f'<div class="sc-wrap" style="display:none">{inner_html}</div>'
        "</div>"
    )


def details(summary: str, body_html: str, *, open_: bool, css_class: str = "") -> str:
    """A collapsible section; ``summary`` is escaped here, ``body_html`` must be already."""
    classes = f"sc-section {css_class}".strip()
    is_open = " open" if open_ else ""
    return (
        f'<details class="{classes}"{is_open}><summary>{escape(summary)}</summary>'
        f"{body_html}</details>"
    )


# -- small formatters -------------------------------------------------------------------------


def h(value: Any) -> str:
    """``str(value)``, escaped for text and attribute values alike."""
    return escape(str(value), quote=True)


def token(text: Any) -> str:
    """A safe class-name suffix for a value coming from data."""
    return re.sub(r"[^a-z0-9-]", "-", str(text).lower()) or "unknown"


def number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (bools, strings, NaN... are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def count(n: Any, noun: str) -> str:
    """``count(2, "key")`` -> ``'2 keys'``; a dash for anything that is not a number."""
    value = number(n)
    if value is None:
        return f"{DASH} {noun}s"
    shown = f"{int(value):,}" if value == int(value) else f"{value:,.2f}"
    return f"{shown} {noun}" + ("" if value == 1 else "s")


def format_bytes(value: Any) -> str:
    """``1536`` -> ``'1.50 KiB'``: binary units, three significant digits, exact values
    without decimals (``5 GiB``); ``'—'`` for anything that is not a number."""
    n = number(value)
    if n is None:
        return DASH
    sign = "-" if n < 0 else ""
    n = abs(n)
    unit = 0
    while n >= 1024 and unit < len(_UNITS) - 1:
        n /= 1024
        unit += 1
    if unit == 0 or n == int(n):
        text = f"{int(n)}" if n < 1e21 else f"{n:.3g}"
    elif n < 10:
        text = f"{n:.2f}"
    elif n < 100:
        text = f"{n:.1f}"
    else:
        text = f"{n:.0f}"
    return f"{sign}{text} {_UNITS[unit]}"
