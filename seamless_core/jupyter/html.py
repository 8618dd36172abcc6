"""Rich notebook views of checksums, buffers, temprefs and the buffer cache.

Two layers, as in xarray's ``formatting_html``:

- *snapshots* (``checksum_snapshot``, ``buffer_snapshot``, ...) read an object, and the
  buffer cache if it is loaded, into a plain dict of data;
- *renderers* (``render_checksum``, ``render_buffer``, ...) are pure functions from such a
  dict to an HTML string, and ``*_text`` twins render the same dict as plain text.

Every view is self-contained: the package stylesheet in a ``<style>`` element, a ``<pre>``
with the plain-text rendering, and the HTML itself in a wrapper hidden by an inline style.
The stylesheet shows the wrapper and hides the ``<pre>``; where it is stripped (an untrusted
notebook, a static viewer), the text shows instead. No JavaScript anywhere, and every piece
of data is HTML-escaped.

The ``_repr_html_`` methods of the classes import this module when first called, so that
``import seamless_core`` does not load it.
"""

from __future__ import annotations

import codecs
import functools
import json
import pprint
import re
import sys
from collections.abc import Mapping, Sequence
from html import escape
from importlib import resources
from typing import Any

from ..celltypes import deserialize
from ..checksum import Checksum

#: How much of a buffer a preview shows.
PREVIEW_CHARS = 1500
PREVIEW_LINES = 30
HEXDUMP_BYTES = 256
#: Buffers up to this size are parsed for their preview; larger ones are only peeked at.
PARSE_LIMIT = 1 << 20
#: How many of the largest entries a cache view lists.
TOP_ENTRIES = 20

_MAGIC_NUMPY = b"\x93NUMPY"
_MAGIC_MIXED = b"\x94SEAMLESS-MIXED"
_SECTION = re.compile(r"^/\* ([a-z][a-z ]*) \*/$", re.M)


# -- the stylesheet and the common frame ----------------------------------------------------


@functools.lru_cache(maxsize=1)
def stylesheet() -> str:
    """The package's whole stylesheet, ``static/seamless.css`` (read once)."""
    return resources.files(__package__).joinpath("static", "seamless.css").read_text("utf-8")


@functools.lru_cache(maxsize=8)
def stylesheet_section(name: str) -> str:
    """One section of the stylesheet: from its ``/* name */`` line to the next section."""
    css = stylesheet()
    marks = list(_SECTION.finditer(css))
    for i, mark in enumerate(marks):
        if mark.group(1) == name:
            end = marks[i + 1].start() if i + 1 < len(marks) else len(css)
            return css[mark.start() : end].strip() + "\n"
    raise KeyError(f"no section {name!r} in seamless.css")


@functools.lru_cache(maxsize=8)
def compact_css(css: str) -> str:
    """``css`` without comments and layout whitespace (every view embeds its stylesheet,
    so this keeps notebooks small)."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    css = re.sub(r"\s+", " ", css)
    css = re.sub(r" ?([{};,>]) ?", r"\1", css)
    return css.replace(";}", "}").strip()


def wrap_view(inner_html: str, text: str, css: str | None = None) -> str:
    """A self-contained view: ``<style>``, the plain-text fallback, then the HTML.

    ``inner_html`` must already be escaped; ``text`` is escaped here. ``css`` defaults to the
    object-view section of the stylesheet.
    """
    if css is None:
        css = compact_css(stylesheet_section("object views"))
    return (
        f"<style>{css}</style>"
        '<div class="sc-view">'
        f'<pre class="sc-text-fallback">{escape(text)}</pre>'
        f'<div class="sc-wrap" style="display:none">{inner_html}</div>'
        "</div>"
    )


# -- small formatting helpers (pure) --------------------------------------------------------


def human_bytes(size: int | None) -> str:
    """``1234567`` -> ``'1.18 MiB'``; ``None`` -> ``'unknown'``."""
    if size is None:
        return "unknown"
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.3g} {unit}"
    raise AssertionError("unreachable")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _num(value: float) -> str:
    return f"{value:.3g}"


def _field(name: str, value_html: str) -> str:
    return f"<dt>{escape(name)}</dt><dd>{value_html}</dd>"


def _code(text: str, css_class: str = "sc-mono") -> str:
    return f'<code class="{css_class}">{escape(text)}</code>'


def _token(text: Any) -> str:
    """A safe class-name suffix for a value coming from data."""
    return re.sub(r"[^a-z0-9-]", "-", str(text).lower()) or "unknown"


def _bar(fraction: float, label: str, css_class: str = "") -> str:
    """A horizontal bar filled to ``fraction`` (clipped to 0..1); ``label`` is its tooltip."""
    percent = max(0.0, min(1.0, fraction)) * 100
    return (
        f'<span class="sc-bar {css_class}" title="{escape(label, quote=True)}">'
        f'<span class="sc-bar-fill" style="width:{percent:.1f}%"></span></span>'
    )


# -- cache state of one checksum ------------------------------------------------------------


def _loaded_cache() -> Any:
    """The process-wide buffer cache if the cache module is loaded, else ``None``: a view
    must not load NumPy and the cache just to report that nothing is cached."""
    if "seamless_core.cache.process" not in sys.modules:
        return None
    from ..cache import get_buffer_cache

    return get_buffer_cache()


def cache_state(checksum: Checksum | str, cache: Any = None) -> dict[str, Any]:
    """Where ``checksum`` stands in the buffer cache (the process-wide one by default).

    ``state`` is ``strong`` (held by the cache), ``weak`` (in memory, held by someone else),
    ``referenced`` (refs but no buffer in memory) or ``not cached``; ``normal_refs``,
    ``tempref_interest``, ``size`` and ``cost`` come from :meth:`BufferCache.entry`.
    """
    if cache is None:
        cache = _loaded_cache()
    entry = cache.entry(checksum) if cache is not None else None
    if entry is not None:
        if entry["strong"]:
            state = "strong"
        elif entry["in_memory"]:
            state = "weak"
        elif entry["normal_refs"] or entry["tempref_interest"]:
            state = "referenced"
        else:
            state = None
        if state is not None:
            return {
                "state": state,
                "normal_refs": entry["normal_refs"],
                "tempref_interest": entry["tempref_interest"],
                "size": entry["size"],
                "cost": entry["cost"],
            }
    return {"state": "not cached", "normal_refs": 0, "tempref_interest": 0.0}


def _state_html(state: Mapping[str, Any]) -> str:
    name = str(state.get("state", "not cached"))
    out = f'<span class="sc-pill sc-pill-{_token(name)}">{escape(name)}</span>'
    details = _state_details(state)
    if details:
        out += f' <span class="sc-muted">{escape(details)}</span>'
    return out


def _state_details(state: Mapping[str, Any]) -> str:
    parts = []
    refs = state.get("normal_refs") or 0
    if refs:
        parts.append(_count(int(refs), "ref"))
    interest = state.get("tempref_interest") or 0.0
    if interest:
        parts.append(f"tempref interest {_num(float(interest))}")
    return ", ".join(parts)


def _state_text(state: Mapping[str, Any]) -> str:
    details = _state_details(state)
    return str(state.get("state", "not cached")) + (f" ({details})" if details else "")


# -- Checksum -------------------------------------------------------------------------------


def checksum_snapshot(checksum: Checksum) -> dict[str, Any]:
    """The data a checksum view shows."""
    return {"hex": checksum.hex(), "repr": repr(checksum), "cache": cache_state(checksum)}


def render_checksum_text(snapshot: Mapping[str, Any]) -> str:
    return f"{snapshot['repr']}\ncache: {_state_text(snapshot['cache'])}"


def render_checksum(snapshot: Mapping[str, Any]) -> str:
    """HTML for a checksum: its hex (whole, selectable) and its cache state."""
    inner = (
        '<div class="sc-card sc-checksum">'
        '<span class="sc-title">Checksum</span> '
        f"{_code(str(snapshot['hex']), 'sc-mono sc-hex')} "
        f"{_state_html(snapshot['cache'])}"
        "</div>"
    )
    return wrap_view(inner, render_checksum_text(snapshot))


def checksum_html(checksum: Checksum) -> str:
    return render_checksum(checksum_snapshot(checksum))


# -- Buffer: format detection and previews (pure functions of the content) -----------------


def _head_text(content: bytes, limit: int) -> str | None:
    """The start of ``content`` as UTF-8 text (a character cut at the end is dropped), or
    ``None`` if it is not UTF-8 or holds NUL bytes."""
    head = content[:limit]
    if b"\x00" in head:
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        return decoder.decode(head, final=len(content) <= limit)
    except UnicodeDecodeError:
        return None


def _truncate(text: str, total: int | None = None) -> tuple[str, str | None]:
    """``text`` cut to the preview limits, and a note saying what was left out."""
    lines = text.splitlines(keepends=True)
    cut = "".join(lines[:PREVIEW_LINES])
    if len(cut) > PREVIEW_CHARS:
        cut = cut[:PREVIEW_CHARS]
    if len(cut) == len(text) and total is None:
        return text, None
    shown = len(cut)
    if total is not None:
        return cut, f"\u2026 preview of the first {shown:,} characters of {total:,} bytes"
    return cut, f"\u2026 {len(text) - shown:,} more characters"


def _json_summary(value: Any) -> str:
    if isinstance(value, dict):
        return f"JSON object, {_count(len(value), 'key')}"
    if isinstance(value, list):
        return f"JSON array, {_count(len(value), 'item')}"
    if isinstance(value, str):
        return "JSON string"
    if isinstance(value, bool) or value is None:
        return "JSON " + json.dumps(value)
    return "JSON number"


def _hexdump(content: bytes) -> str:
    rows = []
    for offset in range(0, min(len(content), HEXDUMP_BYTES), 16):
        chunk = content[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        rows.append(f"{offset:08x}  {hexes:<47}  {text}")
    return "\n".join(rows)


def _array_preview(array: Any) -> str:
    import numpy as np

    with np.printoptions(threshold=60, edgeitems=3, linewidth=88):
        return np.array2string(np.asarray(array), separator=", ")


def _count_arrays(value: Any, limit: int = 10_000) -> int:
    import numpy as np

    stack, count, seen = [value], 0, 0
    while stack and seen < limit:
        item = stack.pop()
        seen += 1
        if isinstance(item, np.ndarray):
            count += 1
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def describe_content(content: bytes) -> dict[str, Any]:
    """Guess what a buffer holds and make a short preview of it (see :func:`_describe`).

    Never raises on any content: a preview that fails shows the bytes instead.
    """
    try:
        return _describe(content)
    except Exception as exc:  # a crafted buffer must not break the view
        note = f"no preview ({type(exc).__name__})"
        return _described("binary", "binary data", _hexdump(content), "hex", note)


def _describe(content: bytes) -> dict[str, Any]:
    """Guess what a buffer holds and make a short preview of it.

    Returns ``{"kind", "format", "preview", "preview_kind", "note"}``: ``kind`` is one of
    ``empty``, ``npy``, ``mixed``, ``json``, ``text``, ``binary``; ``format`` a one-line
    description; ``preview`` a string (``preview_kind`` says how to show it: ``json``,
    ``array``, ``text``, ``hex`` or ``none``); ``note`` says what the preview left out.
    Never raises on any content, and never loads pickles.
    """
    size = len(content)
    if size == 0:
        return _described("empty", "empty buffer", "", "none")
    if content.startswith(_MAGIC_NUMPY):
        described = _describe_npy(content)
        if described is not None:
            return described
    elif content.startswith(_MAGIC_MIXED):
        described = _describe_container(content)
        if described is not None:
            return described
    small = size <= PARSE_LIMIT
    text = _head_text(content, size if small else 64 * 1024)
    if text is None:
        note = f"\u2026 first {HEXDUMP_BYTES} of {size:,} bytes" if size > HEXDUMP_BYTES else None
        return _described("binary", "binary data", _hexdump(content), "hex", note)
    if small and text.strip():
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            pass
        else:
            try:
                pretty = json.dumps(value, indent=2, ensure_ascii=False)
            except (ValueError, RecursionError):
                pretty = text
            preview, note = _truncate(pretty)
            return _described("json", _json_summary(value), preview, "json", note)
    line_count = text.count("\n") + (0 if text.endswith("\n") else 1)
    description = f"UTF-8 text, {_count(line_count, 'line')}" if small else "UTF-8 text"
    preview, note = _truncate(text, None if small else size)
    return _described("text", description, preview, "text", note)


def _described(
    kind: str, description: str, preview: str, preview_kind: str, note: str | None = None
) -> dict[str, Any]:
    return {
        "kind": kind,
        "format": description,
        "preview": preview,
        "preview_kind": preview_kind,
        "note": note,
    }


def _describe_npy(content: bytes) -> dict[str, Any] | None:
    try:
        array = deserialize(content, "binary")
    except (ValueError, TypeError):
        return None
    import numpy as np

    array = np.asarray(array)
    dtype = array.dtype
    shape = f"shape {tuple(array.shape)}" if array.ndim else "0-d"
    dtype_text = str(dtype) if dtype.fields or dtype.subdtype else f"{dtype.name} ({dtype.str})"
    description = f".npy array, dtype {dtype_text}, {shape}"
    preview, note = _truncate(_array_preview(array))
    return _described("npy", description, preview, "array", note)


def _describe_container(content: bytes) -> dict[str, Any] | None:
    if len(content) > PARSE_LIMIT:
        return _described(
            "mixed",
            "Seamless-mixed container (JSON with arrays)",
            "",
            "none",
            f"\u2026 no preview: larger than {human_bytes(PARSE_LIMIT)}",
        )
    try:
        import numpy as np

        value = deserialize(content, "mixed")
        with np.printoptions(threshold=20, edgeitems=2, linewidth=88):
            pretty = pprint.pformat(value, width=88, sort_dicts=False)
    except (ValueError, TypeError, RecursionError):
        return None
    arrays = _count_arrays(value)
    description = f"Seamless-mixed container, {_count(arrays, 'array')} inside JSON"
    preview, note = _truncate(pretty)
    return _described("mixed", description, preview, "text", note)


# -- Buffer ---------------------------------------------------------------------------------


def buffer_snapshot(buffer: Any) -> dict[str, Any]:
    """The data a buffer view shows. Computes the checksum if needed (without registering
    the buffer in the cache)."""
    checksum = buffer.compute_checksum()
    content = buffer.content
    return {
        "checksum": checksum.hex(),
        "length": len(content),
        "content": describe_content(content),
        "cache": cache_state(checksum),
    }


def render_buffer_text(snapshot: Mapping[str, Any]) -> str:
    described = snapshot["content"]
    lines = [
        f"Buffer: {snapshot['length']:,} bytes, {described['format']}",
        f"checksum: {snapshot['checksum']}",
        f"cache: {_state_text(snapshot['cache'])}",
    ]
    if described["preview"]:
        lines.append(described["preview"].rstrip("\n"))
    if described["note"]:
        lines.append(described["note"])
    return "\n".join(lines)


def render_buffer(snapshot: Mapping[str, Any]) -> str:
    """HTML for a buffer: checksum, length, detected format, cache state, and a preview."""
    described = snapshot["content"]
    length = int(snapshot["length"])
    kind = _token(described["kind"])
    fields = "".join(
        [
            _field("checksum", _code(str(snapshot["checksum"]), "sc-mono sc-hex")),
            _field("length", escape(f"{length:,} bytes ({human_bytes(length)})")),
            _field("format", escape(str(described["format"]))),
            _field("cache", _state_html(snapshot["cache"])),
        ]
    )
    preview = ""
    if described["preview"]:
        note = described["note"]
        preview = (
            '<details class="sc-section" open><summary>preview</summary>'
            f'<pre class="sc-preview sc-preview-{_token(described["preview_kind"])}">'
            f"{escape(str(described['preview']))}</pre>"
            + (f'<div class="sc-note">{escape(note)}</div>' if note else "")
            + "</details>"
        )
    elif described["note"]:
        preview = f'<div class="sc-note">{escape(described["note"])}</div>'
    inner = (
        '<div class="sc-card sc-buffer">'
        '<div class="sc-header"><span class="sc-title">Buffer</span>'
        f'<span class="sc-kind sc-kind-{kind}">{escape(str(described["kind"]))}</span>'
        f'<span class="sc-muted">{escape(human_bytes(length))}</span></div>'
        f'<dl class="sc-fields">{fields}</dl>'
        f"{preview}</div>"
    )
    return wrap_view(inner, render_buffer_text(snapshot))


def buffer_html(buffer: Any) -> str:
    return render_buffer(buffer_snapshot(buffer))


# -- TempRef --------------------------------------------------------------------------------


def tempref_snapshot(tempref: Any) -> dict[str, Any]:
    """The data a tempref view shows, read once from the tempref's clock."""
    now = tempref._clock()
    current = tempref.interest_at(now)
    return {
        "checksum": tempref.checksum.hex(),
        "interest": current,
        "initial_interest": tempref.interest,
        "fade_factor": tempref.fade_factor,
        "fade_interval": tempref.fade_interval,
        "time_left": max(0.0, tempref.expires_at - now) if current > 0 else 0.0,
        "alive": current > 0,
        "repr": repr(tempref),
    }


def render_tempref_text(snapshot: Mapping[str, Any]) -> str:
    return str(snapshot["repr"])


def render_tempref(snapshot: Mapping[str, Any]) -> str:
    """HTML for a tempref: its interest now (as a bar against the initial interest), the
    time it has left and how it fades."""
    alive = bool(snapshot["alive"])
    initial = float(snapshot["initial_interest"])
    interest = float(snapshot["interest"])
    fraction = interest / initial if alive and initial > 0 else 0.0
    state = "alive" if alive else "expired"
    interest_html = (
        _bar(fraction, f"{_num(interest)} of {_num(initial)}", "sc-bar-interest")
        + f' {escape(_num(interest))} <span class="sc-muted">of {escape(_num(initial))}</span>'
    )
    fields = "".join(
        [
            _field("checksum", _code(str(snapshot["checksum"]), "sc-mono sc-hex")),
            _field("interest", interest_html),
            _field("time left", escape(f"{float(snapshot['time_left']):.1f} s")),
            _field(
                "fades",
                escape(
                    f"divided by {_num(float(snapshot['fade_factor']))} every "
                    f"{_num(float(snapshot['fade_interval']))} s, gone below 1/128"
                ),
            ),
        ]
    )
    inner = (
        '<div class="sc-card sc-tempref">'
        '<div class="sc-header"><span class="sc-title">TempRef</span>'
        f'<span class="sc-pill sc-pill-{state}">{state}</span></div>'
        f'<dl class="sc-fields">{fields}</dl></div>'
    )
    return wrap_view(inner, render_tempref_text(snapshot))


def tempref_html(tempref: Any) -> str:
    return render_tempref(tempref_snapshot(tempref))


# -- BufferCache ----------------------------------------------------------------------------


def cache_snapshot(cache: Any, top: int = TOP_ENTRIES) -> dict[str, Any]:
    """``{"stats": cache.stats(), "entries": the largest entries, at most ``top``}``."""
    entries: Sequence[dict[str, Any]] = cache.entries()
    largest = sorted(entries, key=lambda e: -1 if e["size"] is None else e["size"], reverse=True)
    return {"stats": cache.stats(), "entries": largest[:top]}


def cache_html(cache: Any) -> str | None:
    """The cache view (shared with the dashboard), or ``None`` when it is not available."""
    try:
        from .cache_view import render_cache_html
    except ImportError:
        return None
    return render_cache_html(cache_snapshot(cache))


__all__ = [
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
