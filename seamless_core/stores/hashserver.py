"""``HashServer``: a client for the HTTP protocol of the ``hashserver`` package.

The protocol, as served by ``hashserver`` (``pip install hashserver``):

- ``GET /{checksum}``: the buffer (200; possibly with a ``Content-Encoding`` when the server
  stores it compressed), 404 when absent, 400 when the server found its copy corrupt;
- ``PUT /{checksum}`` with the buffer as body (only with ``--writable``): 200 stored (the
  server hashed what it received), 201 a file is already there (not checked), 202 the same
  upload is in progress, 400 wrong checksum;
- ``PUT /promise/{checksum}``: announce an upload to come (202, JSON ``expires_in``);
- ``GET /has``, ``GET /has-now``, ``GET /buffer-length``, each with a JSON list of
  checksums as body: a JSON list of booleans / lengths (0 when absent);
- ``GET /healthcheck``: ``OK``.

Every request is bounded in time and in memory: besides httpx's per-read timeout, each has
an overall deadline (``deadline`` seconds plus the bytes it sends or is announced to
receive at ``min_bandwidth``), and a response body is read only up to its known length
(``Content-Length``; for a compressed or unsized body, the ``/buffer-length`` the server
reports, or ``max_buffer_length``), decompressed with that output limit.

httpx is imported on first use, so that ``import seamless_core`` does not pull it in.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import json
import os
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._compression import DecompressionError, TooLargeError, decompressing_reader, read_limited
from ..checksum import Checksum, sha256_digest
from . import _deadline
from .base import (
    BufferStore,
    BufferTooLargeError,
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
#: Seconds any request may take, plus its size at :data:`DEFAULT_MIN_BANDWIDTH`.
DEFAULT_DEADLINE = 60.0
#: Bytes per second below which a transfer is given up (1 Mbit/s).
DEFAULT_MIN_BANDWIDTH = 128 * 1024
BATCH_SIZE = 1000  # checksums per /has or /buffer-length request
# After a request failed every attempt, further requests within this many seconds make a
# single attempt: a dead server then costs one refused connection, not a round of backoff.
DOWN_SECONDS = 5.0
# Downloads larger than this are verified in a worker thread, off the event loop.
_VERIFY_IN_THREAD = 16 << 20
_RETRY_STATUS = frozenset({502, 503, 504})
_EMPTY = Checksum.of(b"")
# Replies other than buffers (JSON lists, error texts) are read up to this, plus
# _PER_CHECKSUM for each checksum asked about.
_SMALL_BODY = 1 << 20
_PER_CHECKSUM = 100
# The suffix under which _compression decodes each Content-Encoding the server may send.
_ENCODINGS = {"identity": None, "": None, "gzip": ".gz", "x-gzip": ".gz", "zstd": ".zst"}


def _httpx() -> Any:
    from .._optional import require

    return require("httpx", "http", "HashServer (the hashserver store)")


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


def _check_host(host: str, url: str) -> None:
    """Refuse a host name that httpx would refuse at every request (``xn--`` labels that
    are no valid IDNA, non-ASCII names that do not encode), without importing httpx."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if host.isascii() and "xn--" not in host:
        return
    try:
        try:
            import idna  # what httpx uses: the same verdict
        except ImportError:
            host.encode("idna").decode("idna")
        else:
            idna.decode(host) if host.isascii() else idna.encode(host)
    except (UnicodeError, ValueError) as exc:
        raise ValueError(f"invalid host name in hashserver URL {url!r}: {exc}") from None


def _check_url(url: str) -> Any:
    """The parts of a valid hashserver URL; ``ValueError`` naming it otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"a hashserver URL looks like http://host:port, got {url!r}")
    try:
        parts.port  # noqa: B018 - raises for a port that is no number or out of range
    except ValueError as exc:
        raise ValueError(f"invalid port in hashserver URL {url!r}: {exc}") from None
    _check_host(parts.hostname, url)
    return parts


class _Reply:
    """A response whose body has been read (within its limit)."""

    __slots__ = ("body", "headers", "status_code")

    def __init__(self, status_code: int, headers: Any, body: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


def _encoding(response: Any) -> str | None:
    """The compression suffix for the response's Content-Encoding; ValueError if unknown."""
    name = response.headers.get("content-encoding", "").strip().lower()
    if name not in _ENCODINGS:
        raise ValueError(f"unsupported Content-Encoding {name!r}")
    return _ENCODINGS[name]


def _declared_length(response: Any) -> int | None:
    try:
        value = int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None
    return value if value >= 0 else None


def _raw_limit(suffix: str | None, declared: int | None, limit: int) -> int:
    """The most raw bytes to accept for a body that decodes to at most ``limit``."""
    if declared is not None:
        return declared
    # Incompressible data grows a little when compressed: zstd and gzip add under 1%.
    return limit if suffix is None else limit + limit // 64 + 1024


def _decode(raw: bytes, suffix: str | None, limit: int, name: str) -> bytes:
    """``raw`` decompressed as ``suffix`` says, up to ``limit`` bytes (else TooLargeError)."""
    if suffix is None:
        if len(raw) > limit:
            raise TooLargeError(f"{name}: more than {limit} bytes")
        return raw
    with decompressing_reader(io.BytesIO(raw), suffix, name) as reader:
        return read_limited(reader, limit, name)


class _Collector:
    """Gathers the chunks of a body, refusing more than ``limit`` bytes, and checks the
    overall deadline between chunks."""

    def __init__(self, limit: int, deadline: _deadline.Deadline | None, name: str) -> None:
        self.limit = limit
        self.deadline = deadline
        self.name = name
        self.chunks: list[bytes] = []
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.total > self.limit:
            raise TooLargeError(f"{self.name}: more than the expected {self.limit} bytes")
        self.chunks.append(chunk)
        if self.deadline is not None:
            self.deadline.check()

    def result(self) -> bytes:
        return b"".join(self.chunks)


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
        deadline: seconds any request may take overall (retries included), plus its size
            at ``min_bandwidth``: a server that trickles its answer is given up on then.
        min_bandwidth: bytes per second a transfer is allowed at worst (see ``deadline``).
        max_buffer_length: the largest buffer accepted (``None``: any whose length the
            server states); larger ones raise
            :class:`~seamless_core.stores.base.BufferTooLargeError` before being read.

    A URL whose host httpx cannot use (``http://xn--:5813``) or whose port is invalid
    raises ``ValueError`` here, not at every request.

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
        deadline: float = DEFAULT_DEADLINE,
        min_bandwidth: float = DEFAULT_MIN_BANDWIDTH,
        max_buffer_length: int | None = None,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"HashServer() takes a URL string, not {type(url).__name__}")
        parts = _check_url(url)
        if retries < 0 or timeout <= 0 or connect_timeout <= 0 or backoff < 0:
            raise ValueError("need retries >= 0, timeouts > 0 and backoff >= 0")
        if deadline <= 0 or min_bandwidth <= 0:
            raise ValueError("need deadline > 0 and min_bandwidth > 0")
        if max_buffer_length is not None and max_buffer_length < 0:
            raise ValueError("max_buffer_length must be >= 0 or None")
        self.url = url.strip().rstrip("/")
        self.writable = bool(writable)
        self.local = is_loopback_host(parts.hostname)
        self.cost_profile = "local_hashserver" if self.local else "remote_hashserver"
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.deadline = float(deadline)
        self.min_bandwidth = float(min_bandwidth)
        self.max_buffer_length = max_buffer_length
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
            # The encodings _decode bounds; the server's plain copy first, which it checks.
            "headers": {"Accept-Encoding": "identity, zstd, gzip"},
        }

    def _sync_client(self) -> httpx.Client:
        client = self._client
        if client is not None and self._client_pid == os.getpid():
            return client
        with self._lock:
            # After a fork the parent's pooled connections are not ours to use.
            if self._client is None or self._client_pid != os.getpid():
                client = _httpx().Client(**self._options())
                _deadline.install(client)
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
        _deadline.install(client)
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

    @contextlib.contextmanager
    def _bounded(self, what: str, sent: int = 0, seconds: float | None = None):
        """The overall deadline of one request, all its attempts included; a request made
        while another is in progress (to learn its length) shares that one's deadline."""
        variable = _deadline.active()
        current = variable.get()
        if current is not None:
            yield current
            return
        if seconds is None:
            seconds = self.deadline + sent / self.min_bandwidth
        deadline = _deadline.Deadline(seconds, f"{what} to hashserver {self.url}")
        token = variable.set(deadline)
        try:
            yield deadline
        finally:
            variable.reset(token)

    def _send(
        self,
        method: str,
        target: str,
        *,
        limit: int = _SMALL_BODY,
        read: Any = None,
        sent: int = 0,
        **kwargs: Any,
    ) -> Any:
        """Send a request with retries, within its deadline; returns what
        ``read(response, deadline)`` makes of the response (by default a :class:`_Reply`
        with the body read up to ``limit`` bytes). Raises StoreUnavailableError when all
        attempts fail."""
        if read is None:
            read = lambda response, deadline: self._read_small(response, deadline, limit)  # noqa: E731
        client = self._sync_client()
        attempts = self._attempts()
        error: Any = None
        with self._bounded(f"{method} /{target}", sent) as deadline:
            for attempt in range(attempts):
                if attempt:
                    time.sleep(max(0.0, min(self._delay(attempt), deadline.left())))
                try:
                    with client.stream(method, f"{self.url}/{target}", **kwargs) as response:
                        error = self._retry_reason(response)
                        if error is None:
                            return read(response, deadline)
                except Exception as exc:
                    error = self._retry_error(method, target, exc, attempt)
        raise self._give_up(method, target, error, attempts)

    async def _asend(
        self,
        method: str,
        target: str,
        *,
        limit: int = _SMALL_BODY,
        read: Any = None,
        sent: int = 0,
        **kwargs: Any,
    ) -> Any:
        """Async twin of :meth:`_send` (``read`` is a coroutine function)."""
        if read is None:
            read = lambda response, deadline: self._aread_small(response, deadline, limit)  # noqa: E731
        client = await self._async_client()
        attempts = self._attempts()
        error: Any = None
        with self._bounded(f"{method} /{target}", sent) as deadline:
            for attempt in range(attempts):
                if attempt:
                    await asyncio.sleep(max(0.0, min(self._delay(attempt), deadline.left())))
                try:
                    async with client.stream(method, f"{self.url}/{target}", **kwargs) as response:
                        error = self._retry_reason(response)
                        if error is None:
                            return await read(response, deadline)
                except Exception as exc:
                    error = self._retry_error(method, target, exc, attempt)
        raise self._give_up(method, target, error, attempts)

    def _unexpected(self, what: str, reply: _Reply) -> StoreUnavailableError:
        text = reply.text[:200].strip()
        return StoreUnavailableError(
            f"hashserver {self.url} answered {what} with HTTP {reply.status_code}: {text}"
        )

    # -- bounded bodies (the sync and async readers share all but the reading) -------------

    def _suffix(self, response: httpx.Response) -> str | None:
        try:
            return _encoding(response)
        except ValueError as exc:
            raise StoreUnavailableError(f"hashserver {self.url} sent {exc}") from None

    def _body_limits(self, response: httpx.Response, limit: int, what: str) -> tuple:
        """``(suffix, raw limit)`` for a body that may decode to ``limit`` bytes; refuses
        one whose declared length is already too much."""
        suffix = self._suffix(response)
        declared = _declared_length(response)
        if suffix is None and declared is not None and declared > limit:
            raise self._too_large(what, f"{declared} bytes announced, at most {limit} expected")
        raw_limit = _raw_limit(suffix, None, limit)
        return suffix, raw_limit if declared is None else min(declared, raw_limit)

    def _too_large(self, what: str, detail: str) -> BufferTooLargeError:
        return BufferTooLargeError(f"hashserver {self.url} refused for {what}: {detail}")

    def _finish_body(self, raw: bytes, suffix: str | None, limit: int, what: str) -> bytes:
        try:
            return _decode(raw, suffix, limit, what)
        except TooLargeError as exc:
            raise self._too_large(what, str(exc)) from None
        except DecompressionError as exc:
            raise CorruptBufferError(
                f"hashserver {self.url} sent undecodable data: {exc}"
            ) from None

    def _body(self, response: httpx.Response, deadline: Any, limit: int, what: str) -> bytes:
        suffix, raw_limit = self._body_limits(response, limit, what)
        collector = _Collector(raw_limit, deadline, what)
        try:
            for chunk in response.iter_raw():
                collector.add(chunk)
        except TooLargeError as exc:
            raise self._too_large(what, str(exc)) from None
        return self._finish_body(collector.result(), suffix, limit, what)

    async def _abody(self, response: httpx.Response, deadline: Any, limit: int, what: str) -> bytes:
        suffix, raw_limit = self._body_limits(response, limit, what)
        collector = _Collector(raw_limit, deadline, what)
        try:
            async for chunk in response.aiter_raw():
                collector.add(chunk)
        except TooLargeError as exc:
            raise self._too_large(what, str(exc)) from None
        raw = collector.result()
        if suffix is not None and len(raw) > _VERIFY_IN_THREAD // 16:
            return await asyncio.to_thread(self._finish_body, raw, suffix, limit, what)
        return self._finish_body(raw, suffix, limit, what)

    def _read_small(self, response: httpx.Response, deadline: Any, limit: int) -> _Reply:
        body = self._body(response, deadline, limit, f"the reply to {response.request.url.path}")
        return _Reply(response.status_code, response.headers, body)

    async def _aread_small(self, response: httpx.Response, deadline: Any, limit: int) -> _Reply:
        what = f"the reply to {response.request.url.path}"
        body = await self._abody(response, deadline, limit, what)
        return _Reply(response.status_code, response.headers, body)

    def _length_unknown(self, response: httpx.Response) -> bool:
        """Whether a buffer's response does not tell its length (compressed or unsized):
        then the length the server reports for the buffer bounds it."""
        return self._suffix(response) is not None or _declared_length(response) is None

    def _buffer_limit(self, checksum: Checksum, response: httpx.Response, known: Any) -> int:
        length = known if self._length_unknown(response) else _declared_length(response)
        if length is None:
            raise StoreUnavailableError(
                f"hashserver {self.url} served buffer {checksum.hex()} without stating its "
                "length, and reports no length for it"
            )
        if self.max_buffer_length is not None and length > self.max_buffer_length:
            raise self._too_large(
                f"buffer {checksum.hex()}",
                f"{length} bytes, more than max_buffer_length={self.max_buffer_length}",
            )
        return length

    def _read_buffer(self, checksum: Checksum, response: httpx.Response, deadline: Any) -> _Reply:
        if response.status_code != 200:
            return self._read_small(response, deadline, _SMALL_BODY)
        known = self.buffer_length(checksum) if self._length_unknown(response) else None
        limit = self._buffer_limit(checksum, response, known)
        deadline.extend(limit / self.min_bandwidth)
        body = self._body(response, deadline, limit, f"buffer {checksum.hex()}")
        return _Reply(200, response.headers, body)

    async def _aread_buffer(
        self, checksum: Checksum, response: httpx.Response, deadline: Any
    ) -> _Reply:
        if response.status_code != 200:
            return await self._aread_small(response, deadline, _SMALL_BODY)
        known = None
        if self._length_unknown(response):
            known = await self.buffer_length_async(checksum)
        limit = self._buffer_limit(checksum, response, known)
        deadline.extend(limit / self.min_bandwidth)
        body = await self._abody(response, deadline, limit, f"buffer {checksum.hex()}")
        return _Reply(200, response.headers, body)

    # -- responses (shared by the sync and async methods) ----------------------------------

    def _download(self, checksum: Checksum, reply: _Reply) -> bytes | None:
        status = reply.status_code
        if status == 404:
            return None
        if status == 400 and "corrupt" in reply.text.lower():
            raise CorruptBufferError(
                f"hashserver {self.url} holds a corrupt copy of buffer {checksum.hex()}: "
                f"{reply.text[:200].strip()}"
            )
        if status != 200:
            raise self._unexpected(f"GET /{checksum.hex()}", reply)
        return reply.body

    def _refuse(self, checksum: Checksum, content: bytes) -> CorruptBufferError:
        return CorruptBufferError(
            f"hashserver {self.url} served {len(content)} bytes for buffer {checksum.hex()} "
            "that have another checksum"
        )

    def _stored(self, checksum: Checksum, reply: _Reply, what: str) -> _Reply:
        status = reply.status_code
        if status in (404, 405):
            raise StoreNotWritableError(
                f"hashserver {self.url} does not accept uploads (is it running with --writable?)"
            )
        if status == 400:
            raise CorruptBufferError(
                f"hashserver {self.url} refused buffer {checksum.hex()}: {reply.text[:200].strip()}"
            )
        if status not in (200, 201, 202):
            raise self._unexpected(what, reply)
        return reply

    def _json_list(self, reply: _Reply, count: int, what: str) -> list:
        if reply.status_code == 200:
            try:
                values = reply.json()
            except ValueError:
                values = None
            if isinstance(values, list) and len(values) == count:
                return values
        raise self._unexpected(what, reply)

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
        read = lambda response, deadline: self._read_buffer(checksum, response, deadline)  # noqa: E731
        content = self._download(checksum, self._send("GET", checksum.hex(), read=read))
        if content is not None and sha256_digest(content) != checksum.bytes():
            raise self._refuse(checksum, content)
        return content

    async def get_async(self, checksum: ChecksumLike) -> bytes | None:
        """Async twin of :meth:`get`."""
        checksum = as_checksum(checksum)

        def read(response: httpx.Response, deadline: Any) -> Any:
            return self._aread_buffer(checksum, response, deadline)

        content = self._download(checksum, await self._asend("GET", checksum.hex(), read=read))
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
            limit = _SMALL_BODY + _PER_CHECKSUM * len(chunk)
            response = self._send("GET", endpoint, json=chunk, limit=limit)
            if endpoint == "has-now" and response.status_code in (400, 404):
                endpoint = "has"  # a server from before /has-now existed
                response = self._send("GET", endpoint, json=chunk, limit=limit)
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
            limit = _SMALL_BODY + _PER_CHECKSUM * len(chunk)
            response = await self._asend("GET", endpoint, json=chunk, limit=limit)
            if endpoint == "has-now" and response.status_code in (400, 404):
                endpoint = "has"
                response = await self._asend("GET", endpoint, json=chunk, limit=limit)
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
            limit = _SMALL_BODY + _PER_CHECKSUM * len(chunk)
            response = self._send("GET", "buffer-length", json=chunk, limit=limit)
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
            limit = _SMALL_BODY + _PER_CHECKSUM * len(chunk)
            response = await self._asend("GET", "buffer-length", json=chunk, limit=limit)
            values = self._json_list(response, len(chunk), "/buffer-length")
            result += [self._length(h, v) for h, v in zip(chunk, values)]
        return result

    def put(self, checksum: ChecksumLike, content: bytes) -> bool:
        """Upload ``content``; the server checks it against ``checksum`` (400 otherwise,
        raised as :class:`CorruptBufferError`).

        Returns ``True`` only when the server wrote the buffer itself (HTTP 200: it hashed
        what it received). ``False`` when it answered that a file is already there (201,
        which it does not check) or that the same upload is in progress (202): a claim."""
        self._require_writable()
        checksum = as_checksum(checksum)
        content = bytes(content)
        response = self._send("PUT", checksum.hex(), content=content, sent=len(content))
        return self._stored(checksum, response, f"PUT /{checksum.hex()}").status_code == 200

    async def put_async(self, checksum: ChecksumLike, content: bytes) -> bool:
        """Async twin of :meth:`put` (same return value)."""
        self._require_writable()
        checksum = as_checksum(checksum)
        content = bytes(content)
        response = await self._asend("PUT", checksum.hex(), content=content, sent=len(content))
        return self._stored(checksum, response, f"PUT /{checksum.hex()}").status_code == 200

    # -- hashserver extras -----------------------------------------------------------------

    def _expires_in(self, response: _Reply) -> float:
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
        """Whether the server answers ``/healthcheck`` within ``timeout`` seconds (default
        ``connect_timeout``; one attempt, no retries)."""
        httpx = _httpx()
        seconds = timeout or self.connect_timeout
        try:
            with self._bounded("GET /healthcheck", seconds=seconds):
                client = self._sync_client()
                with client.stream("GET", f"{self.url}/healthcheck", timeout=seconds) as response:
                    return response.status_code == 200  # the body does not matter
        except httpx.HTTPError:
            return False

    async def healthcheck_async(self, timeout: float | None = None) -> bool:
        """Async twin of :meth:`healthcheck`."""
        httpx = _httpx()
        seconds = timeout or self.connect_timeout
        try:
            with self._bounded("GET /healthcheck", seconds=seconds):
                client = await self._async_client()
                url = f"{self.url}/healthcheck"
                async with client.stream("GET", url, timeout=seconds) as response:
                    return response.status_code == 200
        except httpx.HTTPError:
            return False
