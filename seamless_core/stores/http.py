"""HTTP plumbing shared by the stores that talk to servers: pooled clients, the retry
policy, bounded concurrency, and the two runners of a request plan.

A protocol operation is written once, as a *plan*: a generator that yields steps
(:class:`Open` a streamed request, :class:`Read` its body, :class:`Sleep` before a retry,
:class:`Offload` a CPU-heavy call) and receives each step's result, or has the step's
exception thrown into it. :func:`run_sync` drives a plan with blocking calls,
:func:`run_async` with awaits; the plan itself never knows which one runs it.

httpx is imported on first use, never at import of this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from . import _deadline

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ClientPool",
    "Offload",
    "Open",
    "Plan",
    "Read",
    "RetryPolicy",
    "Sleep",
    "drive",
    "drive_async",
    "env_float",
    "env_int",
    "map_bounded",
    "map_bounded_async",
    "run_async",
    "run_sync",
]

T = TypeVar("T")
R = TypeVar("R")


def httpx_module() -> Any:
    """httpx, imported now; a MissingDependency naming the extra to install otherwise."""
    from .._optional import require

    return require("httpx", "http", "HashServer (the hashserver store)")


# -- configuration from the environment --------------------------------------------------------


def env_float(name: str, default: float, environ: Any = None) -> float:
    """A positive number from the environment variable ``name``, else ``default``;
    ValueError naming the variable for a value that is no positive number."""
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def env_int(name: str, default: int, environ: Any = None) -> int:
    """A positive integer from the environment variable ``name``, else ``default``."""
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


# -- retries -----------------------------------------------------------------------------------


class RetryPolicy:
    """How often and how patiently a request is retried.

    ``retries`` extra attempts after a transient failure, the first after ``backoff``
    seconds, doubling. After a request failed every attempt, the server counts as down for
    ``down_seconds``: requests then make a single attempt, so that a dead server costs one
    refused connection, not a round of backoff."""

    def __init__(self, retries: int, backoff: float, down_seconds: float) -> None:
        self.retries = retries
        self.backoff = backoff
        self.down_seconds = down_seconds
        self._down_until = 0.0

    def attempts(self) -> int:
        return 1 if time.monotonic() < self._down_until else self.retries + 1

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (1 is the first retry)."""
        return self.backoff * 2 ** (attempt - 1)

    def up(self) -> None:
        self._down_until = 0.0

    def down(self) -> None:
        self._down_until = time.monotonic() + self.down_seconds


# -- pooled clients ----------------------------------------------------------------------------


async def _keep_open(client: httpx.AsyncClient) -> Any:
    # Held for the lifetime of an event loop: when the loop shuts down its async
    # generators (asyncio.run does), this one closes the client on that loop.
    try:
        yield
    finally:
        await client.aclose()


class ClientPool:
    """One ``httpx.Client`` per process (a forked child makes its own) and one
    ``httpx.AsyncClient`` per event loop, built from ``options()`` and wired to the
    overall request deadline (:mod:`._deadline`)."""

    def __init__(self, owner: object, options: Callable[[], dict[str, Any]]) -> None:
        self._options = options
        self._owner = weakref.ref(owner)
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._client_pid = 0
        self._async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def sync(self) -> httpx.Client:
        client = self._client
        if client is not None and self._client_pid == os.getpid():
            return client
        with self._lock:
            # After a fork the parent's pooled connections are not ours to use.
            if self._client is None or self._client_pid != os.getpid():
                client = httpx_module().Client(**self._options())
                _deadline.install(client)
                owner = self._owner()
                if owner is not None:
                    # A store dropped without close() must not leave its pooled sockets
                    # open. Not at exit: the uploads flushed at exit need the client.
                    weakref.finalize(owner, client.close).atexit = False
                self._client = client
                self._client_pid = os.getpid()
            return self._client

    async def asynchronous(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        entry = self._async_clients.get(loop)
        if entry is not None:
            return entry[0]
        client = httpx_module().AsyncClient(**self._options())
        _deadline.install(client)
        keeper = _keep_open(client)
        await keeper.__anext__()  # from now on the loop finalizes it at shutdown
        with self._lock:
            entry = self._async_clients.setdefault(loop, (client, keeper))
        if entry[0] is not client:
            await keeper.aclose()
        return entry[0]

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        entry = self._async_clients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[1].aclose()


# -- plans and their runners -------------------------------------------------------------------


@dataclass
class Open:
    """Send a request and return the streamed response (headers read, body not yet)."""

    method: str
    url: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Read:
    """Read the raw body of ``response`` (as sent, not decoded), passing each chunk to
    ``add`` (which may raise to stop), then close the response; returns ``None``. With
    ``add=None`` the response is closed unread."""

    response: Any
    add: Callable[[bytes], None] | None


@dataclass
class Sleep:
    seconds: float


@dataclass
class Offload:
    """``function(*args)``: called in place by the sync runner; the async runner calls
    it in a worker thread when ``heavy``, so that it does not block the event loop."""

    function: Callable[..., Any]
    args: tuple
    heavy: bool = False


Step = Open | Read | Sleep | Offload
Plan = Generator[Step, Any, T]


def _advance(
    plan: Generator[Any, Any, Any], value: Any, error: BaseException | None
) -> tuple[bool, Any]:
    """``(done, step or result)`` after sending ``value`` (or throwing ``error``)."""
    try:
        step = plan.send(value) if error is None else plan.throw(error)
    except StopIteration as stop:
        return True, stop.value
    return False, step


def run_sync(plan: Plan[T], pool: ClientPool) -> T:
    """Drive ``plan`` with blocking calls on the pool's synchronous client."""
    value: Any = None
    error: BaseException | None = None
    with contextlib.ExitStack() as responses:
        try:
            while True:
                done, step = _advance(plan, value, error)
                if done:
                    return step
                value, error = None, None
                try:
                    value = _do_sync(step, pool, responses)
                except Exception as exc:
                    error = exc
        finally:
            plan.close()  # in this context: its deadline variable is reset where it was set


def _do_sync(step: Step, pool: ClientPool, responses: contextlib.ExitStack) -> Any:
    if isinstance(step, Open):
        stream = pool.sync().stream(step.method, step.url, **step.kwargs)
        return responses.enter_context(stream)
    if isinstance(step, Read):
        try:
            if step.add is not None:
                for chunk in step.response.iter_raw():
                    step.add(chunk)
        finally:
            step.response.close()
        return None
    if isinstance(step, Sleep):
        time.sleep(max(0.0, step.seconds))
        return None
    return step.function(*step.args)


async def run_async(plan: Plan[T], pool: ClientPool) -> T:
    """Drive ``plan`` with awaits on the running loop's async client."""
    value: Any = None
    error: BaseException | None = None
    async with contextlib.AsyncExitStack() as responses:
        try:
            while True:
                done, step = _advance(plan, value, error)
                if done:
                    return step
                value, error = None, None
                try:
                    value = await _do_async(step, pool, responses)
                except Exception as exc:
                    error = exc
        finally:
            plan.close()


async def _do_async(step: Step, pool: ClientPool, responses: contextlib.AsyncExitStack) -> Any:
    if isinstance(step, Open):
        client = await pool.asynchronous()
        stream = client.stream(step.method, step.url, **step.kwargs)
        return await responses.enter_async_context(stream)
    if isinstance(step, Read):
        try:
            if step.add is not None:
                async for chunk in step.response.aiter_raw():
                    step.add(chunk)
        finally:
            await step.response.aclose()
        return None
    if isinstance(step, Sleep):
        await asyncio.sleep(max(0.0, step.seconds))
        return None
    if step.heavy:
        return await asyncio.to_thread(step.function, *step.args)
    return step.function(*step.args)


# -- plans over other calls -------------------------------------------------------------------


def drive(plan: Generator[Any, Any, R], call: Callable[[Any], Any]) -> R:
    """Run a plan whose steps are not HTTP requests: each item it yields is answered with
    ``call(item)``; an exception ``call`` raises is thrown into the plan."""
    value: Any = None
    error: Exception | None = None
    while True:
        done, item = _advance(plan, value, error)
        if done:
            return item
        value, error = None, None
        try:
            value = call(item)
        except Exception as exc:
            error = exc


async def drive_async(plan: Generator[Any, Any, R], call: Callable[[Any], Awaitable[Any]]) -> R:
    """Async twin of :func:`drive`: each item is answered with ``await call(item)``."""
    value: Any = None
    error: Exception | None = None
    while True:
        done, item = _advance(plan, value, error)
        if done:
            return item
        value, error = None, None
        try:
            value = await call(item)
        except Exception as exc:
            error = exc


# -- bounded concurrency -----------------------------------------------------------------------


def map_bounded(
    function: Callable[[T], R], items: Sequence[T], limit: int
) -> list[R | BaseException]:
    """``function`` of each item, at most ``limit`` at a time (in threads), in order; an
    item whose call raised has its exception in its place.

    Plain threads, not a ``ThreadPoolExecutor``: the uploads flushed at interpreter exit
    run through here, when an executor no longer takes work."""
    results: list[Any] = [None] * len(items)
    indices = iter(range(len(items)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = next(indices, None)
            if index is None:
                return
            try:
                results[index] = function(items[index])
            except Exception as exc:
                results[index] = exc

    workers = [
        threading.Thread(target=work, name="seamless-http", daemon=True)
        for _ in range(min(limit, len(items)) - 1)
    ]
    for worker in workers:
        worker.start()
    work()  # this thread takes its share too
    for worker in workers:
        worker.join()
    return results


async def map_bounded_async(
    function: Callable[[T], Awaitable[R]], items: Iterable[T], limit: int
) -> list[R | BaseException]:
    """Async twin of :func:`map_bounded`: at most ``limit`` awaits in flight."""
    semaphore = asyncio.Semaphore(max(1, limit))

    async def call(item: T) -> R | BaseException:
        async with semaphore:
            try:
                return await function(item)
            except Exception as exc:
                return exc

    return list(await asyncio.gather(*(call(item) for item in items)))
