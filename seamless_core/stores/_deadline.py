"""An overall deadline for HTTP requests, on top of httpx's per-operation timeouts.

httpx's read timeout bounds the wait for each chunk, so a server that trickles one byte a
second keeps a request alive forever. Here every socket operation of a connection (connect,
each read, each write) gets at most the time left until the deadline of the request being
served, which a :class:`ContextVar` carries: it follows the calling thread for the sync
client and the calling task for the async one. The network backend of the client's
connection pool is wrapped to apply it (:func:`install`); a client whose pool cannot be
reached still has its body reads checked between chunks (:meth:`Deadline.check`).

A deadline may allow a longer wait for the server's first byte (``wait``): hashserver
holds the GET of a promised buffer until it arrives and hashes a file before sending it.
The wrapped reads tell the deadline when the first bytes came (:meth:`Deadline.started`);
from then on the ordinary bound counts.

httpcore is imported only when a client is set up, never at import of this module.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any

__all__ = ["Deadline", "active", "install"]


class Deadline:
    """The moment (``time.monotonic()``) by which the current request must be done.

    ``wait`` allows a server to take longer than ``seconds`` before its first byte (a
    hashserver holds a GET on a promised buffer, and hashes a file before sending it):
    until the first bytes arrive the request may take ``max(seconds, wait)``; from then
    on, ``seconds`` (plus any :meth:`extend`) counted from that first byte."""

    __slots__ = ("at", "seconds", "waiting", "what")

    def __init__(self, seconds: float, what: str, wait: float = 0.0) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + max(seconds, wait)
        self.waiting = wait > seconds
        self.what = what

    def extend(self, seconds: float) -> None:
        """Allow ``seconds`` more (once a response announces how much it will send)."""
        self.at += seconds
        self.seconds += seconds

    def started(self) -> None:
        """The server's first bytes arrived: the deadline now counts from here."""
        if self.waiting:
            self.waiting = False
            self.at = time.monotonic() + self.seconds

    def left(self) -> float:
        return self.at - time.monotonic()

    def check(self) -> None:
        """Raise ``httpx.ReadTimeout`` when the deadline has passed."""
        if self.left() <= 0:
            import httpx

            raise httpx.ReadTimeout(f"overall deadline of {self.what} passed")


_current: ContextVar[Deadline | None] = ContextVar("seamless_request_deadline", default=None)


def active() -> ContextVar[Deadline | None]:
    """The context variable holding the deadline of the request in progress, if any."""
    return _current


def _received(data: bytes) -> bytes:
    deadline = _current.get()
    if data and deadline is not None and deadline.waiting:
        deadline.started()
    return data


def _capped(timeout: float | None, error: type[Exception]) -> float | None:
    deadline = _current.get()
    if deadline is None:
        return timeout
    left = deadline.left()
    if left <= 0:
        raise error(f"overall deadline of {deadline.what} passed")
    return left if timeout is None else min(timeout, left)


_classes: dict[str, type] = {}


def _wrappers() -> dict[str, type]:
    if _classes:
        return _classes
    import httpcore

    class Stream(httpcore.NetworkStream):
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            timeout = _capped(timeout, httpcore.ReadTimeout)
            return _received(self._inner.read(max_bytes, timeout))

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            self._inner.write(buffer, _capped(timeout, httpcore.WriteTimeout))

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, ssl_context, server_hostname=None, timeout=None):
            timeout = _capped(timeout, httpcore.ConnectTimeout)
            return Stream(self._inner.start_tls(ssl_context, server_hostname, timeout))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class Backend(httpcore.NetworkBackend):
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            timeout = _capped(timeout, httpcore.ConnectTimeout)
            return Stream(
                self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
            )

        def connect_unix_socket(self, path, timeout=None, socket_options=None):
            timeout = _capped(timeout, httpcore.ConnectTimeout)
            return Stream(self._inner.connect_unix_socket(path, timeout, socket_options))

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    class AsyncStream(httpcore.AsyncNetworkStream):
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            timeout = _capped(timeout, httpcore.ReadTimeout)
            return _received(await self._inner.read(max_bytes, timeout))

        async def write(self, buffer: bytes, timeout: float | None = None) -> None:
            await self._inner.write(buffer, _capped(timeout, httpcore.WriteTimeout))

        async def aclose(self) -> None:
            await self._inner.aclose()

        async def start_tls(self, ssl_context, server_hostname=None, timeout=None):
            timeout = _capped(timeout, httpcore.ConnectTimeout)
            return AsyncStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class AsyncBackend(httpcore.AsyncNetworkBackend):
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        async def connect_tcp(
            self, host, port, timeout=None, local_address=None, socket_options=None
        ):
            timeout = _capped(timeout, httpcore.ConnectTimeout)
            stream = await self._inner.connect_tcp(
                host, port, timeout, local_address, socket_options
            )
            return AsyncStream(stream)

        async def connect_unix_socket(self, path, timeout=None, socket_options=None):
            timeout = _capped(timeout, httpcore.ConnectTimeout)
            return AsyncStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

        async def sleep(self, seconds: float) -> None:
            await self._inner.sleep(seconds)

    _classes.update(sync=Backend, asynchronous=AsyncBackend)
    return _classes


def install(client: Any) -> bool:
    """Wrap the network backend of each connection pool of an httpx client (its default
    transport and the mounted proxy transports) so that the active deadline applies.
    Returns whether every pool could be reached (httpx keeps them in private attributes)."""
    wrappers = _wrappers()
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    complete = True
    for transport in transports:
        if transport is None:
            continue
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            complete = False
            continue
        wrapper = wrappers["asynchronous" if _is_async(backend) else "sync"]
        if not isinstance(backend, wrapper):
            pool._network_backend = wrapper(backend)  # type: ignore[union-attr]
    return complete


def _is_async(backend: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(backend.connect_tcp)
