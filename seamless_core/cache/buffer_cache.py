"""``BufferCache``: buffers kept in memory by interest, evicted by cost, never lost.

Every checksum the cache knows has one entry, in one of three states:

- *strong*: the cache holds the buffer. Only entries with interest (normal refs or a live
  tempref) are strong; their sizes make up the usage that eviction controls.
- *weak*: the cache holds a weak reference, so the buffer stays findable while someone else
  keeps it alive. Buffers without interest live here, and so do evicted ones.
- *referenced only*: interest but no buffer in memory (an ``incref`` of a checksum never
  loaded, or an evicted buffer since collected). The buffer is attached again as soon as
  it is registered or resolved.

Concurrency: one lock guards the entries and the running totals, and every operation under
it is O(1) (amortized, for tempref expiry). Eviction passes snapshot the strong entries
under the lock, rank them and write spill files without it, then commit under it again,
skipping any entry whose interest grew in between. Nothing that can run foreign code
happens under the lock: dropping the last reference to a buffer may fire any weakref
callback, so dropped buffers are released only after the lock is, and the upload hook is
called after it too. The garbage collector can still run foreign code under the lock (a
``__del__`` that calls ``decref``): such re-entrant calls are queued and applied once the
lock is released (see :mod:`.lock`); re-entrant reads look without changing anything.
What an operation leaves for after the lock it hands to the lock itself (see
:class:`~.lock.CacheLock`): the buffers it let go of are dropped once the lock is released,
and then :meth:`BufferCache._after_lock` hands queued buffers to the upload hook and, when
the operation left strong usage above the hard cap, runs eviction passes until it is back at
or below it (or nothing evictable is left), before the operation returns.

The eviction pass itself is in :mod:`.eviction_pass` (and its policy in :mod:`.eviction`);
the process-wide cache in :mod:`.process`.

Internal tables are keyed by the raw 32-byte digest: hashing bytes is a C call, while a
``Checksum``'s ``__hash__`` is a Python one, and these lookups are the hot path.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import TYPE_CHECKING, Any

from .._interest import DEFAULT_FADE_FACTOR, DEFAULT_FADE_INTERVAL, DEFAULT_TEMPREF_INTEREST
from ..checksum import Checksum
from ..stores.folder import BufferFolder
from ..stores.upload import request_upload
from . import eviction_pass
from .costs import GIB, CostModel
from .eviction_pass import EvictionResult, Policy, Victims
from .evictor import start_evictor
from .interest import (
    ExpiryQueue,
    TempRef,
    deadline_hint,
    decayed,
)
from .lock import CacheLock
from .settings import cap_warnings, check_caps, parse_size
from .spill import FROM_ENVIRONMENT, SpillSetting

if TYPE_CHECKING:
    from ..buffer import Buffer
    from ..stores.base import BufferStore

logger = logging.getLogger(__name__)

DEFAULT_SOFT_CAP = 5 * GIB
DEFAULT_HARD_CAP = 50 * GIB
DEFAULT_BENEFIT_PER_GB = 2.0
DEFAULT_EVICTION_INTERVAL = 0.5
# Hard-cap passes an operation runs before it gives up and returns (each pass evicts all
# it can; another one is needed only when entries changed while it was planned).
_HARD_CAP_PASSES = 8


class _Entry:
    __slots__ = (
        "key",
        "checksum",
        "buffer",
        "wref",
        "spare",
        "size",
        "refs",
        "tempref",
        "stamp",
        "scratch",
        "upload",
    )

    def __init__(self, key: bytes, checksum: Checksum) -> None:
        self.key = key
        self.checksum = checksum
        self.buffer: Any = None  # strong reference: only while the entry has interest
        # Weak reference to the buffer handed out, kept while strong too, so that eviction
        # needs no allocation. Weak tier = no strong reference but a weak one.
        self.wref: weakref.ref | None = None
        # A second live copy registered while the first is alive: it takes over if the first
        # dies first, so that neither order of death loses a buffer someone still holds.
        self.spare: weakref.ref | None = None
        self.size: int | None = None  # None until the buffer has been seen
        self.refs = 0
        self.tempref: TempRef | None = None
        self.stamp = 0  # bumped whenever interest grows; eviction commits check it
        self.scratch = True  # every ref so far asked not to be uploaded
        self.upload = False  # handed to the upload hook already


def _died(dead: deque, key: bytes, wref: weakref.ref) -> None:
    # Weakref callback, from whichever thread dropped the last reference: only queue it.
    dead.append((key, wref))


def _size_of(buffer: Any) -> int:
    try:
        return len(buffer)
    except TypeError:
        return 0  # counts for nothing and is never evicted


def _checksum_of(buffer: Any) -> Checksum:
    # Buffer.get_checksum() registers the buffer in the cache: the cache itself only
    # computes. Other objects must carry a ``checksum`` attribute.
    try:
        compute = buffer.compute_checksum
    except AttributeError:
        return buffer.checksum
    return compute()


def _matching_buffer(checksum: Any, buffer: Any) -> Any:
    """``buffer``, after checking that it is the buffer of ``checksum`` (0.1.4's call shapes
    pass both): a buffer filed under another checksum would serve wrong data."""
    if buffer is None:
        raise TypeError(f"no buffer given for checksum {Checksum(checksum).hex()}")
    checksum = Checksum(checksum)
    actual = _checksum_of(buffer)
    if actual != checksum:
        raise ValueError(
            f"buffer has checksum {actual.hex()}, not the {checksum.hex()} it was given with"
        )
    return buffer


def _has_interest(entry: _Entry) -> bool:
    return bool(entry.refs) or entry.tempref is not None


def _weak_call(method: Callable[[], Any]) -> Callable[[], None]:
    """``method()``, holding its object only weakly (the lock must not keep the cache
    alive: the evictor thread ends when the cache is collected)."""
    ref = weakref.WeakMethod(method)

    def call() -> None:
        bound = ref()
        if bound is not None:
            bound()

    return call


def _checked_benefit(value: float) -> float:
    value = float(value)
    if not value >= 0:
        raise ValueError(f"benefit_per_gb must be >= 0, got {value!r}")
    return value


def _checked_interval(value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"eviction_interval must be a positive number of seconds, got {value!r}")
    return value


class BufferCache:
    """Process-wide memory of buffers: weak for all, strong for those with interest.

    Args:
        soft_cap: bytes of strong buffers at or below which nothing is evicted (an int,
            or a string with a unit such as ``"8GiB"``: see :mod:`.settings`).
        hard_cap: bytes of strong buffers above which eviction is mandatory: with
            ``background``, an operation that pushes usage above it returns only after
            eviction brought it back at or below it (or nothing evictable is left).
        benefit_per_gb: units gained per GiB freed between the caps; a buffer is evicted
            there when its loss (cost x interest) is lower than that gain.
        spill_folder: where buffers that nothing else could bring back are written before
            eviction: a path, a writable :class:`~seamless_core.stores.BufferFolder`, or
            ``None`` to disable spilling (such buffers are then never evicted). By default
            ``$SEAMLESS_SPILL_FOLDER`` (``off`` disables), else
            ``<temp dir>/seamless-spill-<uid>``. Created on first use.
        clock: monotonic time source in seconds, for temprefs (injectable for tests).
        eviction_interval: seconds between background passes while above the soft cap
            (up to 16 times more after passes that found nothing worth evicting).
        background: evict in a background thread; without it only
            :meth:`run_eviction_once` evicts.
        upload_hook: called as ``upload_hook(checksum, buffer)``, outside the lock, the
            first time an entry has both a non-scratch reference and its buffer in memory.
            If the hook has a ``gate`` attribute, ``gate()`` is asked first (under the
            lock: it must be quick and do no I/O) and the call waits for a later reference
            while it returns False. The default queues the buffer for background upload to
            the writable stores (:mod:`seamless_core.stores.upload`); ``None`` uploads
            nothing.

    ``costs`` is the :class:`~seamless_core.cache.costs.CostModel` where the ways to get
    buffers back are declared. ``soft_cap``, ``hard_cap``, ``benefit_per_gb``,
    ``eviction_interval`` and ``spill_folder`` can be changed at run time (validated).
    """

    def __init__(
        self,
        soft_cap: int | str = DEFAULT_SOFT_CAP,
        hard_cap: int | str = DEFAULT_HARD_CAP,
        benefit_per_gb: float = DEFAULT_BENEFIT_PER_GB,
        *,
        spill_folder: Any = FROM_ENVIRONMENT,
        clock: Callable[[], float] = time.monotonic,
        eviction_interval: float = DEFAULT_EVICTION_INTERVAL,
        background: bool = True,
        upload_hook: Callable[[Checksum, Any], bool | None] | None = request_upload,
    ) -> None:
        soft_cap, hard_cap = parse_size(soft_cap, "soft_cap"), parse_size(hard_cap, "hard_cap")
        check_caps(soft_cap, hard_cap)
        self._soft_cap = soft_cap
        self._hard_cap = hard_cap
        self._benefit_per_gb = _checked_benefit(benefit_per_gb)
        self._warnings: list[str] | None = None  # about the caps; made on first stats()
        self._clock = clock
        self._lock = CacheLock(_weak_call(self._after_lock))
        self._entries: dict[bytes, _Entry] = {}
        self._strong: dict[bytes, _Entry] = {}
        self._dead: deque[tuple[bytes, weakref.ref]] = deque()
        self._expiry = ExpiryQueue()
        self._expiry_heap = self._expiry.heap  # the same list for the cache's lifetime
        self._init_totals()
        self._spill = SpillSetting(spill_folder, advisor=self)
        self._spill_lock = threading.Lock()
        self.costs = CostModel("read_buffer" if self._spill.path else None)
        # Re-entrant: a pass can be asked for from a __del__ that runs during one.
        self._pass_lock = threading.RLock()
        self._pass_thread: int | None = None  # the thread running a pass, if any
        self._interval = _checked_interval(eviction_interval)
        self._background = background
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._polling = False
        self._closed = False
        self._upload_hook = upload_hook
        # Optional cheap check, without I/O, of whether the hook would do anything now (the
        # default: whether any store could take uploads); entries wait while it says no.
        self._upload_gate = getattr(upload_hook, "gate", None)
        # (checksum, buffer) pairs for the upload hook: queued under the lock, handed over
        # after it, since the hook is foreign code.
        self._to_upload: deque[tuple[Checksum, Any]] = deque()

    def _init_totals(self) -> None:
        self._strong_bytes = 0
        self._strong_count = 0
        self._weak_bytes = 0
        self._weak_count = 0
        self._interest_count = 0
        self._tempref_count = 0
        self._evictions = 0
        self._evicted_bytes = 0
        self._spilled_bytes = 0
        self._spill_failures = 0
        self._hits = 0
        self._misses = 0

    # -- policy ----------------------------------------------------------------------------

    @property
    def soft_cap(self) -> int:
        """Bytes of strong buffers at or below which nothing is evicted. Settable: an int
        or a string with a unit (``"8GiB"``), at most :attr:`hard_cap`."""
        return self._soft_cap

    @soft_cap.setter
    def soft_cap(self, value: int | str) -> None:
        self.set_caps(soft_cap=value)

    @property
    def hard_cap(self) -> int:
        """Bytes of strong buffers above which eviction is mandatory. Settable like
        :attr:`soft_cap`, at least :attr:`soft_cap`; lowering it below the usage evicts
        before the assignment returns."""
        return self._hard_cap

    @hard_cap.setter
    def hard_cap(self, value: int | str) -> None:
        self.set_caps(hard_cap=value)

    def set_caps(
        self, soft_cap: int | str | None = None, hard_cap: int | str | None = None
    ) -> None:
        """Change one or both caps at once (``None`` keeps one), validated together:
        ``ValueError`` if the soft cap would exceed the hard cap, and nothing changes."""
        new_soft = None if soft_cap is None else parse_size(soft_cap, "soft_cap")
        new_hard = None if hard_cap is None else parse_size(hard_cap, "hard_cap")
        with self._lock:  # the pair is checked against the caps of this moment
            soft = self._soft_cap if new_soft is None else new_soft
            hard = self._hard_cap if new_hard is None else new_hard
            check_caps(soft, hard)
            self._soft_cap, self._hard_cap = soft, hard
            self._warnings = None
            if self._strong_bytes > soft:
                self._over_soft_cap()
                if self._strong_bytes > hard:
                    self._lock.follow_up = True  # lowered below the usage: evict now

    @property
    def benefit_per_gb(self) -> float:
        """Units gained per GiB freed between the caps (settable, >= 0)."""
        return self._benefit_per_gb

    @benefit_per_gb.setter
    def benefit_per_gb(self, value: float) -> None:
        self._benefit_per_gb = _checked_benefit(value)
        self._wake.set()  # the next pass decides with it

    @property
    def eviction_interval(self) -> float:
        """Seconds between background passes while above the soft cap (settable, > 0)."""
        return self._interval

    @eviction_interval.setter
    def eviction_interval(self, value: float) -> None:
        self._interval = _checked_interval(value)
        self._wake.set()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` stopped the background evictor."""
        return self._closed

    def _policy(self) -> Policy:
        return Policy(self._soft_cap, self._hard_cap, self._benefit_per_gb)

    def __repr__(self) -> str:
        return (
            f"<BufferCache strong {self._strong_bytes / GIB:.3g} GiB in {self._strong_count} "
            f"buffers (soft cap {self._soft_cap / GIB:.3g} GiB, hard cap "
            f"{self._hard_cap / GIB:.3g} GiB), weak {self._weak_bytes / GIB:.3g} GiB in "
            f"{self._weak_count} buffers>"
        )

    def _repr_html_(self) -> str | None:
        from ..jupyter.html import cache_html

        return cache_html(self)

    # -- the spill folder ------------------------------------------------------------------

    @property
    def spill_path(self) -> str | None:
        """The spill folder's path (``None`` if spilling is off), without creating it."""
        return self._spill.path

    @property
    def spill_folder(self) -> BufferFolder | None:
        """The spill folder (created on first access), or ``None`` if spilling is off."""
        spill = self._spill
        if spill.folder is None and spill.path is not None:
            with self._spill_lock:
                try:
                    spill.open()
                except (OSError, ValueError) as exc:  # ValueError: an impossible path
                    logger.warning(
                        "spill folder %s unusable, spilling off: %s", spill.path, str(exc)
                    )
                    spill.path = None
                    self.costs.undeclared_profile = None
        return spill.folder

    @spill_folder.setter
    def spill_folder(self, value: Any) -> None:
        """Spill somewhere else from now on: a path, a writable ``BufferFolder``, or
        ``None`` to stop spilling. ``ValueError`` (and nothing changes) while a referenced
        buffer out of memory has its only copy in the current spill folder: resolution
        looks in one spill folder, so that buffer would be lost."""
        new = SpillSetting(value, advisor=self)
        with self._spill_lock:
            old = self._spill
            if new.path is not None and new.path == old.path and new.folder is None:
                return  # the same place
            if old.folder is not None and old.folder is not new.folder:
                stranded = self._only_copies_in(old.folder)
                if stranded:
                    raise ValueError(
                        f"cannot change the spill folder: {stranded} referenced buffers out of "
                        f"memory have their only copy in {old.folder.path}; resolve them (or "
                        f"drop their references) first"
                    )
                self.costs.forget_store(old.folder)
            self._spill = new
            self.costs.undeclared_profile = "read_buffer" if new.path is not None else None

    def _only_copies_in(self, folder: BufferFolder) -> int:
        """How many entries with interest and no buffer held have ``folder`` as their only
        declared holder."""
        with self._observing():
            out = [
                e.checksum for e in self._entries.values() if e.buffer is None and _has_interest(e)
            ]
        holders = self.costs.holders
        return sum(1 for checksum in out if holders(checksum) == [folder])

    # -- housekeeping ----------------------------------------------------------------------

    def _after_lock(self) -> None:
        """What an operation left for after the lock (``CacheLock.follow_up``): hand the
        queued buffers to the upload hook, and bring a strong usage above the hard cap back
        at or below it before the operation returns."""
        if self._to_upload:
            self._dispatch_uploads()
        if self._strong_bytes > self._hard_cap:
            self._enforce_hard_cap()

    def _housekeep_if_due(self) -> None:
        """:meth:`_housekeep`, when a buffer died or a tempref deadline passed (cheap test)."""
        if self._dead or (self._expiry_heap and self._expiry.due(self._clock())):
            self._housekeep()

    def _housekeep(self) -> None:
        """Process collected buffers and due tempref deadlines; the buffers this drops are
        released after the lock."""
        if self._lock.held_here():
            return  # re-entered from a __del__: the outer operation's thread holds the lock
        with self._lock:
            self._lock.release_later(self._maintain())

    def _maintain(self) -> list | None:
        # Under the lock. Returns the buffers that lost their strong reference.
        if self._dead:
            self._drain_dead()
        heap = self._expiry_heap
        if heap:
            now = self._clock()
            if heap[0][0] <= now:
                return self._expire(now)
        return None

    def _drain_dead(self) -> None:
        dead, entries = self._dead, self._entries
        while dead:
            key, wref = dead.popleft()
            entry = entries.get(key)
            if entry is None:
                continue
            if entry.spare is wref:
                entry.spare = None
                continue
            if entry.wref is not wref:
                continue  # replaced since: the entry's current weak reference is another
            spare, entry.spare = entry.spare, None
            if spare is not None and spare() is not None:
                entry.wref = spare  # the other copy lives on
                continue
            entry.wref = None
            if entry.buffer is None:
                self._weak_bytes -= entry.size or 0
                self._weak_count -= 1
                if not _has_interest(entry):
                    del entries[key]

    def _expire(self, now: float) -> list:
        dropped = []
        heap, queue = self._expiry_heap, self._expiry
        while heap and heap[0][0] <= now:
            deadline, key = queue.pop()
            entry = self._entries.get(key)  # type: ignore[call-overload]  # keys are digests
            tempref = entry.tempref if entry is not None else None
            if tempref is None:
                continue  # dropped already
            if decayed(tempref._params, now) > 0.0:
                # Refreshed since it was queued, or a deadline rounded early: queue anew.
                hint = deadline_hint(tempref._params)
                tempref._deadline = hint if hint > now else math.nextafter(now, math.inf)
                queue.push(tempref._deadline, key)
                continue
            entry.tempref = None
            self._tempref_count -= 1
            if not entry.refs:
                dropped.append(self._lose_interest(entry))
        return dropped

    # -- tier moves (under the lock) -------------------------------------------------------

    def _hold_weakly(self, entry: _Entry, buffer: Any) -> bool:
        """Point the entry's weak reference at ``buffer``; False if ``buffer`` cannot be
        weakly referenced (the entry is then left as it was)."""
        wref = entry.wref
        if wref is not None and wref() is buffer:
            return True
        try:
            new = weakref.ref(buffer, partial(_died, self._dead, entry.key))
        except TypeError:
            return False
        if wref is not None and wref() is not None:
            entry.spare = new  # keep following the live copy; this one takes over if needed
        else:
            entry.wref = new
        return True

    def _gain_interest(self, entry: _Entry) -> None:
        self._interest_count += 1
        wref = entry.wref
        if wref is not None and entry.buffer is None:
            buffer = wref()
            if buffer is not None:
                self._promote(entry, buffer)

    def _lose_interest(self, entry: _Entry) -> Any:
        """No refs and no tempref left: the buffer goes to the weak tier. Returns the buffer
        the cache stopped holding, if any."""
        self._interest_count -= 1
        entry.scratch = True
        if entry.buffer is not None:
            return self._demote(entry)
        if entry.wref is None:
            del self._entries[entry.key]
        return None

    def _promote(self, entry: _Entry, buffer: Any) -> None:
        """Hold ``buffer`` strongly for an entry with interest and no buffer held yet."""
        if entry.wref is not None:  # leaving the weak tier
            self._weak_bytes -= entry.size or 0
            self._weak_count -= 1
        if not self._hold_weakly(entry, buffer):
            entry.wref = entry.spare = None  # they may point at other copies: not ours to track
        size = entry.size
        if size is None:
            size = entry.size = _size_of(buffer)
        entry.buffer = buffer
        if not entry.scratch and not entry.upload:
            self._want_upload(entry)
        self._strong[entry.key] = entry
        self._strong_count += 1
        usage = self._strong_bytes = self._strong_bytes + size
        if usage > self._soft_cap:
            self._over_soft_cap()
            if usage > self._hard_cap:
                self._lock.follow_up = True  # evict before the operation returns

    def _want_upload(self, entry: _Entry) -> None:
        # Under the lock, for an entry with a non-scratch ref and its buffer held.
        if self._upload_hook is not None:
            gate = self._upload_gate
            if gate is not None and not gate():
                return
            entry.upload = True
            self._to_upload.append((entry.checksum, entry.buffer))
            self._lock.follow_up = True  # handed to the hook after the lock

    def _dispatch_uploads(self) -> None:
        # After the lock: hand the queued buffers to the upload hook. A hook that returns
        # False took nothing (no store to upload to, after all): the entry is handed over
        # again later.
        hook, pending = self._upload_hook, self._to_upload
        if hook is None:
            return
        while pending:
            try:
                checksum, buffer = pending.popleft()
            except IndexError:  # another thread emptied it first
                return
            try:
                taken = hook(checksum, buffer)
            except Exception:
                logger.exception("upload hook failed for %s", checksum)
                taken = False
            if taken is False:
                # Sets no follow-up: this release does not dispatch again from inside the loop.
                with self._lock:
                    entry = self._entries.get(checksum._digest)
                    if entry is not None:
                        entry.upload = False

    def _stores_changed(self, store: BufferStore, added: bool) -> None:
        """Recoverability follows the store list: a removed store's copies no longer count,
        and a new writable store gets the referenced buffers that were never handed over."""
        if not added:
            self.costs.forget_store(store)
            return
        if not store.writable or self._upload_hook is None:
            return
        with self._lock:
            for entry in self._strong.values():
                if not entry.scratch and not entry.upload:
                    self._want_upload(entry)

    def _demote(self, entry: _Entry) -> Any:
        """Strong -> weak (or out of memory, for objects without weak references). Returns
        the buffer, for the caller to drop once the lock is released."""
        buffer = entry.buffer
        size = entry.size
        assert size is not None  # measured when it became strong
        del self._strong[entry.key]
        self._strong_bytes -= size
        self._strong_count -= 1
        entry.buffer = None
        if entry.wref is not None:
            self._weak_bytes += size
            self._weak_count += 1
        elif not _has_interest(entry):
            del self._entries[entry.key]
        return buffer

    def _entry_for(self, checksum: Checksum) -> _Entry:
        key = checksum._digest
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(key, checksum)
        return entry

    def _attach(self, entry: _Entry, buffer: Any) -> None:
        """Make ``buffer`` the entry's buffer: strongly if the entry has interest."""
        if entry.buffer is not None:
            return
        if entry.refs or entry.tempref is not None:
            self._promote(entry, buffer)
            return
        was_weak = entry.wref is not None
        # A registration replaces the weak reference only once the older buffer has died.
        if not self._hold_weakly(entry, buffer):
            if not was_weak:  # nobody asked to keep it and it cannot be held weakly
                del self._entries[entry.key]
            return
        if not was_weak:
            size = entry.size = _size_of(buffer)
            self._weak_bytes += size
            self._weak_count += 1

    # -- registration and lookup -----------------------------------------------------------

    def register(
        self, buffer: Buffer | Checksum, legacy_buffer: Buffer | None = None, size: Any = None
    ) -> None:
        """Make ``buffer`` findable by its checksum: weakly, or strongly if it has refs.

        Also in 0.1.4's shape ``register(checksum, buffer, size=None)`` (``size`` is
        ignored: the cache measures the buffer itself)."""
        if legacy_buffer is not None or isinstance(buffer, Checksum):
            buffer = _matching_buffer(buffer, legacy_buffer)
        checksum = _checksum_of(buffer)
        if self._lock.held_here():
            self._lock.defer(self.register, buffer)
            return
        self._housekeep_if_due()
        with self._lock:
            entry = self._entries.get(checksum._digest)
            if entry is not None:
                self._attach(entry, buffer)
                return
            try:  # a checksum seen for the first time: straight to the weak tier
                wref = weakref.ref(buffer, partial(_died, self._dead, checksum._digest))
            except TypeError:
                return  # nobody asked to keep it and it cannot be held weakly
            entry = self._entries[checksum._digest] = _Entry(checksum._digest, checksum)
            entry.wref = wref
            size = entry.size = _size_of(buffer)
            self._weak_bytes += size
            self._weak_count += 1

    def get(self, checksum: Checksum | str | bytes) -> Buffer | None:
        """The buffer for ``checksum`` if it is in memory, else ``None``."""
        if type(checksum) is not Checksum:
            checksum = Checksum(checksum)
        if self._lock.held_here():
            return self._peek(checksum)
        self._housekeep_if_due()
        with self._lock:
            entry = self._entries.get(checksum._digest)
            if entry is not None:
                buffer = entry.buffer
                if buffer is None and entry.wref is not None:
                    buffer = entry.wref()
                    if buffer is not None and (entry.refs or entry.tempref is not None):
                        self._promote(entry, buffer)
                if buffer is not None:
                    self._hits += 1
                    return buffer
            self._misses += 1
            return None

    def _peek(self, checksum: Checksum) -> Buffer | None:
        # get() re-entered from a __del__ during an operation on this thread: look without
        # changing anything (the outer operation may be half done).
        entry = self._entries.get(checksum._digest)
        if entry is None:
            return None
        buffer = entry.buffer
        if buffer is None and entry.wref is not None:
            buffer = entry.wref()
        return buffer

    def __contains__(self, checksum: Checksum | str | bytes) -> bool:
        """Whether the buffer is in memory (does not count as a hit or a miss)."""
        if type(checksum) is not Checksum:
            checksum = Checksum(checksum)
        entry = self._entries.get(checksum._digest)
        if entry is None:
            return False
        wref = entry.wref
        return entry.buffer is not None or (wref is not None and wref() is not None)

    def __len__(self) -> int:
        """Number of entries: buffers in memory and referenced checksums."""
        return len(self._entries)

    # -- normal refs -----------------------------------------------------------------------

    def incref(
        self,
        checksum: Checksum | str | bytes,
        *,
        buffer: Buffer | None = None,
        scratch: bool = False,
    ) -> None:
        """Add a normal reference: the buffer stays in memory (subject to eviction) until
        the matching :meth:`decref`. The buffer need not be in memory yet; ``buffer=``
        gives it (as :meth:`incref_buffer`)."""
        if buffer is not None:
            return self.incref_buffer(_matching_buffer(checksum, buffer), scratch=scratch)
        if type(checksum) is not Checksum:
            checksum = Checksum(checksum)
        if self._lock.held_here():
            self._lock.defer(partial(self.incref, scratch=scratch), checksum)
            return
        self._housekeep_if_due()
        with self._lock:
            self._add_ref(self._entry_for(checksum), scratch)

    def incref_buffer(self, buffer: Buffer, *, scratch: bool = False) -> None:
        """:meth:`incref` of ``buffer``'s checksum, holding ``buffer`` itself."""
        checksum = _checksum_of(buffer)
        if self._lock.held_here():
            self._lock.defer(partial(self.incref_buffer, scratch=scratch), buffer)
            return
        self._housekeep_if_due()
        with self._lock:
            entry = self._entry_for(checksum)
            self._add_ref(entry, scratch)
            self._attach(entry, buffer)

    def _add_ref(self, entry: _Entry, scratch: bool) -> None:
        entry.refs += 1
        entry.stamp += 1
        if not scratch:
            entry.scratch = False
        if entry.refs == 1 and entry.tempref is None:
            self._gain_interest(entry)
        if not scratch and not entry.upload and entry.buffer is not None:
            self._want_upload(entry)

    def decref(self, checksum: Checksum | str | bytes) -> None:
        """Remove a normal reference. One without a matching :meth:`incref` changes
        nothing and is logged as a warning (as in 0.1.4, where it passes silently)."""
        if type(checksum) is not Checksum:
            checksum = Checksum(checksum)
        if self._lock.held_here():
            self._lock.defer(self.decref, checksum)  # an unmatched one is logged then
            return
        self._housekeep_if_due()
        with self._lock:
            entry = self._entries.get(checksum._digest)
            if entry is None or not entry.refs:
                logger.warning("decref of %s without a matching incref", checksum.hex())
                return
            entry.refs -= 1
            if not entry.refs and entry.tempref is None:
                self._lock.release_later(self._lose_interest(entry))

    # -- temprefs --------------------------------------------------------------------------

    def tempref(
        self,
        checksum: Checksum | str | bytes,
        *,
        buffer: Buffer | None = None,
        interest: float = DEFAULT_TEMPREF_INTEREST,
        fade_factor: float = DEFAULT_FADE_FACTOR,
        fade_interval: float = DEFAULT_FADE_INTERVAL,
        scratch: bool = False,
    ) -> TempRef:
        """Add or refresh the checksum's decaying reference (one per checksum); ``buffer=``
        gives the buffer too (as :meth:`tempref_buffer`).

        Its interest is ``interest / fade_factor ** (elapsed / fade_interval)``; it is gone
        once that falls below 1/128. A refresh never lowers the interest: the tempref then
        starts at the larger of its current and the requested interest and fades at the
        slower of the two rates.
        """
        if buffer is not None:
            buffer = _matching_buffer(checksum, buffer)
        if type(checksum) is not Checksum:
            checksum = Checksum(checksum)
        return self._tempref(checksum, buffer, interest, fade_factor, fade_interval, scratch)

    def tempref_buffer(
        self,
        buffer: Buffer,
        *,
        interest: float = DEFAULT_TEMPREF_INTEREST,
        fade_factor: float = DEFAULT_FADE_FACTOR,
        fade_interval: float = DEFAULT_FADE_INTERVAL,
        scratch: bool = False,
    ) -> TempRef:
        """:meth:`tempref` of ``buffer``'s checksum, holding ``buffer`` itself."""
        checksum = _checksum_of(buffer)
        return self._tempref(checksum, buffer, interest, fade_factor, fade_interval, scratch)

    def _tempref(
        self,
        checksum: Checksum,
        buffer: Buffer | None,
        interest: float,
        fade_factor: float,
        fade_interval: float,
        scratch: bool,
    ) -> TempRef:
        # TempRef() and TempRef._refresh() validate the parameters before anything changes.
        now = self._clock()
        if self._lock.held_here():
            # Re-entered from a __del__: hand back a tempref with these parameters now and
            # apply it once the lock is free (where an existing one is refreshed instead).
            handle = TempRef(checksum, interest, fade_factor, fade_interval, now, self._clock)
            args = (checksum, buffer, interest, fade_factor, fade_interval, scratch)
            self._lock.defer(self._tempref, *args)
            return handle
        if self._dead or self._expiry.due(now):
            self._housekeep()
        with self._lock:
            entry = self._entries.get(checksum._digest)
            tempref = entry.tempref if entry is not None else None
            if entry is not None and tempref is not None:
                tempref._refresh(interest, fade_factor, fade_interval, now)
            else:
                tempref = TempRef(checksum, interest, fade_factor, fade_interval, now, self._clock)
                if tempref._deadline <= now and decayed(tempref._params, now) <= 0.0:
                    # Born below the threshold: it never holds anything.
                    if buffer is not None:
                        self._attach(self._entry_for(checksum), buffer)
                    return tempref
                if entry is None:
                    entry = self._entry_for(checksum)
                entry.tempref = tempref
                self._tempref_count += 1
                self._expiry.push(tempref._deadline, entry.key)
                if not entry.refs:
                    self._gain_interest(entry)
            entry.stamp += 1
            if not scratch:
                entry.scratch = False
            if buffer is not None:
                self._attach(entry, buffer)
            if not scratch and not entry.upload and entry.buffer is not None:
                self._want_upload(entry)
            return tempref

    # -- observation -----------------------------------------------------------------------

    def _observing(self) -> AbstractContextManager[Any]:
        """The context to read the table in: the lock, after housekeeping; or nothing when
        re-entered from a ``__del__`` on the thread that holds it (reads then see the outer
        operation's state as it is, and change nothing)."""
        if self._lock.held_here():
            return nullcontext()
        self._housekeep()
        return self._lock

    def stats(self) -> dict[str, Any]:
        """Running totals, O(1): cheap enough to poll from a dashboard.

        ``strong_*``: buffers the cache holds in memory; ``weak_*``: buffers findable while
        someone else holds them; ``referenced_count``: entries with interest, in memory or
        not; ``tempref_count``: live temprefs; ``spill_folder``: its path, or ``None``;
        ``warnings``: sentences about the configuration a reader should see (a cap larger
        than the machine's memory), usually empty; with a size-limited spill folder,
        ``spill_disk_bytes`` and ``spill_size_limit``.
        """
        spill_disk = self._spill_disk()  # outside the lock: it may recount the folder
        warnings = self._warnings
        if warnings is None:
            warnings = self._warnings = cap_warnings(self._soft_cap, self._hard_cap)
        with self._observing():
            return {
                "strong_bytes": self._strong_bytes,
                "strong_count": self._strong_count,
                "weak_bytes": self._weak_bytes,
                "weak_count": self._weak_count,
                "soft_cap": self._soft_cap,
                "hard_cap": self._hard_cap,
                "benefit_per_gb": self._benefit_per_gb,
                "evictions": self._evictions,
                "evicted_bytes": self._evicted_bytes,
                "spilled_bytes": self._spilled_bytes,
                "spill_failures": self._spill_failures,
                "hits": self._hits,
                "misses": self._misses,
                "referenced_count": self._interest_count,
                "tempref_count": self._tempref_count,
                "spill_folder": self._spill.path,
                **spill_disk,
                "warnings": list(warnings),
            }

    def snapshot(self) -> dict[str, Any]:
        """:meth:`stats` and :meth:`entries` together, for the views: ``{"stats": ...,
        "entries": [...]}`` (the entries are read just after the totals, O(n))."""
        return {"stats": self.stats(), "entries": self.entries()}

    # -- retention advice, for a size-limited spill folder --------------------------------

    def is_referenced(self, checksum: Checksum | str | bytes) -> bool:
        """Whether the cache has interest in ``checksum``: normal refs or a live tempref
        (a folder that keeps the buffers the cache may come back for removes it never)."""
        entry = self._entries.get(Checksum(checksum)._digest)
        return entry is not None and _has_interest(entry)

    def keep_score(self, checksum: Checksum | str | bytes) -> float:
        """How much keeping the buffer's copy is worth, in the units of eviction: the cost
        to bring it back (as :meth:`entries` reports it) times its interest now (normal
        refs plus the tempref's decayed interest). 0.0 for a checksum without interest;
        ``inf`` when the cost is infinite. Lower scores are removed first."""
        entry = self._entries.get(Checksum(checksum)._digest)
        if entry is None:
            return 0.0
        tempref = entry.tempref
        interest = entry.refs + (
            0.0 if tempref is None else decayed(tempref._params, self._clock())
        )
        if not interest:
            return 0.0
        return self.costs.cost(entry.checksum, entry.size) * interest

    def entries(self) -> list[dict[str, Any]]:
        """One dict per entry: ``checksum``, ``size`` (``None`` if unknown), ``strong``
        (held by the cache), ``in_memory``, ``normal_refs``, ``tempref_interest`` (now),
        ``cost`` (to bring it back, in units), ``scratch`` (all its refs are scratch)."""
        return self._rows(dict.values)

    def entry(self, checksum: Checksum | str | bytes) -> dict[str, Any] | None:
        """The :meth:`entries` row of one checksum, O(1); ``None`` if the cache has none."""
        key = Checksum(checksum)._digest
        rows = self._rows(lambda entries: [entries[key]] if key in entries else [])
        return rows[0] if rows else None

    def _rows(self, select: Callable[[dict], Any]) -> list[dict[str, Any]]:
        """Rows for the entries ``select`` picks from the table (read under the lock)."""
        with self._observing():
            now = self._clock()
            rows = [
                (e.checksum, e.size, e.buffer is not None, e.wref, e.refs, e.tempref, e.scratch)
                for e in select(self._entries)
            ]
        cost = self.costs.cost
        return [
            {
                "checksum": checksum,
                "size": size,
                "strong": strong,
                "in_memory": strong or (wref is not None and wref() is not None),
                "normal_refs": refs,
                "tempref_interest": 0.0 if tempref is None else decayed(tempref._params, now),
                "cost": cost(checksum, size),
                "scratch": scratch and bool(refs or tempref),
            }
            for checksum, size, strong, wref, refs, tempref, scratch in rows
        ]

    def check_totals(self) -> None:
        """Recount every running total from the entries; ``AssertionError`` on a mismatch.
        A consistency check for tests, O(n)."""
        with self._observing():
            entries = list(self._entries.values())
            strong = [e for e in entries if e.buffer is not None]
            weak = [e for e in entries if e.buffer is None and e.wref is not None]
            recount = {
                "strong": (sum(e.size or 0 for e in strong), len(strong)),
                "weak": (sum(e.size or 0 for e in weak), len(weak)),
                "interest": sum(1 for e in entries if _has_interest(e)),
                "temprefs": sum(1 for e in entries if e.tempref is not None),
            }
            totals = {
                "strong": (self._strong_bytes, self._strong_count),
                "weak": (self._weak_bytes, self._weak_count),
                "interest": self._interest_count,
                "temprefs": self._tempref_count,
            }
            assert totals == recount, f"running totals {totals} != recount {recount}"
            assert set(self._strong) == {e.key for e in strong}
            for e in entries:
                assert e.refs >= 0, "negative refs"
                assert e.buffer is None or _has_interest(e), "strong entry without interest"
                assert e.buffer is not None or e.wref is not None or _has_interest(e)

    # -- eviction --------------------------------------------------------------------------

    def _over_soft_cap(self) -> None:
        # Under the lock, when the strong tier grew past the soft cap.
        if not self._background or self._closed:
            return
        if self._thread is None:
            self._start_evictor()
        elif not self._wake.is_set() and (not self._polling or self._strong_bytes > self._hard_cap):
            self._wake.set()

    def run_eviction_once(self) -> EvictionResult:
        """Run one eviction pass now (after any pass already running)."""
        return self._run_pass()[0]

    def _run_pass(self, everything: bool = False) -> tuple[EvictionResult, int]:
        """One pass, and how many victims it planned. ``everything``: plan every entry that
        can leave memory without loss (for :meth:`clear`), whatever the caps say."""
        if self._lock.held_here():  # re-entered from a __del__ during an operation
            return EvictionResult(0, 0, 0, self._strong_bytes, self._strong_bytes), 0
        with self._pass_lock:
            outer, self._pass_thread = self._pass_thread, threading.get_ident()
            try:
                return self._pass(everything)
            finally:
                self._pass_thread = outer

    def _pass(self, everything: bool) -> tuple[EvictionResult, int]:
        self._housekeep()
        with self._lock:
            self._lock.release_later(self._maintain())
            usage = self._strong_bytes
            if usage <= self._soft_cap and not everything:
                return EvictionResult(0, 0, 0, usage, usage), 0
            snapshot = list(self._strong.values())
            now = self._clock()
        if everything:
            victims = eviction_pass.everything(snapshot, self.costs, self._spill.path is not None)
        else:
            policy, temprefs = self._policy(), bool(self._tempref_count)
            victims = eviction_pass.plan(snapshot, usage, now, policy, self.costs, temprefs)
        del snapshot
        planned = len(victims.entries)
        victims, spilled, failures = eviction_pass.spill(victims, self._spill_into)
        evicted, freed = self._commit(victims, spilled, failures, everything)
        return EvictionResult(evicted, freed, spilled, usage, self._strong_bytes), planned

    def _commit(self, victims: Victims, spilled: int, failures: int, everything: bool) -> tuple:
        floor = -1 if everything else self._soft_cap
        with self._lock:
            self._spilled_bytes += spilled
            self._spill_failures += failures
            evicted, freed, dropped = eviction_pass.commit(
                victims, lambda: self._strong_bytes <= floor, self._demote
            )
            self._lock.release_later(dropped)
            self._evictions += evicted
            self._evicted_bytes += freed
        return evicted, freed

    def _spill_disk(self) -> dict[str, int]:
        # A size-limited folder keeps a running total of its usage: cheap to report (an
        # unlimited one would have to scan the disk).
        folder = self._spill.folder
        if folder is None or folder.size_limit is None:
            return {}
        return {"spill_disk_bytes": folder.disk_usage(), "spill_size_limit": folder.size_limit}

    def _spill_into(self, checksum: Checksum, buffer: Any) -> BufferFolder:
        """Write ``buffer`` to the spill folder and declare the copy there; ``OSError``
        unless the folder confirms an intact copy (a stale or damaged file under the same
        name is replaced, never trusted)."""
        folder = self.spill_folder
        if folder is None:
            raise OSError("spilling is off")
        if folder.put(checksum, buffer.content) is not True:
            raise OSError(f"{folder!r} did not confirm an intact copy")
        self.costs.add_holder(checksum, folder)
        return folder

    def _enforce_hard_cap(self) -> None:
        """After an operation that left strong usage above the hard cap: passes until it is
        back at or below it, or nothing evictable is left, before the operation returns.

        Only in a cache that evicts on its own (``background``, not closed: otherwise only
        :meth:`run_eviction_once` evicts), and never from inside a pass on this thread (a
        ``__del__`` during a spill)."""
        if not self._background or self._closed or self._pass_thread == threading.get_ident():
            return
        for _ in range(_HARD_CAP_PASSES):
            if self._strong_bytes <= self._hard_cap:
                return
            try:
                result, planned = self._run_pass()
            except Exception:  # the operation itself succeeded: do not fail it
                logger.exception("buffer cache eviction pass failed")
                return
            if not planned:
                return  # nothing evictable left
            # Victims planned but none evicted: they changed meanwhile (or could not be
            # spilled, and are no longer planned next time); plan again.

    def clear(self) -> EvictionResult:
        """Release every buffer the cache holds in memory that can leave it without loss.

        Every strong buffer goes to the weak tier (as eviction does) if it can be brought
        back: a store holds a verified copy or a transformation can recompute it; or else it
        is written to the spill folder first. A buffer that cannot be spilled (spilling is
        off, or the write fails) stays in memory: the only copy of a referenced buffer is
        never dropped. Interest is kept (refs and temprefs stay; the buffers are resolved
        again when needed), and so is the weak tier: buffers someone else holds stay
        findable. Buffers of unknown or zero size stay. Returns what was done, as a pass.
        """
        return self._run_pass(everything=True)[0]

    # -- the background evictor (the protocol of .evictor) -----------------------------------

    def _start_evictor(self) -> None:
        weakref.finalize(self, self._wake.set)  # so that the thread notices we are gone
        self._thread = start_evictor(self, self._wake)

    def evictor_pass(self) -> bool | None:
        """For the evictor thread: a pass if usage is above the soft cap. Returns whether
        it evicted anything (``None``: no pass was due)."""
        if self._strong_bytes <= self._soft_cap:
            return None
        return bool(self.run_eviction_once().evicted)

    def evictor_idle(self) -> float | None:
        """For the evictor thread, before it waits: seconds until the next pass while usage
        stays above the soft cap, else ``None`` (it then waits to be woken)."""
        # Say "idle" before the last look at usage: an operation that pushes usage over the
        # soft cap after that look then sees "idle" and wakes the thread.
        self._polling = False
        polling = self._polling = self._strong_bytes > self._soft_cap
        return self._interval if polling else None

    # -- 0.1.4's API, for the Seamless ecosystem ---------------------------------------------
    # Kept apart from the core above: these only read entries or go through its tier moves.

    def is_scratch_ref(self, checksum: Checksum | str | bytes) -> bool:
        """Whether ``checksum`` has interest (refs or a tempref) and every reference so far
        was a scratch one (its buffer is then not uploaded)."""
        entry = self._entries.get(Checksum(checksum)._digest)
        return entry is not None and _has_interest(entry) and entry.scratch

    def refresh_tempref(self, checksum: Checksum | str | bytes) -> None:
        """Restart the checksum's tempref (if it has one) at its interest, as if just made."""
        entry = self._entries.get(Checksum(checksum)._digest)
        tempref = entry.tempref if entry is not None else None
        if entry is not None and tempref is not None:
            self._tempref(
                entry.checksum,
                None,
                tempref.interest,
                tempref.fade_factor,
                tempref.fade_interval,
                True,  # a refresh leaves the entry's scratch state as it is
            )

    def purge_scratch(self, checksum: Checksum | str | bytes | None = None) -> int:
        """Forget buffers that only scratch temprefs keep: their tempref goes and the cache
        stops finding them, even while someone still holds them. With ``checksum``, just
        that one (also when nothing references it: then it is only forgotten). Never
        touches entries with normal refs or a non-scratch reference. Returns how many
        entries were forgotten."""
        with self._lock:
            if checksum is not None:
                entry = self._entries.get(Checksum(checksum)._digest)
                candidates = [] if entry is None else [entry]
            else:
                candidates = [e for e in self._entries.values() if e.tempref is not None]
            purged = 0
            for entry in candidates:
                if entry.refs or not entry.scratch:
                    continue
                if entry.tempref is None and checksum is None:
                    continue
                self._lock.release_later(self._forget(entry))
                purged += 1
        return purged

    def _forget(self, entry: _Entry) -> Any:
        # Under the lock, for an entry without normal refs: no tempref, no tier, no entry.
        held = None
        if entry.tempref is not None:
            entry.tempref = None
            self._tempref_count -= 1
            held = self._lose_interest(entry)
        if self._entries.get(entry.key) is entry:
            if entry.wref is not None and entry.buffer is None:
                self._weak_bytes -= entry.size or 0
                self._weak_count -= 1
            entry.wref = entry.spare = None
            del self._entries[entry.key]
        return held

    @property
    def lock(self) -> Any:
        """The cache's lock (0.1.4 exposed it; hold it only briefly, and call nothing of the
        cache while holding it)."""
        return self._lock

    @property
    def strong_cache(self) -> Mapping[Checksum, Any]:
        """Read-only view: checksum -> buffer, for the buffers the cache holds strongly."""
        return _TierView(self, strong=True)

    @property
    def weak_cache(self) -> Mapping[Checksum, Any]:
        """Read-only view: checksum -> buffer, for the buffers findable only while someone
        else holds them."""
        return _TierView(self, strong=False)

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop the background evictor, waiting up to ``timeout`` seconds for a pass in
        progress. The cache stays usable; only :meth:`run_eviction_once` evicts after."""
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def __enter__(self) -> BufferCache:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


# -- views ------------------------------------------------------------------------------------


class _TierView(Mapping):
    """A live read-only mapping over one tier of a cache, taking no lock (so that it can
    be used while holding :attr:`BufferCache.lock`): entries read at one moment."""

    def __init__(self, cache: BufferCache, strong: bool) -> None:
        self._cache = cache
        self._strong = strong

    def _buffer(self, entry: _Entry) -> Any:
        if self._strong:
            return entry.buffer
        if entry.buffer is not None or entry.wref is None:
            return None
        return entry.wref()

    def __getitem__(self, checksum: Any) -> Any:
        try:
            key = Checksum(checksum)._digest
        except (TypeError, ValueError):
            raise KeyError(checksum) from None
        entry = self._cache._entries.get(key)
        buffer = None if entry is None else self._buffer(entry)
        if buffer is None:
            raise KeyError(checksum)
        return buffer

    def __iter__(self) -> Iterator[Checksum]:
        for entry in list(self._cache._entries.values()):
            if self._buffer(entry) is not None:
                yield entry.checksum

    def __len__(self) -> int:
        return sum(1 for _ in self)
