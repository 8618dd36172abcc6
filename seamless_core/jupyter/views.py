"""The notebook views of a checksum, a buffer and a tempref.

Two layers, as in xarray's ``formatting_html``: *snapshots* (``checksum_snapshot``, ...)
read an object, and the buffer cache if it is loaded, into a plain dict; *renderers*
(``render_checksum``, ...) are pure functions from such a dict to HTML, and ``*_text``
twins render the same dict as plain text. Every piece of data is escaped.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from ..checksum import Checksum
from .frame import count, details, format_bytes, frame, h, number, token, view_css
from .preview import describe_content

__all__ = [
    "buffer_html",
    "buffer_snapshot",
    "cache_state",
    "checksum_html",
    "checksum_snapshot",
    "object_css",
    "render_buffer",
    "render_buffer_text",
    "render_checksum",
    "render_checksum_text",
    "render_tempref",
    "render_tempref_text",
    "tempref_html",
    "tempref_snapshot",
]


def object_css() -> str:
    """The stylesheet an object view embeds."""
    return view_css("object views")


def _num(value: float) -> str:
    return f"{value:.3g}"


def _field(name: str, value_html: str) -> str:
    return f"<dt>{h(name)}</dt><dd>{value_html}</dd>"


def _hex(hex_text: str) -> str:
    return f'<code class="sc-mono sc-hex" title="{h(hex_text)}">{h(hex_text)}</code>'


def _bar(fraction: float, label: str, css_class: str = "") -> str:
    """A horizontal bar filled to ``fraction`` (clipped to 0..1); ``label`` is its tooltip."""
    percent = max(0.0, min(1.0, fraction)) * 100
    return (
        f'<span class="sc-bar {css_class}" title="{h(label)}">'
        f'<span class="sc-bar-fill" style="width:{percent:.1f}%"></span></span>'
    )


# -- cache state of one checksum ------------------------------------------------------------


def _loaded_cache() -> Any:
    """The process-wide buffer cache if one was made, else ``None``: a view
    must not load NumPy and the cache just to report that nothing is cached."""
    if "seamless_core.cache.process" not in sys.modules:
        return None
    from ..cache.process import current_buffer_cache

    return current_buffer_cache()


def _state_name(entry: Mapping[str, Any]) -> str | None:
    if entry["strong"]:
        return "strong"
    if entry["in_memory"]:
        return "weak"
    if entry["normal_refs"] or entry["tempref_interest"]:
        return "referenced"
    return None


def cache_state(checksum: Checksum | str, cache: Any = None) -> dict[str, Any]:
    """Where ``checksum`` stands in the buffer cache (the process-wide one by default).

    ``state`` is ``strong`` (held by the cache), ``weak`` (in memory, held by someone else),
    ``referenced`` (refs but no buffer in memory) or ``not cached``; ``normal_refs``,
    ``tempref_interest``, ``size`` and ``cost`` come from :meth:`BufferCache.entry`.
    """
    if cache is None:
        cache = _loaded_cache()
    entry = cache.entry(checksum) if cache is not None else None
    state = _state_name(entry) if entry is not None else None
    if entry is None or state is None:
        return {"state": "not cached", "normal_refs": 0, "tempref_interest": 0.0}
    return {
        "state": state,
        "normal_refs": entry["normal_refs"],
        "tempref_interest": entry["tempref_interest"],
        "size": entry["size"],
        "cost": entry["cost"],
    }


def _state_details(state: Mapping[str, Any]) -> str:
    parts = []
    refs = number(state.get("normal_refs")) or 0
    if refs:
        parts.append(count(refs, "ref"))
    interest = number(state.get("tempref_interest")) or 0.0
    if interest:
        parts.append(f"tempref interest {_num(interest)}")
    return ", ".join(parts)


def _state_html(state: Mapping[str, Any]) -> str:
    name = str(state.get("state", "not cached"))
    out = f'<span class="sc-pill sc-pill-{token(name)}">{h(name)}</span>'
    more = _state_details(state)
    return out + (f' <span class="sc-muted">{h(more)}</span>' if more else "")


def _state_text(state: Mapping[str, Any]) -> str:
    more = _state_details(state)
    return str(state.get("state", "not cached")) + (f" ({more})" if more else "")


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
        f"{_hex(str(snapshot['hex']))} "
        f"{_state_html(snapshot['cache'])}"
        "</div>"
    )
    return frame(inner, render_checksum_text(snapshot), object_css())


def checksum_html(checksum: Checksum) -> str:
    return render_checksum(checksum_snapshot(checksum))


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


def _preview_summary(described: Mapping[str, Any], length: int) -> str:
    """``preview (200 keys, 2.41 KiB)``: a collapsed preview says how big it is."""
    parts = []
    items = described.get("items")
    if isinstance(items, int) and not isinstance(items, bool):
        noun = "key" if str(described.get("format", "")).startswith("JSON object") else "item"
        parts.append(count(items, noun))
    parts.append(format_bytes(length))
    return f"preview ({', '.join(parts)})"


def _preview_html(described: Mapping[str, Any], length: int) -> str:
    note = described.get("note")
    note_html = f'<div class="sc-note">{h(note)}</div>' if note else ""
    if not described["preview"]:
        return note_html
    body = (
        f'<pre class="sc-preview sc-preview-{token(described["preview_kind"])}">'
        f"{h(described['preview'])}</pre>{note_html}"
    )
    collapsed = described.get("collapsed") is True
    return details(_preview_summary(described, length), body, open_=not collapsed)


def render_buffer(snapshot: Mapping[str, Any]) -> str:
    """HTML for a buffer: checksum, length, detected format, cache state, and a preview
    (collapsed when it is large)."""
    described = snapshot["content"]
    length = int(snapshot["length"])
    badge = described.get("badge", described["kind"])
    fields = "".join(
        [
            _field("checksum", _hex(str(snapshot["checksum"]))),
            _field("length", h(f"{length:,} bytes ({format_bytes(length)})")),
            _field("format", h(described["format"])),
            _field("cache", _state_html(snapshot["cache"])),
        ]
    )
    inner = (
        '<div class="sc-card sc-buffer">'
        '<div class="sc-header"><span class="sc-title">Buffer</span>'
        f'<span class="sc-kind sc-kind-{token(described["kind"])}">{h(badge)}</span>'
        f'<span class="sc-muted">{h(format_bytes(length))}</span></div>'
        f'<dl class="sc-fields">{fields}</dl>'
        f"{_preview_html(described, length)}</div>"
    )
    return frame(inner, render_buffer_text(snapshot), object_css())


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
    # Interest is counted in refs: a normal ref weighs 1.
    interest_html = (
        _bar(fraction, f"{_num(interest)} of {_num(initial)} refs", "sc-bar-interest")
        + f" {h(_num(interest))} "
        + f'<span class="sc-muted">of {h(_num(initial))} refs</span>'
    )
    fades = (
        f"divided by {_num(float(snapshot['fade_factor']))} every "
        f"{_num(float(snapshot['fade_interval']))} s, gone below 1/128"
    )
    fields = "".join(
        [
            _field("checksum", _hex(str(snapshot["checksum"]))),
            _field("interest", interest_html),
            _field("time left", h(f"{float(snapshot['time_left']):.1f} s")),
            _field("fades", h(fades)),
        ]
    )
    inner = (
        '<div class="sc-card sc-tempref">'
        '<div class="sc-header"><span class="sc-title">TempRef</span>'
        f'<span class="sc-pill sc-pill-{state}">{state}</span></div>'
        f'<dl class="sc-fields">{fields}</dl></div>'
    )
    return frame(inner, render_tempref_text(snapshot), object_css())


def tempref_html(tempref: Any) -> str:
    return render_tempref(tempref_snapshot(tempref))
