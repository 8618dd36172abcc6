"""Decaying interest: the ``TempRef`` and the queue of tempref deadlines.

A tempref holds its parameters, not a running value: its interest at time ``t`` is
``interest / fade_factor ** ((t - start) / fade_interval)``, computed on demand from the
cache's monotonic clock, so no background loop has to update anything. Once that value
falls below :data:`MIN_INTEREST` the tempref is gone for good.

The cache finds expired temprefs through an :class:`ExpiryQueue` of deadlines: each live
tempref has one item, at a time no later than its expiry. A refresh only ever moves the
expiry later, so it does not touch the queue: when the old deadline comes up and the
tempref turns out to be alive, the cache queues its new deadline instead.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Hashable

from ..checksum import Checksum

MIN_INTEREST = 1.0 / 128
_LOG_MIN_INTEREST = math.log(MIN_INTEREST)

Clock = Callable[[], float]
Params = tuple[float, float, float, float]  # interest, fade_factor, fade_interval, start


def validate_tempref_parameters(interest: float, fade_factor: float, fade_interval: float) -> None:
    """Raise ``ValueError`` unless the parameters describe a tempref that decays."""
    if 0 < interest < math.inf and 1 < fade_factor < math.inf and 0 < fade_interval < math.inf:
        return  # the common case, in one test (NaN fails every comparison)
    if not (math.isfinite(interest) and interest > 0):
        raise ValueError(f"tempref interest must be a positive finite number, got {interest!r}")
    if not (math.isfinite(fade_factor) and fade_factor > 1):
        raise ValueError(f"tempref fade_factor must be a finite number > 1, got {fade_factor!r}")
    raise ValueError(
        f"tempref fade_interval must be a positive finite number (seconds), got {fade_interval!r}"
    )


def decayed(params: Params, t: float) -> float:
    """Interest at ``t`` of a tempref with ``params = (interest, fade_factor, fade_interval,
    start)``; 0.0 once it is below :data:`MIN_INTEREST`."""
    interest, fade_factor, fade_interval, start = params
    if t > start:
        try:
            interest = interest / fade_factor ** ((t - start) / fade_interval)
        except OverflowError:  # so many halvings that the value is far below the threshold
            return 0.0
    return interest if interest >= MIN_INTEREST else 0.0


def _rate(fade_factor: float, fade_interval: float) -> float:
    """Decay rate, in natural-log units per second."""
    return math.log(fade_factor) / fade_interval


def _fades_no_faster(
    factor: float, interval: float, other_factor: float, other_interval: float
) -> bool:
    """Whether (factor, interval) decays at most as fast as the other pair."""
    if factor == other_factor and interval == other_interval:
        return True  # the usual refresh, with the same parameters: no logarithms
    return _rate(factor, interval) <= _rate(other_factor, other_interval)


# Lifetimes by (interest, fade_factor, fade_interval): callers use a handful of parameter
# sets, and two logarithms per tempref are a good part of its cost.
_lifetimes: dict[tuple[float, float, float], float] = {}


def _lifetime(interest: float, fade_factor: float, fade_interval: float) -> float:
    """Seconds from ``interest`` down to MIN_INTEREST, at or just under the exact value
    (never over it, despite rounding in the logarithms)."""
    key = (interest, fade_factor, fade_interval)
    lifetime = _lifetimes.get(key)
    if lifetime is None:
        exact = (math.log(interest) - _LOG_MIN_INTEREST) / _rate(fade_factor, fade_interval)
        lifetime = max(0.0, exact * (1 - 1e-9))
        if len(_lifetimes) > 1024:
            _lifetimes.clear()
        _lifetimes[key] = lifetime
    return lifetime


def deadline_hint(params: Params) -> float:
    # A hint for the expiry queue: a time at or just before the one when decayed() first
    # drops below MIN_INTEREST, never after it, so that the queue (which evaluates decayed()
    # itself before dropping anything) never drops a tempref late.
    interest, fade_factor, fade_interval, start = params
    if interest < MIN_INTEREST:
        return start
    deadline = start + _lifetime(interest, fade_factor, fade_interval)
    return deadline - 4 * math.ulp(deadline)


class TempRef:
    """A decaying reference to a checksum in the buffer cache.

    Returned by ``tempref()``: there is at most one per checksum and per cache, and a new
    ``tempref()`` call refreshes it. Its interest is computed on demand from the cache's
    clock; once it falls below 1/128 the tempref is gone and holds nothing any more.
    """

    __slots__ = ("checksum", "_params", "_clock", "_deadline")

    def __init__(
        self,
        checksum: Checksum,
        interest: float,
        fade_factor: float,
        fade_interval: float,
        start: float,
        clock: Clock,
    ) -> None:
        validate_tempref_parameters(interest, fade_factor, fade_interval)
        self.checksum = checksum
        # One tuple, replaced whole on refresh, so that readers without the cache lock
        # never see half of an update.
        self._params: Params = (float(interest), float(fade_factor), float(fade_interval), start)
        self._clock = clock
        self._deadline = deadline_hint(self._params)

    # -- parameters ------------------------------------------------------------------------

    @property
    def interest(self) -> float:
        """Interest at :attr:`start` (the creation or the last refresh)."""
        return self._params[0]

    @property
    def fade_factor(self) -> float:
        """Interest is divided by this every :attr:`fade_interval` seconds."""
        return self._params[1]

    @property
    def fade_interval(self) -> float:
        """Seconds per division by :attr:`fade_factor`."""
        return self._params[2]

    @property
    def start(self) -> float:
        """Clock time of the creation or the last refresh."""
        return self._params[3]

    # -- state -----------------------------------------------------------------------------

    def interest_at(self, t: float) -> float:
        """Interest at clock time ``t`` (0.0 once below 1/128)."""
        return decayed(self._params, t)

    def current_interest(self) -> float:
        """Interest now."""
        return decayed(self._params, self._clock())

    @property
    def alive(self) -> bool:
        """Whether the tempref still holds interest."""
        return self.current_interest() > 0.0

    @property
    def expires_at(self) -> float:
        """Clock time at which the interest falls below 1/128."""
        return deadline_hint(self._params)

    def time_left(self) -> float:
        """Seconds until the tempref is gone (0.0 if it already is)."""
        now = self._clock()
        if decayed(self._params, now) <= 0.0:
            return 0.0
        return max(0.0, self.expires_at - now)

    def _refresh(
        self, interest: float, fade_factor: float, fade_interval: float, now: float
    ) -> None:
        """Renew at time ``now`` without ever lowering the interest (called by the cache,
        under its lock).

        The result starts at the larger of the current and the requested interest and fades
        at the slower of the two rates, so from ``now`` on it stays at or above both the old
        curve and the requested one, and expires no earlier. When the old curve
        already is that result (no higher interest, no slower fade requested), the tempref
        is left exactly as it was.
        """
        validate_tempref_parameters(interest, fade_factor, fade_interval)
        old = self._params
        current = decayed(old, now)
        if current <= 0.0:
            params = (float(interest), float(fade_factor), float(fade_interval), now)
        elif _fades_no_faster(old[1], old[2], fade_factor, fade_interval):
            if interest <= current:
                return
            params = (float(interest), old[1], old[2], now)
        else:
            params = (max(float(interest), current), float(fade_factor), float(fade_interval), now)
        # The deadline is left as it was: the new curve is nowhere below the old one, so
        # the old deadline is still a lower bound, and the cache moves it when it comes up.
        self._params = params

    def __repr__(self) -> str:
        now = self._clock()
        value = decayed(self._params, now)
        if value <= 0.0:
            state = "expired"
        else:
            state = f"interest={value:.4g}, {max(0.0, self.expires_at - now):.1f} s left"
        return (
            f"TempRef({self.checksum.hex()[:12]}…, {state}; from {self.interest:g} at "
            f"{self.start:g}, /{self.fade_factor:g} every {self.fade_interval:g} s)"
        )

    def _repr_html_(self) -> str:
        from ..jupyter.html import tempref_html

        return tempref_html(self)


class ExpiryQueue:
    """Min-heap of ``(deadline, key)``; the cache decides what a due item means.

    ``heap`` is exposed read-only so that the hot path can test it without a method call;
    it is always modified in place.
    """

    __slots__ = ("heap", "_counter")

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, Hashable]] = []
        self._counter = itertools.count()  # tie-breaker: keys are never compared

    def __len__(self) -> int:
        return len(self.heap)

    def push(self, deadline: float, key: Hashable) -> None:
        heapq.heappush(self.heap, (deadline, next(self._counter), key))

    def due(self, now: float) -> bool:
        """Whether some item's deadline is at or before ``now`` (safe without a lock)."""
        try:
            return self.heap[0][0] <= now
        except IndexError:
            return False

    def pop(self) -> tuple[float, Hashable]:
        deadline, _, key = heapq.heappop(self.heap)
        return deadline, key
