"""One picture of the buffer cache, shared by ``BufferCache._repr_html_`` and the dashboard.

:func:`cache_snapshot` reads a cache (and the process's memory) into a plain dict;
:func:`render_cache_html` and :func:`render_cache_text` are pure functions of that dict.
The HTML needs no JavaScript: bars are styled ``<div>``s, colours come from
``static/dashboard.css`` (inlined once per rendering), details from ``title`` tooltips.
Like the package's other views, it carries its plain-text rendering, which shows instead
of the HTML wherever the stylesheet is stripped.
Everything taken from the snapshot is escaped, and numbers are coerced to numbers first,
so a snapshot from anywhere renders safely.

The strong-usage bar has three zones, each drawn at a fixed share of the width so that
usage stays readable whatever the ratio of the caps: up to the soft cap, between the caps,
and beyond the hard cap. The fill changes colour at each cap.
"""

from __future__ import annotations

import functools
import heapq
import math
import os
from collections.abc import Mapping
from html import escape
from importlib import resources
from typing import Any

__all__ = [
    "cache_snapshot",
    "format_bytes",
    "largest_entries",
    "process_memory",
    "render_cache_html",
    "render_cache_text",
    "stylesheet",
]

# Share of the strong bar's width given to each zone, in percent.
_ZONE_SOFT, _ZONE_MID, _ZONE_OVER = 55.0, 30.0, 15.0
# Process memory: warn / alarm at these fractions of the machine's total memory.
_PROCESS_WARN, _PROCESS_ALARM = 0.75, 0.90
_DASH = "\u2014"

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


@functools.lru_cache(maxsize=1)
def stylesheet() -> str:
    """The dashboard's stylesheet (read once)."""
    return resources.files(__package__).joinpath("static", "dashboard.css").read_text("utf-8")


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
    """What the cache holds now, as a plain dict.

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


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (bools, strings, NaN... are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def format_bytes(value: Any) -> str:
    """``1536`` -> ``'1.5 KiB'``: binary units, three significant digits, exact values
    without decimals (``5 GiB``); ``'—'`` for anything that is not a number."""
    n = _number(value)
    if n is None:
        return _DASH
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


def _format_count(value: Any) -> str:
    n = _number(value)
    if n is None:
        return _DASH
    return f"{int(n):,}" if n == int(n) else f"{n:,.2f}"


def _format_rate_bytes(value: Any) -> str:
    n = _number(value)
    return _DASH if n is None else f"{format_bytes(n)}/s"


def _format_rate_count(value: Any) -> str:
    n = _number(value)
    if n is None:
        return _DASH
    return f"{n:.0f}/s" if n >= 10 or n == int(n) else f"{n:.2f}/s"


def _format_interest(value: Any) -> str:
    n = _number(value)
    if n is None:
        return _DASH
    if n == 0:
        return "0"
    if n == int(n):
        return f"{int(n):,}"
    return f"{n:.3g}" if n < 1000 else f"{n:,.0f}"


def _format_cost(value: Any) -> str:
    n = _number(value)
    if n is None:
        return _DASH
    if n == 0:
        return "0"
    if n < 0.001:  # 1.4e-6, not 1.4e-06
        mantissa, exponent = f"{n:.2e}".split("e")
        return f"{float(mantissa):.2g}e{int(exponent)}"
    return f"{n:.3g}" if n < 1000 else f"{n:,.0f}"


def _pct(value: float) -> str:
    # A CSS percentage, never anything but digits and a dot.
    return f"{min(100.0, max(0.0, value)):.3f}%"


def _h(value: Any) -> str:
    return escape(str(value), quote=True)


# -- geometry ----------------------------------------------------------------------------------


def _zones(soft: float, hard: float) -> tuple[float, float, float]:
    """Widths (percent) of the soft, between-caps and beyond-hard zones."""
    if soft > 0 and hard > soft:
        return _ZONE_SOFT, _ZONE_MID, _ZONE_OVER
    if soft > 0:  # soft == hard
        return _ZONE_SOFT + _ZONE_MID, 0.0, _ZONE_OVER
    if hard > 0:  # soft == 0
        return 0.0, _ZONE_SOFT + _ZONE_MID, _ZONE_OVER
    return 0.0, 0.0, 100.0


def _position(usage: float, soft: float, hard: float) -> float:
    """Where ``usage`` falls on the zoned scale, in percent of the bar."""
    z_soft, z_mid, z_over = _zones(soft, hard)
    if usage <= 0:
        return 0.0
    if usage <= soft:
        return z_soft * usage / soft
    if usage <= hard:
        return z_soft + z_mid * (usage - soft) / (hard - soft)
    beyond = (usage - hard) / hard if hard > 0 else 1.0
    return z_soft + z_mid + z_over * min(1.0, beyond)


def _level(usage: float, soft: float | None, hard: float | None) -> str:
    if hard is not None and usage > hard:
        return "over"
    if soft is not None and usage > soft:
        return "warn"
    return "ok"


# -- HTML --------------------------------------------------------------------------------------


def _meter(
    kind: str,
    label: str,
    value_html: str,
    fill: float,
    level: str,
    title: str,
    zones: tuple[float, float, float] | None,
    ticks: list[tuple[float, str, str]],
) -> str:
    """One labelled bar. ``fill`` in percent; ``zones`` shade the track; ``ticks`` are
    ``(position, css suffix, label)`` cap markers, labelled below the bar when ``label``."""
    out = [
        f'<div class="sc-meter sc-meter-{kind}" data-level="{level}">',
        '<div class="sc-meter-head">',
        f'<span class="sc-meter-label">{_h(label)}</span>',
        f'<span class="sc-meter-value">{value_html}</span>',
        "</div>",
        f'<div class="sc-track" title="{_h(title)}" role="meter" aria-label="{_h(label)}" '
        f'aria-valuenow="{fill:.1f}" aria-valuemin="0" aria-valuemax="100">',
    ]
    if zones is not None:
        z_soft, z_mid, z_over = zones
        out.append(
            f'<div class="sc-zone sc-zone-mid" style="left:{_pct(z_soft)};width:{_pct(z_mid)}">'
            "</div>"
            f'<div class="sc-zone sc-zone-over" style="left:{_pct(z_soft + z_mid)};'
            f'width:{_pct(z_over)}"></div>'
        )
    # Anything above zero stays visible.
    width = max(fill, 0.6) if fill > 0 else 0.0
    out.append(f'<div class="sc-fill sc-level-{level}" style="width:{_pct(width)}"></div>')
    for position, suffix, _ in ticks:
        out.append(f'<div class="sc-cap sc-cap-{suffix}" style="left:{_pct(position)}"></div>')
    out.append("</div>")
    labelled = [(p, s, t) for p, s, t in ticks if t]
    if labelled:
        out.append('<div class="sc-axis">')
        for position, suffix, text in labelled:
            # Each label ends at its marker, whose line it continues.
            out.append(
                f'<span class="sc-axis-tick sc-cap-{suffix}" style="right:{_pct(100 - position)}">'
                f"{_h(text)}</span>"
            )
        out.append("</div>")
    out.append("</div>")
    return "".join(out)


def _cap_ticks(soft: float | None, hard: float | None, labelled: bool) -> list:
    if soft is None or hard is None or hard <= 0:
        return []
    z_soft, z_mid, _ = _zones(soft, hard)
    if soft == hard:
        text = f"soft = hard {format_bytes(hard)}" if labelled else ""
        return [(z_soft, "hard", text)]
    ticks = []
    if soft > 0:
        ticks.append((z_soft, "soft", f"soft {format_bytes(soft)}" if labelled else ""))
    ticks.append((z_soft + z_mid, "hard", f"hard {format_bytes(hard)}" if labelled else ""))
    return ticks


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


def _tier(entry: Mapping[str, Any]) -> tuple[str, str]:
    interest = bool(_number(entry.get("normal_refs"))) or bool(
        _number(entry.get("tempref_interest"))
    )
    if entry.get("strong") is True:
        return "strong", "held in memory by the cache"
    if entry.get("in_memory") is True:
        if interest:
            return "weak", "evicted: in memory only while something else holds it"
        return "weak", "in memory while something else holds it"
    return "out", "not in memory: resolved again (from a store or the spill folder) when needed"


def _entries_table(snapshot: Mapping[str, Any]) -> str:
    entries = snapshot.get("entries")
    if not isinstance(entries, (list, tuple)):
        entries = []
    entries = [e for e in entries if isinstance(e, Mapping)]
    count = _number(snapshot.get("entry_count"))
    top = _number(snapshot.get("top"))
    if not entries:
        if top == 0 and count:
            return (
                '<p class="sc-entries-note">Entries not listed in this view '
                f"({_format_count(count)} in the cache).</p>"
            )
        return '<p class="sc-entries-note">The cache holds no entries.</p>'
    of = f" of {_format_count(count)}" if count is not None else ""
    out = [
        '<table class="sc-entries">',
        f"<caption>Largest entries: {len(entries)}{of}, by size</caption>",
        "<thead><tr>"
        '<th scope="col" class="sc-col-checksum">checksum</th>'
        '<th scope="col" class="sc-num">size</th>'
        '<th scope="col">tier</th>'
        '<th scope="col" class="sc-num" title="normal references">refs</th>'
        '<th scope="col" class="sc-num" title="current interest of the decaying tempref">'
        "tempref</th>"
        '<th scope="col" class="sc-num" title="refs + tempref: what eviction weighs">'
        "interest</th>"
        '<th scope="col" class="sc-num" title="cost units to bring the buffer back">cost</th>'
        "</tr></thead><tbody>",
    ]
    for entry in entries:
        checksum = str(entry.get("checksum", ""))
        short = checksum[:12] + ("\u2026" if len(checksum) > 12 else "")
        tier, tier_title = _tier(entry)
        refs = _number(entry.get("normal_refs"))
        tempref = _number(entry.get("tempref_interest"))
        interest = None if refs is None and tempref is None else (refs or 0) + (tempref or 0)
        size = entry.get("size")
        size_text = format_bytes(size) if _number(size) is not None else "unknown"
        scratch = " (scratch)" if entry.get("scratch") is True else ""
        out.append(
            f'<tr class="sc-tier-{tier}">'
            f'<td class="sc-col-checksum"><code title="{_h(checksum)}">{_h(short)}</code></td>'
            f'<td class="sc-num">{_h(size_text)}</td>'
            f'<td><span class="sc-badge sc-badge-{tier}" title="{_h(tier_title + scratch)}">'
            f"{tier}</span></td>"
            f'<td class="sc-num">{_h(_format_count(refs))}</td>'
            f'<td class="sc-num">{_h(_format_interest(tempref))}</td>'
            f'<td class="sc-num">{_h(_format_interest(interest))}</td>'
            f'<td class="sc-num" title="{_h(entry.get("cost"))} units">'
            f"{_h(_format_cost(entry.get('cost')))}</td>"
            "</tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def _stat(key: str, label: str, value: str, detail: str = "", title: str = "") -> str:
    title_attr = f' title="{_h(title)}"' if title else ""
    detail_html = f'<span class="sc-stat-detail">{_h(detail)}</span>' if detail else ""
    return (
        f'<div class="sc-stat" data-stat="{_h(key)}"{title_attr}>'
        f'<span class="sc-stat-label">{_h(label)}</span>'
        f'<span class="sc-stat-value">{_h(value)}</span>{detail_html}</div>'
    )


def render_cache_html(snapshot: Mapping[str, Any], *, include_style: bool = True) -> str:
    """The snapshot from :func:`cache_snapshot` as self-contained HTML.

    An optional ``snapshot["rates"]`` (``evictions_per_s``, ``evicted_bytes_per_s``,
    ``spilled_bytes_per_s``), as the dashboard adds, is shown with the counters.
    ``include_style=False`` leaves out the ``<style>`` element, for a page that already
    has it.
    """
    stats = snapshot.get("stats")
    stats = stats if isinstance(stats, Mapping) else {}
    process = snapshot.get("process")
    process = process if isinstance(process, Mapping) else {}
    rates = snapshot.get("rates")
    rates = rates if isinstance(rates, Mapping) else None

    strong = _number(stats.get("strong_bytes")) or 0.0
    weak = _number(stats.get("weak_bytes")) or 0.0
    soft = _number(stats.get("soft_cap"))
    hard = _number(stats.get("hard_cap"))
    if soft is not None and hard is not None and not 0 <= soft <= hard:
        soft = hard = None  # nonsense caps: draw no zones rather than wrong ones
    level = _level(strong, soft, hard)

    out = [f"<style>{stylesheet()}</style>"] if include_style else []
    # The plain-text rendering shows where the stylesheet is stripped (untrusted notebooks,
    # static viewers); the stylesheet hides it and shows the HTML instead.
    out.append(
        f'<div class="sc-cache-view"><pre class="sc-cache-fallback">'
        f"{_h(render_cache_text(snapshot))}</pre>"
        '<div class="sc-cache-wrap" style="display:none">'
    )
    out.append(f'<div class="sc-cache" data-level="{level}">')
    out.append(
        '<div class="sc-cache-head"><span class="sc-cache-title">Buffer cache</span>'
        f'<span class="sc-state sc-level-{level}" title="{_h(_STATE_TITLE[level])}">'
        f"{_STATE_TEXT[level]}</span></div>"
    )

    # strong and weak usage, on the same zoned scale
    if soft is not None and hard is not None:
        zones = _zones(soft, hard)
        scale_note = (
            f"Scale: 0 to the soft cap ({format_bytes(soft)}) over the first {zones[0]:.0f}%, "
            f"the soft to the hard cap ({format_bytes(hard)}) over the next {zones[1]:.0f}%, "
            f"up to twice the hard cap over the last {zones[2]:.0f}%."
        )
        strong_fill = _position(strong, soft, hard)
        weak_fill = _position(weak, soft, hard)
        strong_value = (
            f'<b class="sc-strong-bytes">{_h(format_bytes(strong))}</b>'
            f'<span class="sc-of"> of soft cap {_h(format_bytes(soft))}'
            f" \u00b7 hard cap {_h(format_bytes(hard))}</span>"
        )
    else:
        zones, scale_note = None, "Caps unknown."
        strong_fill = weak_fill = 100.0 if strong or weak else 0.0
        strong_value = f'<b class="sc-strong-bytes">{_h(format_bytes(strong))}</b>'
    out.append(
        _meter(
            "strong",
            "Strong (held by the cache)",
            strong_value,
            strong_fill,
            level,
            f"{format_bytes(strong)} held. {scale_note}",
            zones,
            _cap_ticks(soft, hard, labelled=True),
        )
    )
    out.append(
        _meter(
            "weak",
            "Weak (in memory, held elsewhere)",
            f'<b class="sc-weak-bytes">{_h(format_bytes(weak))}</b>',
            weak_fill,
            "weak",
            f"{format_bytes(weak)} findable while other objects keep them. {scale_note}",
            None,
            _cap_ticks(soft, hard, labelled=False),
        )
    )

    # process memory, linear against the machine's total
    rss = _number(process.get("rss"))
    total = _number(process.get("total"))
    if rss is not None and total:
        fraction = rss / total
        p_level = (
            "over" if fraction > _PROCESS_ALARM else "warn" if fraction > _PROCESS_WARN else "ok"
        )
        out.append(
            _meter(
                "process",
                "Process memory (RSS)",
                f'<b class="sc-rss">{_h(format_bytes(rss))}</b>'
                f'<span class="sc-of"> of {_h(format_bytes(total))} total '
                f"({100 * fraction:.1f}%)</span>",
                100 * fraction,
                "process" if p_level == "ok" else p_level,
                f"Resident memory of this process: {format_bytes(rss)} of "
                f"{format_bytes(total)} on this machine.",
                None,
                [],
            )
        )
    elif rss is not None:
        out.append(f'<p class="sc-entries-note">Process memory (RSS): {_h(format_bytes(rss))}</p>')

    # counters
    hits = _number(stats.get("hits"))
    misses = _number(stats.get("misses"))
    lookups = (hits or 0) + (misses or 0)
    hit_rate = f"{100 * (hits or 0) / lookups:.0f}% hits" if lookups else "no lookups yet"
    failures = _number(stats.get("spill_failures"))
    spill_detail = f"{_format_count(failures)} failed" if failures else ""
    evictions_detail = f"{format_bytes(stats.get('evicted_bytes'))} freed"
    if rates is not None:
        evictions_detail += f" \u00b7 {_format_rate_count(rates.get('evictions_per_s'))}"
        spill_rate = _format_rate_bytes(rates.get("spilled_bytes_per_s"))
        spill_detail = f"{spill_rate} \u00b7 {spill_detail}" if spill_detail else spill_rate
    out.append('<div class="sc-stats">')
    out.append(
        _stat(
            "strong",
            "strong",
            _format_count(stats.get("strong_count")),
            format_bytes(stats.get("strong_bytes")),
            "buffers held in memory by the cache (those with interest)",
        )
    )
    out.append(
        _stat(
            "weak",
            "weak",
            _format_count(stats.get("weak_count")),
            format_bytes(stats.get("weak_bytes")),
            "buffers findable while something else holds them (no interest, or evicted)",
        )
    )
    out.append(
        _stat(
            "referenced",
            "referenced",
            _format_count(stats.get("referenced_count")),
            f"{_format_count(stats.get('tempref_count'))} temprefs",
            "checksums with interest (normal refs or a tempref), in memory or not",
        )
    )
    out.append(
        _stat(
            "evictions",
            "evictions",
            _format_count(stats.get("evictions")),
            evictions_detail,
            "buffers moved from the strong to the weak tier, and the bytes that freed",
        )
    )
    spill_folder = stats.get("spill_folder")
    out.append(
        _stat(
            "spilled",
            "spilled",
            format_bytes(stats.get("spilled_bytes")),
            spill_detail,
            f"written to {spill_folder} before eviction" if spill_folder else "spilling is off",
        )
    )
    out.append(
        _stat(
            "lookups",
            "hits / misses",
            f"{_format_count(hits)} / {_format_count(misses)}",
            hit_rate,
            "lookups of buffers in memory",
        )
    )
    out.append("</div>")

    out.append(_entries_table(snapshot))
    if spill_folder:
        out.append(f'<p class="sc-foot">Spill folder: <code>{_h(spill_folder)}</code></p>')
    out.append("</div></div></div>")
    return "".join(out)


# -- text --------------------------------------------------------------------------------------


def _buffers(count: Any) -> str:
    return f"{_format_count(count)} buffer{'' if _number(count) == 1 else 's'}"


def render_cache_text(snapshot: Mapping[str, Any]) -> str:
    """A compact plain-text summary of the snapshot (a few lines)."""
    stats = snapshot.get("stats")
    stats = stats if isinstance(stats, Mapping) else {}
    process = snapshot.get("process")
    process = process if isinstance(process, Mapping) else {}
    strong = _number(stats.get("strong_bytes")) or 0.0
    soft = _number(stats.get("soft_cap"))
    hard = _number(stats.get("hard_cap"))
    level = _level(strong, soft, hard)
    lines = [
        f"Buffer cache ({_STATE_TEXT[level]})",
        f"  strong {format_bytes(strong)} in {_buffers(stats.get('strong_count'))}"
        f" (soft cap {format_bytes(soft)}, hard cap {format_bytes(hard)})",
        f"  weak   {format_bytes(stats.get('weak_bytes'))} in {_buffers(stats.get('weak_count'))}",
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
    rss = _number(process.get("rss"))
    total = _number(process.get("total"))
    if rss is not None:
        of = f" of {format_bytes(total)}" if total else ""
        lines.append(f"  process RSS {format_bytes(rss)}{of}")
    entries = snapshot.get("entries")
    if isinstance(entries, (list, tuple)) and entries:
        lines.append(f"  largest entries ({len(entries)}):")
        for entry in entries[:5]:
            if not isinstance(entry, Mapping):
                continue
            checksum = str(entry.get("checksum", ""))[:16]
            tier, _ = _tier(entry)
            lines.append(f"    {checksum}  {format_bytes(entry.get('size')):>10}  {tier}")
        if len(entries) > 5:
            lines.append(f"    ... {len(entries) - 5} more")
    return "\n".join(lines)
