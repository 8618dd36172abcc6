"""``HashServer``: a client for the HTTP protocol of the ``hashserver`` package.

The protocol, as served by ``hashserver`` (``pip install hashserver``):

- ``GET /{checksum}``: the buffer (200; possibly with a ``Content-Encoding`` when the server
  stores it compressed), 404 when absent, 400 when the server found its copy corrupt;
- ``PUT /{checksum}`` with the buffer as body (only with ``--writable``): 200 stored,
  201 already there, 202 the same upload is in progress, 400 wrong checksum;
- ``PUT /promise/{checksum}``: announce an upload to come (202, JSON ``expires_in``);
- ``GET /has``, ``GET /has-now``, ``GET /buffer-length``, each with a JSON list of
  checksums as body: a JSON list of booleans / lengths (0 when absent);
- ``GET /healthcheck``: ``OK``.

httpx is imported on first use, so that ``import seamless_core`` does not pull it in.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..checksum import Checksum, sha256_digest
from .base import (
    BufferStore,
    ChecksumLike,
    CorruptBufferError,
    StoreNotWritableError,
    StoreUnavailableError,
    as_checksum,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["HashServer", "is_loopback_host"]

DEFAULT_TIMEOUT = 10.0
DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF = 0.2
BATCH_SIZE = 1000  # checksums per /has or /buffer-length request
# After a request failed every attempt, further requests within this many seconds make a
# single attempt: a dead server then costs one refused connection, not a round of backoff.
DOWN_SECONDS = 5.0
# Downloads larger than this are verified in a worker thread, off the event loop.
_VERIFY_IN_THREAD = 16 << 20
_RETRY_STATUS = frozenset({502, 503, 504})
_EMPTY = Checksum.of(b"")


def _httpx() -> Any:
    try:
        import httpx
    except ImportError as exc:
        raise ImportError(
            "HashServer needs httpx: pip install 'seamless-core[http]' (or httpx)"
        ) from exc
    return httpx


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an IP address) designates this machine."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _keep_open(client: httpx.AsyncClient):
    # Held for the lifetime of an event loop: when the loop shuts down its async
    # generators (asyncio.run does), this one closes the client on that loop.
    try:
        yield
    finally:
        await client.aclose()


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class HashServer(BufferStore):
    """A buffer store behind a ``hashserver`` HTTP server.

    Connections are pooled: one ``httpx.Client`` for synchronous calls, one
    ``httpx.AsyncClient`` per event loop for the async twins. Connection failures are
    retried ``retries`` times with exponential backoff (``backoff``, doubling); a server
    that cannot be reached or does not answer within ``timeout`` seconds raises
    :class:`~seamless_core.stores.base.StoreUnavailableError` naming its URL. Every
    download is verified against its checksum.

    Args:
        url: ``http://host:port`` (a path prefix is allowed).
        writable: whether :meth:`put` may be called (the server must run with ``--writable``).
        timeout: seconds to wait for the server's next bytes once connected.
        connect_timeout: seconds to wait for a connection.
        retries: extra attempts after a connection failure.
        backoff: seconds before the first retry.

    ``cost_profile`` is ``"local_hashserver"`` for a loopback host, else
    ``"remote_hashserver"``.
    """

    verifies = True

    def __init__(
        self,
        url: str,
        *,
        writable: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"HashServer() takes a URL string, not {type(url).__name__}")
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"a hashserver URL looks like http://host:port, got {url!r}")
        if retries < 0 or timeout <= 0 or connect_timeout <= 0 or backoff < 0:
            raise ValueError("need retries >= 0, timeouts > 0 and backoff >= 0")
        self.url = url.strip().rstrip("/")
        self.writable = bool(writable)
        self.local = is_loopback_host(parts.hostname)
        self.cost_profile = "local_hashserver" if self.local else "remote_hashserver"
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._client_pid = 0
        self._async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._down_until = 0.0

    def __repr__(self) -> str:
        extra = "" if self.writable else ", writable=False"
        return f"HashServer({self.url!r}{extra})"

    # -- connections -----------------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        httpx = _httpx()
        return {
            "timeout": httpx.Timeout(self.timeout, connect=self.connect_timeout),
            "limits": httpx.Limits(max_connections=16, max_keepalive_connections=8),
            # A proxy from the environment has no business relaying loopback traffic.
            "trust_env": not self.local,
            "follow_redirects": False,
        }

    def _sync_client(self) -> httpx.Client:
        client = self._client
        if client is not None and self._client_pid == os.getpid():
            return client
        with self._lock:
            # After a fork the parent's pooled connections are not ours to use.
            if self._client is None or self._client_pid != os.getpid():
                client = _httpx().Client(**self._options())
                # A store dropped without close() must not leave its pooled sockets open.
                # Not at exit, though: the uploads flushed at exit still need the client.
                weakref.finalize(self, client.close).atexit = False
                self._client = client
                self._client_pid = os.getpid()
            return self._client

    async def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        entry = self._async_clients.get(loop)
        if entry is not None:
            return entry[0]
        client = _httpx().AsyncClient(**self._options())
        keeper = _keep_open(client)
        await keeper.__anext__()  # from now on the loop finalizes it at shutdown
        with self._lock:
            entry = self._async_clients.setdefault(loop, (client, keeper))
        if entry[0] is not client:
            await keeper.aclose()
        return entry[0]

    def close(self) -> None:
        """Close the synchronous client's connections (async clients close with their
        event loop, or with :meth:`aclose`)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close the connections of the running loop's async client."""
        entry = self._async_clients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[1].aclose()

    # -- requests --------------------------------------------------------------------------

    def _attempts(self) -> int:
        return 1 if time.monotonic() < self._down_until else self.retries + 1

    def _delay(self, attempt: int) -> float:
        return self.backoff * 2 ** (attempt - 1)

    def _transient(self) -> tuple[type[BaseException], ...]:
        httpx = _httpx()
        return (
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.RemoteProtocolError,
            httpx.ReadError,
            httpx.WriteError,
        )

    def _failure(self, method: str, target: str, error: Any, attempts: int) -> Exception:
        httpx = _httpx()
        if isinstance(error, httpx.DecodingError):
            return CorruptBufferError(
                f"hashserver {self.url} sent undecodable data for {method} /{target}: {error}"
            )
        if isinstance(error, httpx.TimeoutException):
            what = f"did not answer {method} /{target} in time ({type(error).__name__})"
        else:
            tries = f" after {attempts} attempts" if attempts > 1 else ""
            what = f"failed {method} /{target}{tries}: {error or type(error).__name__}"
        return StoreUnavailableError(f"hashserver {self.url} unavailable: {what}")

    # The retry policy, shared by _send and _asend (which differ only in how they wait and
    # call): a transient error or a retry status means "try again", anything else decides.

    def _retry_error(self, method: str, target: str, exc: Exception, attempt: int) -> Exception:
        """The error to retry after, for a request that raised ``exc``; raises if final."""
        if isinstance(exc, self._transient()):
            return exc
        if isinstance(exc, _httpx().HTTPError):
            raise self._failure(method, target, exc, attempt + 1) from exc
        raise exc

    def _retry_reason(self, response: httpx.Response) -> str | None:
        """Why ``response`` should be retried, or ``None`` (then the server is up)."""
        if response.status_code in _RETRY_STATUS:
            return f"HTTP {response.status_code}"
        self._down_until = 0.0
        return None

    def _give_up(self, method: str, target: str, error: Any, attempts: int) -> Exception:
        self._down_until = time.monotonic() + DOWN_SECONDS
        failure = self._failure(method, target, error, attempts)
        failure.__cause__ = error if isinstance(error, BaseException) else None
        return failure

    def _send(self, method: str, target: str, **kwargs: Any) -> httpx.Response:
        """Send a request with retries; raises StoreUnavailableError when all fail."""
        client = self._sync_client()
        attempts = self._attempts()
        error: Any = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(self._delay(attempt))
            try:
                response = client.request(method, f"{self.url}/{target}", **kwargs)
            except Exception as exc:
                error = self._retry_error(method, target, exc, attempt)
                continue
            error = self._retry_reason(response)
            if error is None:
                return response
        raise self._give_up(method, target, error, attempts)

    async def _asend(self, method: str, target: str, **kwargs: Any) -> httpx.Response:
        """Async twin of :meth:`_send`."""
        client = await self._async_client()
        attempts = self._attempts()
        error: Any = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self._delay(attempt))
            try:
                response = await client.request(method, f"{self.url}/{target}", **kwargs)
            except Exception as exc:
                error = self._retry_error(method, target, exc, attempt)
                continue
            error = self._retry_reason(response)
            if error is None:
                return response
        raise self._give_up(method, target, error, attempts)

    def _unexpected(self, what: str, response: httpx.Response) -> StoreUnavailableError:
        text = response.text[:200].strip()
        return StoreUnavailableError(
            f"hashserver {self.url} answered {what} with HTTP {response.status_code}: {text}"
        )

    # -- responses (shared by the sync and async methods) ----------------------------------

    def _download(self, checksum: Checksum, response: httpx.Response) -> bytes | None:
        status = response.status_code
        if status == 404:
            return None
        if status == 400 and "corrupt" in response.text.lower():
            raise CorruptBufferError(
                f"hashserver {self.url} holds a corrupt copy of buffer {checksum.hex()}: "
                f"{response.text[:200].strip()}"
            )
        if status != 200:
            raise self._unexpected(f"GET /{checksum.hex()}", response)
        return response.content

    def _refuse(self, checksum: Checksum, content: bytes) -> CorruptBufferError:
        return CorruptBufferError(
            f"hashserver {self.url} served {len(content)} bytes for buffer {checksum.hex()} "
            "that have another checksum"
        )

    def _stored(self, checksum: Checksum, response: httpx.Response, what: str) -> Any:
        status = response.status_code
        if status in (404, 405):
            raise StoreNotWritableError(
                f"hashserver {self.url} does not accept uploads (is it running with --writable?)"
            )
        if status == 400:
            raise CorruptBufferError(
                f"hashserver {self.url} refused buffer {checksum.hex()}: "
                f"{response.text[:200].strip()}"
            )
        if status not in (200, 201, 202):
            raise self._unexpected(what, response)
        return response

    def _json_list(self, response: httpx.Response, count: int, what: str) -> list:
        if response.status_code == 200:
            try:
                values = response.json()
            except ValueError:
                values = None
            if isinstance(values, list) and len(values) == count:
                return values
        raise self._unexpected(what, response)

    @staticmethod
    def _length(checksum: str, value: Any) -> int | None:
        # The server says 0 for an absent buffer and true for a promised one.
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return None
        if value == 0 and checksum != _EMPTY.hex():
            return None
        return value

    # -- BufferStore -----------------------------------------------------------------------

    def get(self, checksum: ChecksumLike) -> bytes | None:
        """The verified buffer, or ``None`` when the server does not have it."""
        checksum = as_checksum(checksum)
        content = self._download(checksum, self._send("GET", checksum.hex()))
        if content is not None and sha256_digest(content) != checksum.bytes():
            raise self._refuse(checksum, content)
        return content

    async def get_async(self, checksum: ChecksumLike) -> bytes | None:
        """Async twin of :meth:`get`."""
        checksum = as_checksum(checksum)
        content = self._download(checksum, await self._asend("GET", checksum.hex()))
        if content is None:
            return None
        if len(content) > _VERIFY_IN_THREAD:
            digest = await asyncio.to_thread(sha256_digest, content)
        else:
            digest = sha256_digest(content)
        if digest != checksum.bytes():
            raise self._refuse(checksum, content)
        return content

    def has(self, checksum: ChecksumLike) -> bool:
        """Whether the server has the buffer, or has been promised it."""
        return self.has_batch([checksum])[0]

    async def has_async(self, checksum: ChecksumLike) -> bool:
        """Async twin of :meth:`has`."""
        return (await self.has_batch_async([checksum]))[0]

    def has_batch(
        self, checksums: Iterable[ChecksumLike], *, include_promises: bool = True
    ) -> list[bool]:
        """One boolean per checksum, asked in batches of :data:`BATCH_SIZE`.
        ``include_promises=False`` counts only buffers the server holds now."""
        hexes = [as_checksum(c).hex() for c in checksums]
        result: list[bool] = []
        for chunk in _chunks(hexes, BATCH_SIZE):
            endpoint = "has" if include_promises else "has-now"
            response = self._send("GET", endpoint, json=chunk)
            if endpoint == "has-now" and response.status_code in (400, 404):
                endpoint = "has"  # a server from before /has-now existed
                response = self._send("GET", endpoint, json=chunk)
            result += [bool(v) for v in self._json_list(response, len(chunk), f"/{endpoint}")]
        return result

    async def has_batch_async(
        self, checksums: Sequence[ChecksumLike], *, include_promises: bool = True
    ) -> list[bool]:
        """Async twin of :meth:`has_batch`."""
        hexes = [as_checksum(c).hex() for c in checksums]
        result: list[bool] = []
        for chunk in _chunks(hexes, BATCH_SIZE):
            endpoint = "has" if include_promises else "has-now"
            response = await self._asend("GET", endpoint, json=chunk)
            if endpoint == "has-now" and response.status_code in (400, 404):
                endpoint = "has"
                response = await self._asend("GET", endpoint, json=chunk)
            result += [bool(v) for v in self._json_list(response, len(chunk), f"/{endpoint}")]
        return result

    def buffer_length(self, checksum: ChecksumLike) -> int | None:
        """The buffer's length, or ``None`` when the server does not have it."""
        return self.buffer_length_batch([checksum])[0]

    async def buffer_length_async(self, checksum: ChecksumLike) -> int | None:
        """Async twin of :meth:`buffer_length`."""
        return (await self.buffer_length_batch_async([checksum]))[0]

    def buffer_length_batch(self, checksums: Iterable[ChecksumLike]) -> list[int | None]:
        """One length (or ``None``) per checksum, asked in batches of :data:`BATCH_SIZE`."""
        hexes = [as_checksum(c).hex() for c in checksums]
        result: list[int | None] = []
        for chunk in _chunks(hexes, BATCH_SIZE):
            response = self._send("GET", "buffer-length", json=chunk)
            values = self._json_list(response, len(chunk), "/buffer-length")
            result += [self._length(h, v) for h, v in zip(chunk, values)]
        return result

    async def buffer_length_batch_async(
        self, checksums: Sequence[ChecksumLike]
    ) -> list[int | None]:
        """Async twin of :meth:`buffer_length_batch`."""
        hexes = [as_checksum(c).hex() for c in checksums]
        result: list[int | None] = []
        for chunk in _chunks(hexes, BATCH_SIZE):
            response = await self._asend("GET", "buffer-length", json=chunk)
            values = self._json_list(response, len(chunk), "/buffer-length")
            result += [self._length(h, v) for h, v in zip(chunk, values)]
        return result

    def put(self, checksum: ChecksumLike, content: bytes) -> None:
        """Upload ``content``; the server checks it against ``checksum`` (400 otherwise,
        raised as :class:`CorruptBufferError`)."""
        self._require_writable()
        checksum = as_checksum(checksum)
        response = self._send("PUT", checksum.hex(), content=bytes(content))
        self._stored(checksum, response, f"PUT /{checksum.hex()}")

    async def put_async(self, checksum: ChecksumLike, content: bytes) -> None:
        """Async twin of :meth:`put`."""
        self._require_writable()
        checksum = as_checksum(checksum)
        response = await self._asend("PUT", checksum.hex(), content=bytes(content))
        self._stored(checksum, response, f"PUT /{checksum.hex()}")

    # -- hashserver extras -----------------------------------------------------------------

    def _expires_in(self, response: httpx.Response) -> float:
        try:
            return float(response.json()["expires_in"])
        except (ValueError, KeyError, TypeError):
            return 0.0

    def promise(self, checksum: ChecksumLike) -> float:
        """Announce that the buffer will be uploaded soon: until then (or until the promise
        expires) the server counts it in ``has`` and holds ``GET`` requests for it.
        Returns the seconds until the promise expires."""
        self._require_writable()
        checksum = as_checksum(checksum)
        response = self._send("PUT", f"promise/{checksum.hex()}")
        return self._expires_in(self._stored(checksum, response, "PUT /promise"))

    async def promise_async(self, checksum: ChecksumLike) -> float:
        """Async twin of :meth:`promise`."""
        self._require_writable()
        checksum = as_checksum(checksum)
        response = await self._asend("PUT", f"promise/{checksum.hex()}")
        return self._expires_in(self._stored(checksum, response, "PUT /promise"))

    def healthcheck(self, timeout: float | None = None) -> bool:
        """Whether the server answers ``/healthcheck`` (one attempt, no retries)."""
        httpx = _httpx()
        try:
            response = self._sync_client().get(
                f"{self.url}/healthcheck", timeout=timeout or self.connect_timeout
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def healthcheck_async(self, timeout: float | None = None) -> bool:
        """Async twin of :meth:`healthcheck`."""
        httpx = _httpx()
        try:
            client = await self._async_client()
            response = await client.get(
                f"{self.url}/healthcheck", timeout=timeout or self.connect_timeout
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 200
