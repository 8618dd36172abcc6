"""A one-line text progress bar on stderr, for long-running work only."""

from __future__ import annotations

import _thread
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

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


class ProgressBar:
    """``[#####-----] 42% 420/1000 files``, redrawn in place at most ten times a second.

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

    def _draw(self) -> None:
        done, total = self.done, self.total
        if total:
            fraction = min(done / total, 1.0)
            filled = int(fraction * _WIDTH)
            bar = f"[{'#' * filled}{'-' * (_WIDTH - filled)}] {fraction * 100:3.0f}% "
        else:
            bar, total = "", None
        count = _count(done, total, self._unit)
        label = f"{self._label}: " if self._label else ""
        try:
            self._stream.write(f"\r{label}{bar}{count}\x1b[K")
            self._stream.flush()
        except (OSError, ValueError):
            self._enabled = False  # the stream went away: stop drawing, keep working
            return
        self._drawn = True

    def _erase(self) -> None:
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
                self._draw()
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
