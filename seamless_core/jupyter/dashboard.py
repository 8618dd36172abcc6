"""``seamless_core.dashboard()``: a live view of the buffer cache, as an ipywidgets widget.

The widget shows :func:`~seamless_core.jupyter.cache_view.render_cache_html` of a fresh
snapshot (the same rendering as the cache's own ``_repr_html_``), with eviction and spill
rates measured between refreshes, and buttons to run an eviction pass and to pause the
refresh.

How it stays live, and how it stops:

- Refreshes run as one asyncio task on the event loop that is running when the dashboard
  is made (the kernel's loop, in Jupyter), so they happen in the thread that runs cells and
  handles button clicks; no other thread ever writes to the widgets. Without a running loop
  (a plain script) nothing refreshes by itself, but :meth:`CacheDashboard.refresh` works.
- A refresh only reads ``cache.stats()`` (O(1)), the process's memory and, when they may
  have changed and not more often than keeps their cost small, the largest entries; then
  it assigns widget values (traitlets send nothing when a value is unchanged).
- The task holds the dashboard and the cache only weakly between ticks. It ends when the
  dashboard is closed, when :func:`close_all_dashboards` runs (the extension's unload
  does it), when the cache is garbage-collected, or when its loop stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import weakref
from html import escape
from typing import TYPE_CHECKING, Any

from .._optional import require
from .cache_view import (
    cache_snapshot,
    format_bytes,
    largest_entries,
    render_cache_html,
    render_cache_text,
)

if TYPE_CHECKING:
    import ipywidgets as widgets
else:  # one line naming the extra to install when ipywidgets is missing
    widgets = require("ipywidgets", "jupyter", "seamless_core.dashboard()")

logger = logging.getLogger(__name__)

__all__ = [
    "CacheDashboard",
    "close_all_dashboards",
    "dashboard",
    "live_dashboards",
    "static_snapshot",
]

# Listing the largest entries costs O(entries): after a listing that took t seconds, the
# next one waits at least this many times t, so that it never takes more than a few
# percent of the kernel's time. Unchanged totals are listed again every ENTRIES_INTERVAL
# seconds anyway (tempref interest fades without any total changing).
_ENTRIES_COST_FACTOR = 20.0
ENTRIES_INTERVAL = 5.0
# The clocks read by the refresh: what time it is, and how long a listing took (module
# attributes, so that a test decides how much time passes rather than the machine's load).
_monotonic = time.monotonic
_perf_counter = time.perf_counter
_localtime = time.localtime

_dashboards: weakref.WeakSet[CacheDashboard] = weakref.WeakSet()


def _status_html(text: str, state: str) -> str:
    return (
        f'<span class="sc-view sc-dashboard-status" data-state="{state}">'
        f'<span class="sc-live{" sc-paused" if state != "live" else ""}"></span>'
        f"{escape(text)}</span>"
    )


def _changes(stats: dict[str, Any]) -> tuple:
    # What the entries table depends on, apart from fading temprefs.
    return tuple(
        stats.get(key)
        for key in (
            "strong_count",
            "strong_bytes",
            "weak_count",
            "weak_bytes",
            "referenced_count",
            "tempref_count",
            "evictions",
        )
    )


async def _refresh_loop(dashboard_ref: weakref.ref) -> None:
    """The periodic refresh: holds the dashboard only weakly while it sleeps."""
    try:
        while True:
            dashboard = dashboard_ref()
            if dashboard is None or dashboard._closed:
                return
            interval = dashboard._interval
            del dashboard
            await asyncio.sleep(interval)
            dashboard = dashboard_ref()
            if dashboard is None or dashboard._closed:
                return
            if dashboard._wanted() and not dashboard.refresh():
                return  # the cache is gone
            del dashboard
    except asyncio.CancelledError:
        pass
    finally:
        # Ended by its loop (shut down) rather than by the dashboard: say so.
        dashboard = dashboard_ref()
        if dashboard is not None and not dashboard._closed:
            task = dashboard._task
            if task is not None and task is asyncio.current_task():
                dashboard._task = None
                dashboard._set_status()
        del dashboard


class CacheDashboard(widgets.VBox):
    """A live view of a :class:`~seamless_core.cache.BufferCache`; make it with
    :func:`dashboard`.

    Attributes of interest: ``view`` (the ``HTML`` widget with the rendering),
    ``evict_button``, ``pause_button``, ``refresh_button``, ``status`` (an ``HTML``
    widget), ``snapshot`` (the last snapshot rendered, with its ``rates``), ``paused``,
    ``running`` (a refresh task is alive) and ``refresh_count``.
    """

    def __init__(self, cache: Any = None, interval: float = 1.0, *, top: int = 10) -> None:
        if cache is None:
            from ..cache import get_buffer_cache

            cache = get_buffer_cache()
        interval = float(interval)
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        self._cache_ref = weakref.ref(cache)
        self._interval = interval
        self._top = max(0, int(top))
        self._paused = False
        self._closed = False
        self._task: asyncio.Task | None = None
        self._cache_gone = False
        self._message = ""
        self._error = ""
        self.refresh_count = 0
        self.snapshot: dict[str, Any] = {}
        # rates: counters and time of the previous refresh
        self._previous: tuple[float, float, float, float] | None = None
        # the largest entries: reused while nothing changed and the listing is not due
        self._entries: list[dict[str, Any]] = []
        self._entries_key: tuple | None = None
        self._entries_time = -math.inf
        self._entries_wait = 0.0

        self.view = widgets.HTML(value="")
        self.view.add_class("sc-dashboard-view")
        self.evict_button = widgets.Button(
            description="Evict now",
            icon="compress",
            tooltip="Run one eviction pass now (cache.run_eviction_once())",
        )
        self.pause_button = widgets.Button(
            description="Pause", icon="pause", tooltip="Pause the live refresh"
        )
        self.refresh_button = widgets.Button(
            description="Refresh", icon="refresh", tooltip="Refresh the view now"
        )
        for button in (self.evict_button, self.pause_button, self.refresh_button):
            button.layout.width = "auto"
        self.evict_button.on_click(self._on_evict)
        self.pause_button.on_click(self._on_pause)
        self.refresh_button.on_click(self._on_refresh)
        self.status = widgets.HTML(value="")
        self.status.add_class("sc-dashboard-status-widget")
        self.toolbar = widgets.HBox(
            [self.evict_button, self.pause_button, self.refresh_button, self.status],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
        )
        super().__init__([self.view, self.toolbar])
        self.add_class("sc-dashboard")
        # Front ends count the views shown (ipywidgets' _view_count protocol): a dashboard
        # that was shown and has no view left (output cleared, cell run again, notebook
        # closed) skips its refreshes until it is shown again.
        self._shown = False
        self._view_count = 0
        self.observe(self._on_view_count, "_view_count")
        _dashboards.add(self)
        self.refresh()
        self.start()

    # -- properties ---------------------------------------------------------------------

    @property
    def cache(self) -> Any:
        """The cache shown, or ``None`` once it has been garbage-collected."""
        return self._cache_ref()

    @property
    def interval(self) -> float:
        """Seconds between refreshes (a new value applies from the next one)."""
        return self._interval

    @interval.setter
    def interval(self, value: float) -> None:
        value = float(value)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"interval must be a positive number of seconds, got {value!r}")
        self._interval = value

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def running(self) -> bool:
        """Whether a refresh task is alive."""
        return self._task is not None and not self._task.done()

    @property
    def visible(self) -> bool:
        """Whether a front end shows the dashboard (``True`` until one has reported)."""
        return not self._shown or bool(self._view_count)

    # -- the refresh --------------------------------------------------------------------

    def _wanted(self) -> bool:
        """Whether the periodic refresh should refresh now."""
        return not self._paused and self.visible

    def _on_view_count(self, change: dict) -> None:
        if change["new"]:
            if not self._shown:
                self._shown = True
            elif not change["old"] and not self._paused and not self._closed:
                self.refresh()  # shown again: bring it up to date at once

    def start(self) -> bool:
        """Start the periodic refresh on the running event loop (done at creation when a
        loop runs); ``False`` when there is none, or the dashboard is closed or its cache
        gone. Starting a running dashboard does nothing."""
        if self._closed or self._cache_gone:
            return False
        if self.running:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._set_status()
            return False
        self._task = loop.create_task(_refresh_loop(weakref.ref(self)))
        self._set_status()
        return True

    def stop(self) -> None:
        """Stop the periodic refresh (``start()`` resumes it)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            with contextlib.suppress(RuntimeError):  # its loop is closed: it ran its course
                task.cancel()

    def refresh(self) -> bool:
        """Read the cache now and update the view; ``False`` (and the refresh stops) when
        the cache is gone or the dashboard closed."""
        if self._closed:
            return False
        cache = self._cache_ref()
        if cache is None:
            self._on_cache_gone()
            return False
        try:
            snapshot = self._take_snapshot(cache)
        except Exception as exc:  # show it, keep the widget alive, try again next time
            error = f"reading the cache failed: {type(exc).__name__}: {exc}"
            if error != self._error:  # logged once, not at every refresh
                logger.exception("cache dashboard: %s", error)
            self._error = error
            self._set_status()
            return True
        del cache
        self._error = ""
        self.snapshot = snapshot
        self.refresh_count += 1
        self.view.value = render_cache_html(snapshot)
        self._set_status()
        return True

    def _take_snapshot(self, cache: Any) -> dict[str, Any]:
        now = _monotonic()
        snapshot = cache_snapshot(cache, top=0)
        stats = snapshot["stats"]
        key = _changes(stats)
        due = now - self._entries_time >= max(self._entries_wait, 0.0)
        if self._top and (
            (key != self._entries_key and due)
            or now - self._entries_time >= max(ENTRIES_INTERVAL, self._entries_wait)
        ):
            started = _perf_counter()
            self._entries = largest_entries(cache, self._top)
            self._entries_wait = _ENTRIES_COST_FACTOR * (_perf_counter() - started)
            self._entries_key = key
            self._entries_time = now
        snapshot["entries"] = self._entries
        snapshot["top"] = self._top
        snapshot["rates"] = self._rates(stats, now)
        snapshot["live"] = True
        return snapshot

    def _rates(self, stats: dict[str, Any], now: float) -> dict[str, float | None]:
        counters = (
            float(stats.get("evictions") or 0),
            float(stats.get("evicted_bytes") or 0),
            float(stats.get("spilled_bytes") or 0),
        )
        previous, self._previous = self._previous, (now, *counters)
        if previous is None or now <= previous[0]:
            return dict.fromkeys(
                ("evictions_per_s", "evicted_bytes_per_s", "spilled_bytes_per_s"), None
            )
        elapsed = now - previous[0]
        evictions, evicted, spilled = (
            max(0.0, value - before) / elapsed for value, before in zip(counters, previous[1:])
        )
        return {
            "evictions_per_s": evictions,
            "evicted_bytes_per_s": evicted,
            "spilled_bytes_per_s": spilled,
        }

    def _on_cache_gone(self) -> None:
        self._cache_gone = True
        self.stop()
        self._message = "the cache no longer exists"
        self._set_status()

    def _set_status(self) -> None:
        if self._closed:
            return
        if self._cache_gone:
            text, state = "stopped: the cache no longer exists", "stopped"
        elif self._paused:
            text, state = "paused", "paused"
        elif self.running:
            text, state = f"live, every {self._interval:g} s", "live"
        else:
            text, state = "not live (no event loop): press Refresh", "static"
        for note in (self._message, self._error):
            if note and not self._cache_gone:
                text = f"{text} \u00b7 {note}"
        self.status.value = _status_html(text, state)

    # -- buttons ------------------------------------------------------------------------

    def pause(self) -> None:
        """Stop refreshing until :meth:`resume`."""
        self._paused = True
        self.pause_button.description = "Resume"
        self.pause_button.icon = "play"
        self.pause_button.tooltip = "Resume the live refresh"
        self._set_status()

    def resume(self) -> None:
        """Refresh again (at once, and then periodically)."""
        self._paused = False
        self.pause_button.description = "Pause"
        self.pause_button.icon = "pause"
        self.pause_button.tooltip = "Pause the live refresh"
        self.refresh()
        self.start()

    def evict(self) -> Any:
        """Run one eviction pass now, refresh, and return its ``EvictionResult`` (``None``
        when the cache is gone)."""
        cache = self._cache_ref()
        if cache is None:
            self._on_cache_gone()
            return None
        result = cache.run_eviction_once()
        if result.evicted:
            self._message = (
                f"evicted {result.evicted} buffer{'s' if result.evicted != 1 else ''} "
                f"({format_bytes(result.evicted_bytes)}), "
                f"spilled {format_bytes(result.spilled_bytes)}"
            )
        elif result.usage_before <= cache.soft_cap:
            self._message = "nothing to evict: within the soft cap"
        else:
            self._message = "nothing worth evicting now"
        del cache
        self._entries_time = -math.inf  # list the entries again
        self.refresh()
        return result

    def _on_evict(self, _button: Any) -> None:
        self.evict()

    def _on_pause(self, _button: Any) -> None:
        if self._paused:
            self.resume()
        else:
            self.pause()

    def _on_refresh(self, _button: Any) -> None:
        self._message = ""
        self._entries_time = -math.inf
        self.refresh()

    # -- closing ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the refresh and close the widget and its parts."""
        if getattr(self, "_closed", True):  # closed, or never fully made
            return
        self._closed = True
        self.stop()
        _dashboards.discard(self)
        for button in (self.evict_button, self.pause_button, self.refresh_button):
            button._click_handlers.callbacks.clear()
        parts = (
            self.view,
            self.evict_button,
            self.pause_button,
            self.refresh_button,
            self.status,
            self.toolbar,
        )
        # Layouts and styles are widgets of their own, with comms of their own.
        for part in (*parts, self):
            for attribute in ("layout", "style"):
                sub = getattr(part, attribute, None)
                if isinstance(sub, widgets.Widget):
                    sub.close()
        for part in parts:
            part.close()
        super().close()

    # -- display without widgets -------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        """The widget view, with HTML and text renderings of the cache for front ends that
        cannot show widgets (plain IPython, nbconvert, nbviewer, GitHub): a snapshot, which
        says it is one and when it was taken."""
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        if not self._closed:
            self.refresh()
        if self.snapshot:
            snapshot = static_snapshot(self.snapshot, _localtime())
            bundle["text/plain"] = render_cache_text(snapshot)
            bundle["text/html"] = render_cache_html(snapshot)
        return bundle

    def __repr__(self) -> str:
        if self._closed:
            return "<CacheDashboard (closed)>"
        state = "paused" if self._paused else "live" if self.running else "static"
        return f"<CacheDashboard {state}, every {self._interval:g} s>"


def static_snapshot(snapshot: dict[str, Any], when: time.struct_time) -> dict[str, Any]:
    """``snapshot`` as a still picture: it says when it was taken and where the view is
    live, and its entries fold like the cache view's."""
    taken = time.strftime("%H:%M:%S", when)
    note = f"snapshot at {taken}; live in JupyterLab (or any front end with ipywidgets)"
    return {**snapshot, "live": False, "static_note": note}


def dashboard(cache: Any = None, interval: float = 1.0, *, top: int = 10) -> CacheDashboard:
    """A live dashboard of ``cache`` (default: the process-wide buffer cache), refreshed
    every ``interval`` seconds while an event loop runs (in Jupyter, always), showing the
    ``top`` largest entries."""
    return CacheDashboard(cache, interval, top=top)


def live_dashboards() -> list[CacheDashboard]:
    """The dashboards not closed yet."""
    return [d for d in list(_dashboards) if not d._closed]


def close_all_dashboards() -> int:
    """Close every open dashboard (for the extension's unload); returns how many."""
    count = 0
    for dashboard_ in list(_dashboards):
        with contextlib.suppress(Exception):
            dashboard_.close()
            count += 1
    return count
