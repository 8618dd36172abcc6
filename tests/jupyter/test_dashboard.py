"""The cache view (``cache_view``) and the live dashboard widget, without a browser."""

from __future__ import annotations

import asyncio
import gc
import re
import textwrap
import threading
import time
import weakref
from html import escape
from html.parser import HTMLParser

import pytest
from helpers.cache import FakeClock

pytest.importorskip("ipywidgets")

from ipywidgets.widgets.widget import _instances  # noqa: E402

import seamless_core  # noqa: E402
from seamless_core import Buffer  # noqa: E402
from seamless_core.cache import BufferCache  # noqa: E402
from seamless_core.jupyter import dashboard as dashboard_module  # noqa: E402
from seamless_core.jupyter.cache_view import (  # noqa: E402
    cache_css,
    cache_snapshot,
    format_bytes,
    largest_entries,
    render_cache_html,
    render_cache_text,
    stylesheet,
)
from seamless_core.jupyter.dashboard import (  # noqa: E402
    CacheDashboard,
    close_all_dashboards,
    dashboard,
    live_dashboards,
)

KIB = 1024


@pytest.fixture
def cache(tmp_path):
    """A private cache with small caps; eviction only when asked."""
    cache = BufferCache(
        soft_cap=4 * KIB, hard_cap=16 * KIB, spill_folder=tmp_path / "spill", background=False
    )
    yield cache
    cache.close()


@pytest.fixture
def clock(monkeypatch):
    """The dashboard's clocks, stopped: time passes, and listing the entries takes time, only
    as the test says (a refresh lists the entries again only when the last listing's measured
    cost allows it: on the wall clock, a loaded machine decides)."""
    clock = FakeClock()
    monkeypatch.setattr(dashboard_module, "_monotonic", clock)
    monkeypatch.setattr(dashboard_module, "_perf_counter", clock)
    return clock


@pytest.fixture(autouse=True)
def _no_dashboard_left():
    yield
    close_all_dashboards()


def _add(cache: BufferCache, size: int, fill: int = 0, keep: list | None = None) -> Buffer:
    """Register a ``size``-byte buffer in ``cache`` and give it a normal ref."""
    buffer = Buffer(bytes([fill]) * size)
    checksum = buffer.get_checksum()
    cache.register(buffer)
    cache.incref(checksum)
    if keep is not None:
        keep.append(buffer)
    return buffer


class _Page(HTMLParser):
    """Tags, attributes and text of a rendering."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._in_style = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if not self._in_style:
            self.text.append(data)

    def find(self, css_class: str) -> list[dict]:
        return [a for _, a in self.tags if css_class in (a.get("class") or "").split()]

    def width(self, meter: str) -> float:
        """Fill width (percent) of the ``meter`` bar."""
        inside = False
        for _, a in self.tags:
            classes = (a.get("class") or "").split()
            if "sc-meter" in classes:
                inside = f"sc-meter-{meter}" in classes
            elif inside and "sc-fill" in classes:
                return float(re.fullmatch(r"width:([0-9.]+)%", a["style"]).group(1))
        raise AssertionError(f"no {meter} bar")

    def ticks(self, meter: str) -> dict[str, float]:
        """Positions (percent) of the markers on the ``meter`` bar, by kind."""
        inside, found = False, {}
        for _, a in self.tags:
            classes = (a.get("class") or "").split()
            if "sc-meter" in classes:
                inside = f"sc-meter-{meter}" in classes
            elif inside and "sc-cap" in classes:
                kind = next(c for c in classes if c.startswith("sc-cap-"))[len("sc-cap-") :]
                found[kind] = float(re.fullmatch(r"left:([0-9.]+)%", a["style"]).group(1))
        return found

    def level(self, meter: str) -> str:
        for a in self.find(f"sc-meter-{meter}"):
            return a["data-level"]
        raise AssertionError(f"no {meter} bar")

    @property
    def all_text(self) -> str:
        return " ".join(t.strip() for t in self.text if t.strip())


class _StatCollector(HTMLParser):
    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("data-stat") == self.key:
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.parts.append(data)


def _stat(html: str, key: str) -> list[str]:
    """``[label, value, detail]`` of the ``data-stat=key`` counter."""
    collector = _StatCollector(key)
    collector.feed(html)
    return collector.parts


# -- units ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (1536, "1.50 KiB"),
        (10 * 1024 + 512, "10.5 KiB"),
        (5 * 1024**3, "5 GiB"),
        (50 * 1024**3, "50 GiB"),
        (123.4 * 1024**2, "123 MiB"),
        (None, "\u2014"),
        ("12", "\u2014"),
        (True, "\u2014"),
        (float("nan"), "\u2014"),
    ],
)
def test_format_bytes(value, text):
    assert format_bytes(value) == text


# -- the snapshot and its rendering -------------------------------------------------------------


def test_snapshot_reads_stats_entries_and_process(cache):
    keep = []
    for i, size in enumerate((100, 3000, 700, 50)):
        _add(cache, size, fill=i, keep=keep)
    snapshot = cache_snapshot(cache, top=3)
    assert snapshot["stats"] == cache.stats()
    assert [e["size"] for e in snapshot["entries"]] == [3000, 700, 100]
    assert snapshot["entry_count"] == 4
    assert snapshot["top"] == 3
    process = snapshot["process"]
    assert 0 < process["rss"] < process["total"]
    # top=0: O(1) reads only
    light = cache_snapshot(cache, top=0)
    assert light["entries"] == [] and light["entry_count"] == 4


def test_render_strong_bar_against_caps(cache):
    """Strong usage on a linear scale from 0 to the hard cap (or beyond, when over it),
    with the caps marked where they fall on it."""
    keep = []
    page = _Page(render_cache_html(cache_snapshot(cache)))
    assert page.level("strong") == "ok"
    assert page.width("strong") == 0
    assert "The cache holds no entries." in page.all_text

    _add(cache, 2 * KIB, fill=1, keep=keep)
    page = _Page(render_cache_html(cache_snapshot(cache)))
    assert page.level("strong") == "ok"
    assert page.ticks("strong") == {"soft": 25.0, "hard": 100.0}
    assert page.width("strong") == pytest.approx(12.5)  # 2 of 16 KiB
    assert "2 KiB" in page.all_text and "soft cap 4 KiB" in page.all_text
    assert "hard cap 16 KiB" in page.all_text
    assert "scale 0 to 16 KiB, linear" in page.all_text
    assert "within the soft cap" in page.all_text

    _add(cache, 4 * KIB, fill=2, keep=keep)
    page = _Page(render_cache_html(cache_snapshot(cache)))
    assert page.level("strong") == "warn"
    assert page.width("strong") == pytest.approx(37.5)  # 6 of 16 KiB: between the caps
    assert page.find("sc-fill")[0]["class"] == "sc-fill sc-level-warn"
    assert "above the soft cap" in page.all_text

    _add(cache, 16 * KIB, fill=3, keep=keep)
    page = _Page(render_cache_html(cache_snapshot(cache)))
    assert page.level("strong") == "over"
    # 22 KiB: the scale grows to the usage, and the caps move left on it
    assert page.width("strong") == 100
    assert page.ticks("strong") == pytest.approx({"soft": 400 / 22, "hard": 1600 / 22}, abs=1e-3)
    assert "scale 0 to 22 KiB, linear" in page.all_text
    assert "above the hard cap" in page.all_text


def test_weak_and_process_bars_say_their_scales(cache):
    """Weak usage shares the strong bar's scale and has no cap markers (the caps do not
    govern it); process memory is drawn against the machine's, with the hard cap marked
    on that scale so that the two can be compared."""
    keep = []
    strong = _add(cache, 2 * KIB, fill=1, keep=keep)
    weak = Buffer(b"w" * 4096)
    cache.register(weak)
    snapshot = cache_snapshot(cache)
    snapshot["process"] = {"rss": 40 * KIB, "total": 64 * KIB}
    page = _Page(render_cache_html(snapshot))
    assert page.width("weak") == pytest.approx(25.0)  # 4 of 16 KiB, as the strong bar
    assert page.width("strong") == pytest.approx(12.5)
    assert page.ticks("weak") == {}
    assert "scale 0 to 16 KiB, linear, as strong" in page.all_text
    assert page.width("process") == pytest.approx(62.5)
    assert page.ticks("process") == {"hard": 25.0}
    assert "cache hard cap 16 KiB" in page.all_text
    assert "scale 0 to the machine's 64 KiB, linear" in page.all_text
    # a hard cap beyond the machine's memory is not drawn past the end of the bar
    snapshot["stats"] = {**snapshot["stats"], "hard_cap": 1024 * KIB, "soft_cap": 4 * KIB}
    assert _Page(render_cache_html(snapshot)).ticks("process") == {}
    del strong, weak


def test_warnings_and_spill_disk_usage_are_shown_when_present(cache):
    snapshot = cache_snapshot(cache)
    assert not _Page(render_cache_html(snapshot)).find("sc-warnings")
    snapshot["stats"] = {
        **snapshot["stats"],
        "warnings": ["hard cap 64 GiB is larger than this machine's memory (8 GiB)"],
        "spill_disk_bytes": 3 * 1024**2,
    }
    html = render_cache_html(snapshot)
    page = _Page(html)
    (warnings,) = page.find("sc-warnings")
    assert "hard cap 64 GiB is larger than this machine's memory (8 GiB)" in page.all_text
    assert "3 MiB on disk" in page.all_text
    text = render_cache_text(snapshot)
    assert "warning: hard cap 64 GiB is larger" in text
    assert "spill folder 3 MiB on disk" in text
    snapshot["stats"]["warnings"] = "one warning, as a string"
    assert "one warning, as a string" in _Page(render_cache_html(snapshot)).all_text


def test_entries_table_has_units_and_folds_when_long(cache):
    keep = [_add(cache, 100 + i, fill=i) for i in range(15)]
    html = render_cache_html(cache_snapshot(cache, top=15))
    page = _Page(html)
    heads = re.findall(r"<th [^>]*>(.*?)</th>", html)
    assert any("cost" in head and "units" in head for head in heads)
    assert any("interest" in head and "refs" in head for head in heads)
    (section,) = [a for t, a in page.tags if t == "details"]
    assert "open" not in section  # 15 rows: folded, the summary says how many
    assert "Largest entries: 15 of 15, by size" in page.all_text
    (section,) = [
        a for t, a in _Page(render_cache_html(cache_snapshot(cache, 5))).tags if t == "details"
    ]
    assert "open" in section
    live = {**cache_snapshot(cache, top=15), "live": True}  # the dashboard never folds it
    (section,) = [a for t, a in _Page(render_cache_html(live)).tags if t == "details"]
    assert "open" in section
    del keep


def test_render_weak_counts_process_and_entries(cache):
    keep = []
    strong = _add(cache, 3 * KIB, fill=7, keep=keep)
    weak = Buffer(b"w" * 1500)
    cache.register(weak)
    cache.incref(strong.get_checksum())  # two refs
    cache.tempref(strong.get_checksum(), interest=8.0, fade_interval=1000.0)
    html = render_cache_html(cache_snapshot(cache))
    page = _Page(html)
    assert page.level("weak") == "weak"
    assert page.width("weak") > 0
    assert "1.46 KiB" in page.all_text  # weak bytes
    assert _stat(html, "strong")[1] == "1"
    assert _stat(html, "weak")[1] == "1"
    assert _stat(html, "referenced")[2] == "1 tempref"
    assert "Process memory (RSS)" in page.all_text and " total (" in page.all_text
    # the entries table: largest first, with refs and interest
    rows = re.findall(r"<tr class=\"sc-tier-(\w+)\">(.*?)</tr>", html)
    assert [tier for tier, _ in rows] == ["strong", "weak"]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[0][1])
    assert strong.get_checksum().hex()[:12] in cells[0]
    assert cells[1] == "3 KiB"
    assert cells[3] == "2"  # refs
    assert float(cells[4]) == pytest.approx(8.0, rel=0.01)  # tempref interest
    assert float(cells[5]) == pytest.approx(10.0, rel=0.01)  # total interest
    assert "Largest entries: 2 of 2, by size" in page.all_text
    del weak


def test_render_counters_and_rates(cache):
    keep = []
    for i in range(6):
        _add(cache, 4 * KIB, fill=i, keep=keep)
    result = cache.run_eviction_once()
    assert result.evicted > 0 and result.spilled_bytes > 0
    snapshot = cache_snapshot(cache)
    snapshot["rates"] = {
        "evictions_per_s": 2.5,
        "evicted_bytes_per_s": 4096.0,
        "spilled_bytes_per_s": 2048.0,
    }
    html = render_cache_html(snapshot)
    assert _stat(html, "evictions")[1] == str(result.evicted)
    assert "2.50/s" in _stat(html, "evictions")[2]
    assert _stat(html, "spilled")[1] == format_bytes(result.spilled_bytes)
    assert "2 KiB/s" in _stat(html, "spilled")[2]
    text = render_cache_text(snapshot)
    assert f"evictions {result.evicted}" in text and "2 KiB/s spilled" in text


def test_render_is_self_contained_and_scripts_free(cache):
    html = render_cache_html(cache_snapshot(cache))
    assert html.startswith(f"<style>{cache_css()}</style>")
    assert "sc-matrix" not in cache_css()
    assert "<script" not in html.lower() and "javascript:" not in html.lower()
    assert "<style>" not in render_cache_html(cache_snapshot(cache), include_style=False)
    # the text rendering shows where the stylesheet is stripped, the HTML where it is not
    snapshot = cache_snapshot(cache)
    html = render_cache_html(snapshot)
    # the frame every view shares (its scoping: tests/jupyter/test_html_views.py)
    fallback = re.search(r'<pre class="sc-text-fallback">(.*?)</pre>', html, re.S).group(1)
    assert fallback == escape(render_cache_text(snapshot))
    assert '<div class="sc-wrap" style="display:none">' in html
    css = stylesheet()
    assert re.search(r"\.sc-text-fallback \{\s*display: none;", css)
    assert re.search(r"\.sc-wrap \{\s*display: block !important;", css)
    assert '[data-jp-theme-light="false"] .sc-view' in css


def test_hostile_snapshot_is_escaped():
    evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    snapshot = {
        "stats": {
            "strong_bytes": "<b>lots</b>",
            "strong_count": evil,
            "weak_bytes": 10,
            "weak_count": 1,
            "soft_cap": 100,
            "hard_cap": 1000,
            "evictions": float("nan"),
            "spill_folder": "/tmp/" + evil,
            "tempref_count": evil,
            "warnings": [evil, 3],
            "spill_disk_bytes": evil,
        },
        "entries": [
            {
                "checksum": evil * 2,
                "size": 50,
                "strong": True,
                "normal_refs": evil,
                "tempref_interest": "1e9",
                "cost": evil,
                "scratch": True,
            },
            "not an entry",
            {"checksum": "abc", "size": evil, "strong": "yes"},
        ],
        "entry_count": evil,
        "process": {"rss": evil, "total": 0},
        "rates": {"evictions_per_s": evil},
        "static_note": evil,
    }
    html = render_cache_html(snapshot)
    text = render_cache_text(snapshot)
    lowered = html.lower()
    assert "<script" not in lowered and "<img" not in lowered and "<b>" not in lowered
    page = _Page(html)
    tags = {tag for tag, _ in page.tags}
    assert tags <= {
        "style",
        "div",
        "span",
        "b",
        "p",
        "code",
        "table",
        "caption",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "pre",
        "details",
        "summary",
        "ul",
        "li",
    }
    for _, attributes in page.tags:
        assert "onerror" not in attributes
        style = attributes.get("style")
        assert style is None or re.fullmatch(
            r"display:none|((left|right|width):[0-9.]+%;?)+", style
        ), style
    assert evil in page.all_text  # shown, as text
    assert "/tmp/" + evil in page.all_text
    assert page.find("sc-warnings") and page.find("sc-snapshot-note")  # shown, escaped
    assert "Buffer cache" in text


def test_snapshot_of_the_global_cache():
    snapshot = cache_snapshot()
    assert snapshot["stats"]["soft_cap"] == 5 * 1024**3
    assert "sc-cache" in render_cache_html(snapshot)


# -- the dashboard without an event loop ---------------------------------------------------------


def test_dashboard_is_exported_and_shows_the_cache(cache):
    assert seamless_core.dashboard is dashboard
    assert "dashboard" in dir(seamless_core)
    d = dashboard(cache)
    assert isinstance(d, CacheDashboard) and d in live_dashboards()
    assert d.children[0] is d.view
    assert not d.running  # no event loop here
    assert 'data-state="static"' in d.status.value
    assert d.view.value == render_cache_html(d.snapshot)
    assert _stat(d.view.value, "strong")[1:] == ["0", "0 B"]
    d.close()


def test_dashboard_default_cache_is_the_global_one():
    d = dashboard()
    assert d.cache is seamless_core.get_buffer_cache()
    d.close()


def test_dashboard_values_follow_the_cache(cache, clock):
    keep = []
    d = dashboard(cache, top=5)
    before = d.view.value
    _add(cache, 3 * KIB, fill=1, keep=keep)
    assert d.view.value == before  # only refreshes change the view
    assert d.refresh()
    assert d.view.value != before
    assert _stat(d.view.value, "strong")[1:] == ["1", "3 KiB"]
    assert d.snapshot["stats"]["strong_bytes"] == 3 * KIB
    assert len(d.snapshot["entries"]) == 1
    for i in range(2, 10):
        _add(cache, KIB, fill=i, keep=keep)
    d.refresh()
    assert d.snapshot["stats"]["strong_count"] == 9
    assert len(d.snapshot["entries"]) == 5  # top
    assert _Page(d.view.value).level("strong") == "warn"
    assert d.refresh_count >= 3
    d.close()


class _WarningCache(BufferCache):
    """A cache whose stats carry the optional keys: warnings, and the spill folder's disk
    usage (what a cache with caps beyond the machine's memory reports)."""

    def stats(self):
        return {
            **super().stats(),
            "warnings": ["soft cap 2 TiB is larger than this machine's memory"],
            "spill_disk_bytes": 5 * KIB,
        }


def test_dashboard_shows_warnings_and_spill_disk_usage(tmp_path):
    cache = _WarningCache(
        soft_cap=4 * KIB, hard_cap=16 * KIB, spill_folder=tmp_path / "spill", background=False
    )
    try:
        d = dashboard(cache)
        page = _Page(d.view.value)
        assert page.find("sc-warnings")
        assert "soft cap 2 TiB is larger than this machine's memory" in page.all_text
        assert "5 KiB on disk" in page.all_text
        d.close()
    finally:
        cache.close()


def test_dashboard_rates(cache, clock):
    keep = []
    d = dashboard(cache)
    assert d.snapshot["rates"]["evictions_per_s"] is None  # nothing to compare with yet
    for i in range(6):
        _add(cache, 4 * KIB, fill=i, keep=keep)
    result = cache.run_eviction_once()
    clock.advance(2.0)
    d.refresh()
    rates = d.snapshot["rates"]
    assert rates["evictions_per_s"] == pytest.approx(result.evicted / 2)
    assert rates["spilled_bytes_per_s"] == pytest.approx(result.spilled_bytes / 2)
    assert rates["evicted_bytes_per_s"] == pytest.approx(result.evicted_bytes / 2)
    clock.advance(1.0)
    d.refresh()
    assert d.snapshot["rates"]["evictions_per_s"] == 0
    d.close()


def test_slow_listings_of_the_entries_are_spaced_out(cache, clock, monkeypatch):
    listings = []

    def slow_listing(cache_, top):
        listings.append(top)
        clock.advance(0.5)  # the next listing waits _ENTRIES_COST_FACTOR times this
        return largest_entries(cache_, top)

    monkeypatch.setattr(dashboard_module, "largest_entries", slow_listing)
    keep = []
    d = dashboard(cache, top=5)
    assert listings == [5]
    wait = dashboard_module._ENTRIES_COST_FACTOR * 0.5
    _add(cache, 3 * KIB, fill=1, keep=keep)
    clock.advance(wait - 6)
    d.refresh()
    assert d.snapshot["stats"]["strong_count"] == 1  # the totals are always fresh ...
    assert len(listings) == 1 and d.snapshot["entries"] == []  # ... the listing is not due
    clock.advance(5.5)  # wait seconds since the last listing started
    d.refresh()
    assert len(listings) == 2 and len(d.snapshot["entries"]) == 1
    clock.advance(wait - 1)  # nothing changed: listed again after max(ENTRIES_INTERVAL, wait)
    d.refresh()
    assert len(listings) == 2
    clock.advance(0.5)
    d.refresh()
    assert len(listings) == 3
    _add(cache, KIB, fill=2, keep=keep)
    d.refresh_button.click()  # the button lists them at once
    assert len(listings) == 4 and len(d.snapshot["entries"]) == 2
    d.close()


def test_evict_button(cache):
    keep = []
    d = dashboard(cache)
    d.evict_button.click()
    assert "within the soft cap" in d.status.value
    for i in range(6):
        _add(cache, 4 * KIB, fill=i, keep=keep)
    d.refresh()
    assert _Page(d.view.value).level("strong") == "over"
    d.evict_button.click()
    stats = cache.stats()
    assert stats["evictions"] > 0 and stats["strong_bytes"] <= 4 * KIB
    assert "evicted" in d.status.value
    assert d.snapshot["stats"] == stats  # the click refreshed the view
    assert _Page(d.view.value).level("strong") == "ok"
    assert _stat(d.view.value, "evictions")[1] == str(stats["evictions"])
    d.close()


def test_pause_and_refresh_buttons(cache):
    keep = []
    d = dashboard(cache)
    d.pause_button.click()
    assert d.paused and d.pause_button.description == "Resume"
    assert 'data-state="paused"' in d.status.value
    _add(cache, KIB, keep=keep)
    count = d.refresh_count
    d.refresh_button.click()  # a manual refresh works while paused
    assert d.refresh_count == count + 1
    assert d.snapshot["stats"]["strong_count"] == 1
    d.pause_button.click()
    assert not d.paused and d.pause_button.description == "Pause"
    d.close()


def test_mimebundle_fallback(cache, monkeypatch):
    """Where no widget manager runs (nbconvert, nbviewer, plain IPython), the bundle's HTML
    and text are a snapshot, and say so."""
    keep = []
    _add(cache, 2 * KIB, keep=keep)
    taken = time.struct_time((2026, 1, 2, 13, 4, 5, 4, 2, 0))
    monkeypatch.setattr(dashboard_module, "_localtime", lambda: taken)
    d = dashboard(cache)
    assert not _Page(d.view.value).find("sc-snapshot-note")  # the live view is not one
    bundle = d._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == d.model_id
    assert bundle["text/plain"].startswith("Buffer cache")
    assert "strong 2 KiB in 1 buffer " in bundle["text/plain"]
    assert "soft cap 4 KiB, hard cap 16 KiB" in bundle["text/plain"]
    assert 'class="sc-card sc-cache"' in bundle["text/html"]
    assert "<style>" in bundle["text/html"]
    note = "snapshot at 13:04:05; live in JupyterLab (or any front end with ipywidgets)"
    page = _Page(bundle["text/html"])
    (shown,) = page.find("sc-snapshot-note")
    assert note in page.all_text
    assert bundle["text/plain"].endswith(f"({note})")
    # what plain IPython would show
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(d)
    assert data["text/plain"] == bundle["text/plain"]
    assert data["text/html"] == bundle["text/html"]
    d.close()
    assert repr(d) == "<CacheDashboard (closed)>"


def test_interval_is_validated(cache):
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="interval"):
            dashboard(cache, interval=bad)


# -- the dashboard in an event loop ---------------------------------------------------------------


def _run(coroutine_function, timeout=30.0):
    async def main():
        return await asyncio.wait_for(coroutine_function(), timeout)

    return asyncio.run(main())


async def _until(predicate, timeout: float = 20.0) -> bool:
    """Whether ``predicate()`` comes true within ``timeout`` seconds. A refresh every 10 ms
    need not have run twice after 50 ms: on a loaded machine the loop may wake once."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


def test_live_refresh_and_close_stops_it(cache):
    keep = []
    writers = set()

    async def scenario():
        d = dashboard(cache, interval=0.01)
        d.view.observe(lambda change: writers.add(threading.current_thread()), "value")
        assert d.running and 'data-state="live"' in d.status.value
        _add(cache, 3 * KIB, keep=keep)
        assert await _until(lambda: d.snapshot["stats"]["strong_count"] == 1)  # by itself
        assert _stat(d.view.value, "strong")[2] == "3 KiB"
        task = d._task
        d.close()
        assert d.closed and not d.running
        await asyncio.sleep(0)
        assert task.done()
        count = d.refresh_count
        await asyncio.sleep(0.1)
        assert d.refresh_count == count

    _run(scenario)
    assert writers == {threading.main_thread()}


def test_pause_stops_live_refresh(cache):
    async def scenario():
        d = dashboard(cache, interval=0.01)
        await asyncio.sleep(0.05)
        d.pause()
        count = d.refresh_count
        await asyncio.sleep(0.1)
        assert d.refresh_count == count and d.running
        d.resume()  # refreshes at once, then periodically
        assert await _until(lambda: d.refresh_count > count + 1)
        d.close()

    _run(scenario)


def test_refresh_stops_when_the_cache_goes_away(tmp_path):
    async def scenario():
        cache = BufferCache(spill_folder=tmp_path, background=False)
        d = dashboard(cache, interval=0.01)
        await asyncio.sleep(0.03)
        task = d._task
        del cache
        gc.collect()
        assert await _until(task.done)
        assert not d.running
        assert "no longer exists" in d.status.value
        assert not d.start() and not d.refresh()
        d.close()

    _run(scenario)


def test_dashboard_does_not_keep_the_cache_alive(tmp_path):
    cache = BufferCache(spill_folder=tmp_path, background=False)
    ref = weakref.ref(cache)
    d = dashboard(cache)
    del cache
    gc.collect()
    assert ref() is None and d.cache is None
    d.close()


def test_start_later_in_a_loop(cache):
    d = dashboard(cache, interval=0.01)
    assert not d.running

    async def scenario():
        assert d.start() and d.running
        assert await _until(lambda: d.refresh_count > 2)
        d.close()
        assert not d.start()

    _run(scenario)


def test_close_all_dashboards(cache):
    async def scenario():
        baseline = len(asyncio.all_tasks())
        opened = [dashboard(cache, interval=0.01) for _ in range(5)]
        assert all(d.running for d in opened)
        assert close_all_dashboards() == 5
        assert all(d.closed and not d.running for d in opened)
        assert live_dashboards() == []
        await asyncio.sleep(0.02)
        assert len(asyncio.all_tasks()) == baseline

    _run(scenario)


def test_hundred_dashboards_leave_nothing_behind(cache):
    keep = []
    _add(cache, 2 * KIB, keep=keep)
    widgets_before = set(_instances)

    async def scenario():
        baseline = len(asyncio.all_tasks())
        refs = []
        tasks = []
        for i in range(100):
            d = dashboard(cache, interval=0.005)
            if i % 3 == 0:
                d.pause_button.click()
            if i % 7 == 0:
                d.evict_button.click()
            refs.append(weakref.ref(d))
            tasks.append(weakref.ref(d._task))
            del d
        assert len(asyncio.all_tasks()) == baseline + 100
        # every one not paused refreshes by itself
        assert await _until(lambda: all(r().refresh_count > 1 for r in refs if not r().paused))
        for ref in refs:
            ref().close()
        assert await _until(lambda: len(asyncio.all_tasks()) == baseline)
        gc.collect()
        alive = [ref for ref in refs if ref() is not None]
        assert not alive, f"{len(alive)} dashboards still alive: {gc.get_referrers(alive[0]())}"
        assert all(ref() is None for ref in tasks)

    _run(scenario)
    gc.collect()
    assert set(_instances) == widgets_before  # no widget (or layout, style) left open
    assert live_dashboards() == []


def test_unloading_the_extension_closes_dashboards(fresh_python, tmp_path):
    """``%unload_ext seamless_core`` closes every dashboard and ends its refresh task (in a
    separate process: IPython's test shell is a one-per-process singleton)."""
    if not hasattr(seamless_core, "unload_ipython_extension"):
        pytest.skip("the IPython extension is not there yet")
    script = textwrap.dedent(
        f"""
        import asyncio
        from IPython.testing.globalipapp import get_ipython
        from seamless_core.cache import BufferCache
        from seamless_core.jupyter.dashboard import dashboard, live_dashboards

        ip = get_ipython()
        cache = BufferCache(spill_folder={str(tmp_path)!r}, background=False)

        async def scenario():
            ip.run_line_magic("load_ext", "seamless_core")
            opened = [dashboard(cache, interval=0.01) for _ in range(3)]
            tasks = [d._task for d in opened]
            await asyncio.sleep(0.03)
            ip.run_line_magic("unload_ext", "seamless_core")
            assert all(d.closed for d in opened), "not closed"
            await asyncio.sleep(0)
            assert all(task.done() for task in tasks), "tasks alive"
            assert live_dashboards() == []
            print("ok")

        asyncio.run(scenario())
        """
    )
    result = fresh_python(script, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_hidden_dashboards_skip_their_refreshes(cache):
    async def scenario():
        d = dashboard(cache, interval=0.01)
        assert d.visible  # no front end has reported views: assume it is shown
        assert await _until(lambda: d.refresh_count > 2)
        d._view_count = 1  # as a front end does when it shows the widget
        d._view_count = 0  # ... and when its output is cleared
        assert not d.visible
        count = d.refresh_count
        await asyncio.sleep(0.1)
        assert d.refresh_count == count and d.running
        d._view_count = 1  # shown again: refreshed at once, then periodically
        assert d.refresh_count == count + 1
        assert await _until(lambda: d.refresh_count > count + 2)
        d.close()

    _run(scenario)


def test_status_when_the_loop_ends(cache):
    opened = []

    async def scenario():
        opened.append(dashboard(cache, interval=0.01))
        await asyncio.sleep(0.03)
        assert 'data-state="live"' in opened[0].status.value

    _run(scenario)  # ends its loop with the dashboard open
    d = opened[0]
    assert not d.running and not d.closed
    assert 'data-state="static"' in d.status.value
    assert d.refresh()  # still usable by hand
    d.close()


def test_a_failing_cache_read_is_shown_and_logged_once(cache, monkeypatch, caplog):
    d = dashboard(cache)
    calls = []

    def broken():
        calls.append(1)
        raise RuntimeError("disk on fire <b>")

    monkeypatch.setattr(cache, "stats", broken)
    value = d.view.value
    with caplog.at_level("ERROR", logger="seamless_core.jupyter.dashboard"):
        assert d.refresh() and d.refresh()
    assert len(calls) == 2
    assert len(caplog.records) == 1
    assert "disk on fire &lt;b&gt;" in d.status.value  # escaped
    assert d.view.value == value  # the last good view stays
    monkeypatch.undo()
    d.refresh()
    assert "disk on fire" not in d.status.value
    d.close()
