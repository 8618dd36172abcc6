"""A progress bar for long-running work only: one line of text on a terminal's stderr, a
notebook progress bar (tqdm's, or an ipywidgets one) in a Jupyter kernel."""

from __future__ import annotations

import _thread
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

_WIDTH = 28
_REFRESH = 0.1  # seconds between redraws
#: Seconds of work before a bar appears (short runs stay silent); the default ``delay``.
DELAY = 0.5


def interactive(stream: TextIO) -> bool:
    """Whether ``stream`` is shown to a person: a terminal, or a Jupyter kernel's stream
    (which renders carriage returns as a terminal does)."""
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):
        return False
    return type(stream).__module__.startswith("ipykernel")


def in_kernel(stream: TextIO) -> bool:
    """Whether ``stream`` is a Jupyter kernel's output stream (so a notebook shows it)."""
    return type(stream).__module__.startswith("ipykernel")


def _bytes(value: float) -> str:
    for name, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            return f"{value / size:.1f} {name}"
    return f"{int(value)} B"


def _count(done: float, total: float | None, unit: str) -> str:
    if unit == "B":
        return _bytes(done) if total is None else f"{_bytes(done)}/{_bytes(total)}"
    text = f"{int(done)}" if total is None else f"{int(done)}/{int(total)}"
    return f"{text} {unit}" if unit else text


class _TqdmBar:
    """The bar as ``tqdm.auto`` draws it: a widget in a notebook."""

    def __init__(self, tqdm: Any, label: str, unit: str, stream: TextIO) -> None:
        in_bytes = unit == "B"
        self._bar = tqdm(
            total=None,
            desc=label or None,
            unit=unit or "it",
            unit_scale=in_bytes,
            unit_divisor=1024 if in_bytes else 1000,
            file=stream,
            mininterval=0,
            leave=True,
        )

    def draw(self, done: float, total: float | None, text: str) -> None:
        bar = self._bar
        if total is not None and bar.total != total:
            bar.total = total
            if hasattr(bar, "container"):  # tqdm.notebook: the widget's range follows
                bar.container.children[1].max = total
        bar.n = int(done) if done == int(done) else done  # "4/4", not "4.0/4"
        bar.refresh()

    def close(self, done: float, total: float | None, text: str) -> None:
        self.draw(done, total, text)
        self._bar.close()


class _WidgetBar:
    """The bar as an ipywidgets ``FloatProgress`` with the text beside it."""

    def __init__(self, widgets: Any) -> None:
        from IPython.display import display

        self._bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info")
        self._text = widgets.Label(value="")
        display(widgets.HBox([self._bar, self._text]))

    def draw(self, done: float, total: float | None, text: str) -> None:
        if total:
            self._bar.max = float(total)
            self._bar.value = min(float(done), float(total))
        self._text.value = text

    def close(self, done: float, total: float | None, text: str) -> None:
        self.draw(done, total, text)
        if not total:
            self._bar.value = self._bar.max
        self._bar.bar_style = "success"


def _notebook_bar(label: str, unit: str, stream: TextIO) -> _TqdmBar | _WidgetBar | None:
    """A notebook bar: tqdm's where tqdm is installed, else an ipywidgets one; None
    where neither is (the text bar then goes to the kernel's stream, which shows it)."""
    import importlib

    try:
        tqdm = importlib.import_module("tqdm.auto").tqdm
    except ImportError:
        pass
    else:
        return _TqdmBar(tqdm, label, unit, stream)
    try:
        return _WidgetBar(importlib.import_module("ipywidgets"))
    except ImportError:
        return None


class ProgressBar:
    """``[#####-----] 42% 420/1000 files``, redrawn in place at most ten times a second;
    in a Jupyter kernel, a notebook progress bar (see :func:`_notebook_bar`) instead.

    Nothing is drawn until ``delay`` seconds have passed, so short runs stay silent, nor
    when the stream is not interactive (unless ``enabled=True``). Thread-safe. Use as a
    context manager, or call :meth:`close` to end the line.
    """

    def __init__(
        self,
        total: float | None,
        label: str = "",
        unit: str = "",
        *,
        stream: TextIO | None = None,
        delay: float | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.total = total
        self.done = 0.0
        self._label = label
        self._unit = unit
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = interactive(self._stream) if enabled is None else enabled
        self._start = time.monotonic()
        self._delay = DELAY if delay is None else delay
        self._last_draw = 0.0
        self._drawn = False  # whether the bar is on screen now
        self._paused = False
        self._lock = _thread.allocate_lock()  # _thread: no need to import threading
        # In a kernel the notebook bar is made at the first draw: short runs make none.
        self._notebook = in_kernel(self._stream)
        self._widget: _TqdmBar | _WidgetBar | None = None

    @property
    def enabled(self) -> bool:
        """Whether the bar may be drawn at all (callers can skip progress work if not)."""
        return self._enabled

    def advance(self, amount: float = 1) -> None:
        """Count ``amount`` more units done, and redraw if it is time."""
        with self._lock:
            self.done += amount
            self._maybe_draw()

    def update(self, done: float, total: float | None = None) -> None:
        """Set the units done (and the total), and redraw if it is time."""
        with self._lock:
            self.done = done
            if total is not None:
                self.total = total
            self._maybe_draw()

    def _maybe_draw(self) -> None:
        if not self._enabled or self._paused:
            return
        now = time.monotonic()
        if now - self._start < self._delay or now - self._last_draw < _REFRESH:
            return
        self._last_draw = now
        self._draw()

    def _draw(self, final: bool = False) -> None:
        done, total = self.done, self.total
        if total:
            fraction = min(done / total, 1.0)
            filled = int(fraction * _WIDTH)
            bar = f"[{'#' * filled}{'-' * (_WIDTH - filled)}] {fraction * 100:3.0f}% "
        else:
            bar, total = "", None
        count = _count(done, total, self._unit)
        label = f"{self._label}: " if self._label else ""
        if self._notebook and self._draw_in_notebook(done, total, label + count, final):
            return
        try:
            self._stream.write(f"\r{label}{bar}{count}\x1b[K")
            self._stream.flush()
        except (OSError, ValueError):
            self._enabled = False  # the stream went away: stop drawing, keep working
            return
        self._drawn = True

    def _draw_in_notebook(self, done: float, total: float | None, text: str, final: bool) -> bool:
        """Draw the notebook bar; False if there is none to draw (draw the text then)."""
        try:
            if self._widget is None:
                self._widget = _notebook_bar(self._label, self._unit, self._stream)
                if self._widget is None:
                    self._notebook = False
                    return False
            if final:
                self._widget.close(done, total, text)
            else:
                self._widget.draw(done, total, text)
        except Exception:  # a display problem must never fail the work it shows
            self._enabled = False
        self._drawn = True
        return True

    def _erase(self) -> None:
        if self._widget is not None:  # a notebook bar has a place of its own
            return
        if self._drawn and self._enabled:
            try:
                self._stream.write("\r\x1b[K")
                self._stream.flush()
            except (OSError, ValueError):
                self._enabled = False
        self._drawn = False

    def clear(self) -> None:
        """Erase the bar from its line, so that what is printed next starts a clean line;
        it is drawn again at the next update."""
        with self._lock:
            self._erase()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Erase the bar and draw nothing until the block ends: for printing results to a
        terminal the bar shares (stdout and stderr on one screen)."""
        with self._lock:
            self._erase()
            self._paused = True
        try:
            yield
        finally:
            with self._lock:
                self._paused = False
                self._last_draw = 0.0  # redraw at the next update

    def close(self) -> None:
        """Draw the final state (if the bar is on screen) and end the line."""
        with self._lock:
            if self._drawn and self._enabled:
                self._draw(final=True)
                if self._widget is None:
                    try:
                        self._stream.write("\n")
                        self._stream.flush()
                    except (OSError, ValueError):
                        pass
            self._enabled = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
