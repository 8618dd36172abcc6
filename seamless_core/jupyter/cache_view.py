"""One picture of the buffer cache, shared by ``BufferCache._repr_html_`` and the dashboard.

:func:`cache_snapshot` reads a cache (and the process's memory) into a plain dict, the one
snapshot both use; :func:`render_cache_html` and :func:`render_cache_text` are pure
functions of that dict, and the HTML is assembled from small parts (heading, warnings,
usage bars, counters, entries, spill folder). No JavaScript: bars are styled ``<div>``s,
details come from ``title`` tooltips, the largest entries fold away when they are many.
The view sits in the frame every view shares (:mod:`.frame`), so its plain-text rendering
shows wherever the stylesheet is stripped. Everything taken from the snapshot is escaped,
and numbers are coerced to numbers first, so a snapshot from anywhere renders safely.

The bars are honest: strong and weak usage share one linear byte scale, from zero to the
hard cap (or the usage, when larger); the caps mark the strong bar only, as they govern
nothing else. The process's memory is drawn against the machine's, with the hard cap
marked on that scale too, so that the two scales can be compared. Every bar names its
scale under it.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Mapping
from typing import Any

from .frame import DASH, count, details, format_bytes, frame, h, number, stylesheet, view_css

__all__ = [
    "cache_css",
    "cache_snapshot",
    "format_bytes",
    "largest_entries",
    "process_memory",
    "render_cache_html",
    "render_cache_text",
    "stylesheet",
]

# Process memory: warn / alarm at these fractions of the machine's total memory.
_PROCESS_WARN, _PROCESS_ALARM = 0.75, 0.90
#: The largest-entries table starts folded when it lists more rows than this (except in
#: the live dashboard, which renders again every second and would fold it each time).
ENTRIES_OPEN = 10


def cache_css() -> str:
    """The stylesheet a cache view (and the dashboard) embeds."""
    return view_css("cache view", "dashboard")


# -- reading -----------------------------------------------------------------------------------

_process: Any = None


def process_memory() -> dict[str, int | None]:
    """``rss`` of this process and ``total`` memory of the machine, in bytes (``None`` when
    psutil cannot tell)."""
    global _process
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return {"rss": None, "total": None}
    rss = total = None
    try:
        if _process is None or _process.pid != os.getpid():  # new, or forked since
            _process = psutil.Process()
        rss = int(_process.memory_info().rss)
    except (psutil.Error, OSError):
        pass
    try:
        total = int(psutil.virtual_memory().total)
    except (psutil.Error, OSError):
        pass
    return {"rss": rss, "total": total}


def _size_key(entry: Mapping[str, Any]) -> int:
    size = entry.get("size")
    return size if isinstance(size, int) else -1


def largest_entries(cache: Any, top: int) -> list[dict[str, Any]]:
    """The ``top`` largest of ``cache.entries()``, largest first (unknown sizes last)."""
    if top <= 0:
        return []
    return heapq.nlargest(top, cache.entries(), key=_size_key)


def cache_snapshot(cache: Any = None, top: int = 20) -> dict[str, Any]:
    """What the cache holds now, as a plain dict: the one snapshot of a cache that the
    cache's own view and the dashboard both render.

    ``{"stats": cache.stats(), "entries": [...], "entry_count": n, "top": top,
    "process": {"rss": ..., "total": ...}}``, where ``entries`` are the ``top`` largest of
    ``cache.entries()`` (largest first). ``top=0`` skips ``entries()`` altogether, leaving
    only O(1) reads: ``stats()``, the entry count and the process's memory.
    ``cache=None`` reads the process-wide cache.
    """
    if cache is None:
        from ..cache import get_buffer_cache

        cache = get_buffer_cache()
    top = max(0, int(top))
    stats = dict(cache.stats())
    entries = largest_entries(cache, top)
    try:
        entry_count: int | None = len(cache)
    except TypeError:
        entry_count = None
    return {
        "stats": stats,
        "entries": entries,
        "entry_count": entry_count,
        "top": top,
        "process": process_memory(),
    }


# -- formatting --------------------------------------------------------------------------------


def _format_count(value: Any) -> str:
    n = number(value)
    if n is None:
        return DASH
    return f"{int(n):,}" if n == int(n) else f"{n:,.2f}"


def _format_rate_bytes(value: Any) -> str:
    n = number(value)
    return DASH if n is None else f"{format_bytes(n)}/s"


def _format_rate_count(value: Any) -> str:
    n = number(value)
    if n is None:
        return DASH
    return f"{n:.0f}/s" if n >= 10 or n == int(n) else f"{n:.2f}/s"


def _format_interest(value: Any) -> str:
    n = number(value)
    if n is None:
        return DASH
    if n == 0:
        return "0"
    if n == int(n):
        return f"{int(n):,}"
    return f"{n:.3g}" if n < 1000 else f"{n:,.0f}"


def _format_cost(value: Any) -> str:
    n = number(value)
    if n is None:
        return DASH
    if n == 0:
        return "0"
    if n < 0.001:  # 1.4e-6, not 1.4e-06
        mantissa, exponent = f"{n:.2e}".split("e")
        return f"{float(mantissa):.2g}e{int(exponent)}"
    return f"{n:.3g}" if n < 1000 else f"{n:,.0f}"


def _pct(value: float) -> str:
    # A CSS percentage, never anything but digits and a dot.
    return f"{min(100.0, max(0.0, value)):.3f}%"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# -- reading the snapshot ----------------------------------------------------------------------


def _caps(stats: Mapping[str, Any]) -> tuple[float | None, float | None]:
    soft = number(stats.get("soft_cap"))
    hard = number(stats.get("hard_cap"))
    if soft is None or hard is None or not 0 <= soft <= hard:
        return None, None  # nonsense caps: draw no markers rather than wrong ones
    return soft, hard


def _level(usage: float, soft: float | None, hard: float | None) -> str:
    if hard is not None and usage > hard:
        return "over"
    if soft is not None and usage > soft:
        return "warn"
    return "ok"


def _warnings(stats: Mapping[str, Any]) -> list[str]:
    """``stats["warnings"]`` as a list of strings (a single string is one warning)."""
    raw = stats.get("warnings")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        return []
    return [str(w) for w in raw if w]


def _cache_scale(hard: float | None, strong: float, weak: float) -> float:
    """The end of the strong and weak bars' linear scale: the hard cap, or the usage when it
    is larger (at least one byte)."""
    return max(1.0, hard or 0.0, strong, weak)


# -- HTML parts --------------------------------------------------------------------------------

_STATE_TEXT = {
    "ok": "within the soft cap",
    "warn": "above the soft cap",
    "over": "above the hard cap",
}
_STATE_TITLE = {
    "ok": "Nothing is evicted at or below the soft cap.",
    "warn": "Between the caps, a buffer is evicted when the memory freed is worth more "
    "than bringing it back (cost x interest).",
    "over": "Above the hard cap, buffers are evicted until usage is back under the soft cap "
    "(cheapest loss first).",
}


def _header_html(level: str) -> str:
    return (
        '<div class="sc-cache-head"><span class="sc-cache-title">Buffer cache</span>'
        f'<span class="sc-state sc-level-{level}" title="{h(_STATE_TITLE[level])}">'
        f"{_STATE_TEXT[level]}</span></div>"
    )


def _snapshot_note_html(snapshot: Mapping[str, Any]) -> str:
    note = snapshot.get("static_note")
    return f'<p class="sc-snapshot-note">{h(note)}</p>' if isinstance(note, str) else ""


def _warnings_html(stats: Mapping[str, Any]) -> str:
    items = "".join(f"<li>\u26a0 {h(w)}</li>" for w in _warnings(stats))
    return f'<ul class="sc-warnings">{items}</ul>' if items else ""


def _meter(
    kind: str,
    label: str,
    value_html: str,
    fill: float,
    level: str,
    title: str,
    ticks: list[tuple[float, str, str]],
    scale: str,
    zones: tuple[float, float] | None = None,
) -> str:
    """One labelled bar. ``fill`` in percent of the scale, which ``scale`` names under
    the bar; ``ticks`` are ``(position, kind, label)`` markers, keyed there too; ``zones``
    shade the track from the soft cap and from the hard cap on."""
    out = [
        f'<div class="sc-meter sc-meter-{kind}" data-level="{level}">',
        '<div class="sc-meter-head">',
        f'<span class="sc-meter-label">{h(label)}</span>',
        f'<span class="sc-meter-value">{value_html}</span>',
        "</div>",
        f'<div class="sc-track" title="{h(title)}" role="meter" aria-label="{h(label)}" '
        f'aria-valuenow="{fill:.1f}" aria-valuemin="0" aria-valuemax="100">',
    ]
    if zones is not None:
        mid, over = zones
        out.append(
            f'<div class="sc-zone sc-zone-mid" style="left:{_pct(mid)};width:{_pct(over - mid)}">'
            f'</div><div class="sc-zone sc-zone-over" style="left:{_pct(over)};'
            f'width:{_pct(100 - over)}"></div>'
        )
    width = max(fill, 0.6) if fill > 0 else 0.0  # anything above zero stays visible
    out.append(f'<div class="sc-fill sc-level-{level}" style="width:{_pct(width)}"></div>')
    for position, tick, _ in ticks:
        out.append(f'<div class="sc-cap sc-cap-{tick}" style="left:{_pct(position)}"></div>')
    out.append("</div>")
    keys = "".join(
        f'<span class="sc-axis-tick sc-cap-{tick}">{h(text)}</span>' for _, tick, text in ticks
    )
    out.append(f'<div class="sc-axis"><span class="sc-axis-scale">{h(scale)}</span>{keys}</div>')
    out.append("</div>")
    return "".join(out)


def _linear(end: float) -> str:
    return f"scale 0 to {format_bytes(end)}, linear"


def _strong_meter(
    strong: float, soft: float | None, hard: float | None, level: str, scale: float
) -> str:
    value = f'<b class="sc-strong-bytes">{h(format_bytes(strong))}</b>'
    ticks: list[tuple[float, str, str]] = []
    zones = None
    if soft is not None and hard is not None:
        value += (
            f'<span class="sc-of"> of soft cap {h(format_bytes(soft))}'
            f" \u00b7 hard cap {h(format_bytes(hard))}</span>"
        )
        soft_at, hard_at = 100 * soft / scale, 100 * hard / scale
        zones = (soft_at, hard_at)
        if soft == hard:
            ticks = [(hard_at, "hard", f"soft = hard cap {format_bytes(hard)}")]
        else:
            ticks = [
                (soft_at, "soft", f"soft cap {format_bytes(soft)}"),
                (hard_at, "hard", f"hard cap {format_bytes(hard)}"),
            ]
    return _meter(
        "strong",
        "Strong (held by the cache; the caps apply)",
        value,
        100 * strong / scale,
        level,
        f"{format_bytes(strong)} held by the cache.",
        ticks,
        _linear(scale),
        zones,
    )


def _weak_meter(weak: float, scale: float) -> str:
    return _meter(
        "weak",
        "Weak (in memory, held elsewhere; no cap applies)",
        f'<b class="sc-weak-bytes">{h(format_bytes(weak))}</b>',
        100 * weak / scale,
        "weak",
        f"{format_bytes(weak)} findable while other objects keep them.",
        [],
        f"{_linear(scale)}, as strong",
    )


def _process_meter(rss: float, total: float, hard: float | None) -> str:
    """The process's resident memory against the machine's, with the hard cap marked on
    the same scale so that the two scales can be compared."""
    fraction = rss / total
    level = "process"
    if fraction > _PROCESS_ALARM:
        level = "over"
    elif fraction > _PROCESS_WARN:
        level = "warn"
    value = (
        f'<b class="sc-rss">{h(format_bytes(rss))}</b>'
        f'<span class="sc-of"> of {h(format_bytes(total))} total '
        f"({100 * fraction:.1f}%)</span>"
    )
    ticks = []
    if hard is not None and hard <= total:
        ticks = [(100 * hard / total, "hard", f"cache hard cap {format_bytes(hard)}")]
    return _meter(
        "process",
        "Process memory (RSS)",
        value,
        100 * fraction,
        level,
        f"Resident memory of this process: {format_bytes(rss)} of "
        f"{format_bytes(total)} on this machine.",
        ticks,
        f"scale 0 to the machine's {format_bytes(total)}, linear",
    )


def _usage_html(stats: Mapping[str, Any], process: Mapping[str, Any], level: str) -> str:
    """The strong and weak bars on one linear scale, and the process's memory on the
    machine's; each bar names its scale."""
    strong = number(stats.get("strong_bytes")) or 0.0
    weak = number(stats.get("weak_bytes")) or 0.0
    soft, hard = _caps(stats)
    scale = _cache_scale(hard, strong, weak)
    parts = [_strong_meter(strong, soft, hard, level, scale), _weak_meter(weak, scale)]
    rss = number(process.get("rss"))
    total = number(process.get("total"))
    if rss is not None and total:
        parts.append(_process_meter(rss, total, hard))
    elif rss is not None:
        parts.append(f'<p class="sc-entries-note">Process memory (RSS): {h(format_bytes(rss))}</p>')
    return "".join(parts)


def _stat(key: str, label: str, value: str, detail: str = "", title: str = "") -> str:
    title_attr = f' title="{h(title)}"' if title else ""
    detail_html = f'<span class="sc-stat-detail">{h(detail)}</span>' if detail else ""
    return (
        f'<div class="sc-stat" data-stat="{h(key)}"{title_attr}>'
        f'<span class="sc-stat-label">{h(label)}</span>'
        f'<span class="sc-stat-value" title="{h(value)}">{h(value)}</span>{detail_html}</div>'
    )


def _counters_html(stats: Mapping[str, Any], rates: Mapping[str, Any] | None) -> str:
    hits = number(stats.get("hits"))
    misses = number(stats.get("misses"))
    lookups = (hits or 0) + (misses or 0)
    hit_rate = f"{100 * (hits or 0) / lookups:.0f}% hits" if lookups else "no lookups yet"
    failures = number(stats.get("spill_failures"))
    spill_detail = f"{_format_count(failures)} failed" if failures else ""
    evictions_detail = f"{format_bytes(stats.get('evicted_bytes'))} freed"
    if rates is not None:
        evictions_detail += f" \u00b7 {_format_rate_count(rates.get('evictions_per_s'))}"
        spill_rate = _format_rate_bytes(rates.get("spilled_bytes_per_s"))
        spill_detail = f"{spill_rate} \u00b7 {spill_detail}" if spill_detail else spill_rate
    spill_folder = stats.get("spill_folder")
    stats_html = [
        _stat(
            "strong",
            "strong",
            _format_count(stats.get("strong_count")),
            format_bytes(stats.get("strong_bytes")),
            "buffers held in memory by the cache (those with interest)",
        ),
        _stat(
            "weak",
            "weak",
            _format_count(stats.get("weak_count")),
            format_bytes(stats.get("weak_bytes")),
            "buffers findable while something else holds them (no interest, or evicted)",
        ),
        _stat(
            "referenced",
            "referenced",
            _format_count(stats.get("referenced_count")),
            count(stats.get("tempref_count"), "tempref"),
            "checksums with interest (normal refs or a tempref), in memory or not",
        ),
        _stat(
            "evictions",
            "evictions",
            _format_count(stats.get("evictions")),
            evictions_detail,
            "buffers moved from the strong to the weak tier, and the bytes that freed",
        ),
        _stat(
            "spilled",
            "spilled",
            format_bytes(stats.get("spilled_bytes")),
            spill_detail,
            f"written to {spill_folder} before eviction" if spill_folder else "spilling is off",
        ),
        _stat(
            "lookups",
            "hits / misses",
            f"{_format_count(hits)} / {_format_count(misses)}",
            hit_rate,
            "lookups of buffers in memory",
        ),
    ]
    return f'<div class="sc-stats">{"".join(stats_html)}</div>'


def _tier(entry: Mapping[str, Any]) -> tuple[str, str]:
    interest = bool(number(entry.get("normal_refs"))) or bool(number(entry.get("tempref_interest")))
    if entry.get("strong") is True:
        return "strong", "held in memory by the cache"
    if entry.get("in_memory") is True:
        if interest:
            return "weak", "evicted: in memory only while something else holds it"
        return "weak", "in memory while something else holds it"
    return "out", "not in memory: resolved again (from a store or the spill folder) when needed"


_ENTRY_COLUMNS = (
    ("checksum", "checksum", "", ""),
    ("size", "size", "", ""),
    ("tier", "tier", "", ""),
    ("refs", "refs", "", "normal references"),
    ("tempref", "tempref", "refs", "current interest of the decaying tempref, counted in refs"),
    ("interest", "interest", "refs", "refs + tempref: what eviction weighs, counted in refs"),
    ("cost", "cost", "units", "cost units to bring the buffer back (benefit_per_gb is per GiB)"),
)


def _entries_head() -> str:
    cells = []
    for key, label, unit, title in _ENTRY_COLUMNS:
        classes = f"sc-col-{key}" + ("" if key in ("checksum", "tier") else " sc-num")
        title_attr = f' title="{h(title)}"' if title else ""
        unit_html = f'<span class="sc-unit">{h(unit)}</span>' if unit else ""
        cells.append(f'<th scope="col" class="{classes}"{title_attr}>{label}{unit_html}</th>')
    return f"<thead><tr>{''.join(cells)}</tr></thead>"


def _entry_row(entry: Mapping[str, Any]) -> str:
    checksum = str(entry.get("checksum", ""))
    short = checksum[:12] + ("\u2026" if len(checksum) > 12 else "")
    tier, tier_title = _tier(entry)
    refs = number(entry.get("normal_refs"))
    tempref = number(entry.get("tempref_interest"))
    interest = None if refs is None and tempref is None else (refs or 0) + (tempref or 0)
    size = entry.get("size")
    size_text = format_bytes(size) if number(size) is not None else "unknown"
    scratch = " (scratch)" if entry.get("scratch") is True else ""
    return (
        f'<tr class="sc-tier-{tier}">'
        f'<td class="sc-col-checksum"><code title="{h(checksum)}">{h(short)}</code></td>'
        f'<td class="sc-num">{h(size_text)}</td>'
        f'<td><span class="sc-badge sc-badge-{tier}" title="{h(tier_title + scratch)}">'
        f"{tier}</span></td>"
        f'<td class="sc-num">{h(_format_count(refs))}</td>'
        f'<td class="sc-num">{h(_format_interest(tempref))}</td>'
        f'<td class="sc-num">{h(_format_interest(interest))}</td>'
        f'<td class="sc-num" title="{h(entry.get("cost"))} units">'
        f"{h(_format_cost(entry.get('cost')))}</td>"
        "</tr>"
    )


def _entries_html(snapshot: Mapping[str, Any]) -> str:
    """The largest entries, in a section that starts folded when they are many."""
    raw = snapshot.get("entries")
    entries = [e for e in raw if isinstance(e, Mapping)] if isinstance(raw, (list, tuple)) else []
    entry_count = number(snapshot.get("entry_count"))
    if not entries:
        if number(snapshot.get("top")) == 0 and entry_count:
            return (
                '<p class="sc-entries-note">Entries not listed in this view '
                f"({_format_count(entry_count)} in the cache).</p>"
            )
        return '<p class="sc-entries-note">The cache holds no entries.</p>'
    of = f" of {_format_count(entry_count)}" if entry_count is not None else ""
    table = (
        f'<table class="sc-entries">{_entries_head()}<tbody>'
        + "".join(_entry_row(entry) for entry in entries)
        + "</tbody></table>"
    )
    open_ = snapshot.get("live") is True or len(entries) <= ENTRIES_OPEN
    summary = f"Largest entries: {len(entries)}{of}, by size"
    return details(summary, table, open_=open_, css_class="sc-entries-section")


def _spill_html(stats: Mapping[str, Any]) -> str:
    folder = stats.get("spill_folder")
    if not folder:
        return ""
    disk = number(stats.get("spill_disk_bytes"))
    on_disk = f" \u00b7 {h(format_bytes(disk))} on disk" if disk is not None else ""
    return f'<p class="sc-foot">Spill folder: <code>{h(folder)}</code>{on_disk}</p>'


def render_cache_html(snapshot: Mapping[str, Any], *, include_style: bool = True) -> str:
    """The snapshot from :func:`cache_snapshot` as self-contained HTML.

    Optional keys: ``rates`` (``evictions_per_s``, ``evicted_bytes_per_s``,
    ``spilled_bytes_per_s``, as the dashboard adds) shown with the counters; ``live``
    (the dashboard's own rendering: the entries never fold); ``static_note``, a line saying
    the view is a snapshot. ``include_style=False`` leaves out the ``<style>`` element, for
    a page that already has it.
    """
    stats = _mapping(snapshot.get("stats"))
    rates = snapshot.get("rates")
    soft, hard = _caps(stats)
    level = _level(number(stats.get("strong_bytes")) or 0.0, soft, hard)
    inner = (
        f'<div class="sc-card sc-cache" data-level="{level}">'
        + _header_html(level)
        + _snapshot_note_html(snapshot)
        + _warnings_html(stats)
        + _usage_html(stats, _mapping(snapshot.get("process")), level)
        + _counters_html(stats, rates if isinstance(rates, Mapping) else None)
        + _entries_html(snapshot)
        + _spill_html(stats)
        + "</div>"
    )
    css = cache_css() if include_style else None
    return frame(inner, render_cache_text(snapshot), css)


# -- text --------------------------------------------------------------------------------------


def render_cache_text(snapshot: Mapping[str, Any]) -> str:
    """A compact plain-text summary of the snapshot (a few lines)."""
    stats = _mapping(snapshot.get("stats"))
    process = _mapping(snapshot.get("process"))
    strong = number(stats.get("strong_bytes")) or 0.0
    soft = number(stats.get("soft_cap"))
    hard = number(stats.get("hard_cap"))
    level = _level(strong, *_caps(stats))
    lines = [
        f"Buffer cache ({_STATE_TEXT[level]})",
        f"  strong {format_bytes(strong)} in {count(stats.get('strong_count'), 'buffer')}"
        f" (soft cap {format_bytes(soft)}, hard cap {format_bytes(hard)})",
        f"  weak   {format_bytes(stats.get('weak_bytes'))} in "
        f"{count(stats.get('weak_count'), 'buffer')}",
        f"  evictions {_format_count(stats.get('evictions'))} "
        f"({format_bytes(stats.get('evicted_bytes'))}), "
        f"spilled {format_bytes(stats.get('spilled_bytes'))}, "
        f"hits/misses {_format_count(stats.get('hits'))}/{_format_count(stats.get('misses'))}",
    ]
    rates = snapshot.get("rates")
    if isinstance(rates, Mapping):
        lines.append(
            f"  rates: {_format_rate_count(rates.get('evictions_per_s'))} evictions, "
            f"{_format_rate_bytes(rates.get('spilled_bytes_per_s'))} spilled"
        )
    rss = number(process.get("rss"))
    total = number(process.get("total"))
    if rss is not None:
        of = f" of {format_bytes(total)}" if total else ""
        lines.append(f"  process RSS {format_bytes(rss)}{of}")
    disk = number(stats.get("spill_disk_bytes"))
    if stats.get("spill_folder") and disk is not None:
        lines.append(f"  spill folder {format_bytes(disk)} on disk")
    lines.extend(f"  warning: {w}" for w in _warnings(stats))
    lines.extend(_entries_text(snapshot.get("entries")))
    note = snapshot.get("static_note")
    if isinstance(note, str):
        lines.append(f"  ({note})")
    return "\n".join(lines)


def _entries_text(entries: Any) -> list[str]:
    if not isinstance(entries, (list, tuple)) or not entries:
        return []
    lines = [f"  largest entries ({len(entries)}):"]
    for entry in entries[:5]:
        if not isinstance(entry, Mapping):
            continue
        checksum = str(entry.get("checksum", ""))[:16]
        tier, _ = _tier(entry)
        lines.append(f"    {checksum}  {format_bytes(entry.get('size')):>10}  {tier}")
    if len(entries) > 5:
        lines.append(f"    ... {len(entries) - 5} more")
    return lines
