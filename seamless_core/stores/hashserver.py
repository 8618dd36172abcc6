"""``HashServer``: a client for the HTTP protocol of the ``hashserver`` package.

The protocol, as served by ``hashserver`` (``pip install hashserver``):

- ``GET /{checksum}``: the buffer (200; possibly with a ``Content-Encoding`` when the server
  stores it compressed), 404 when absent, 400 when the server found its copy corrupt. The
  server hashes its file before the first byte, and holds the request while the buffer is
  promised (up to the promise's TTL, 10 minutes by default);
- ``PUT /{checksum}`` with the buffer as body, plain or with ``Content-Encoding: zstd`` or
  ``gzip`` (only with ``--writable``): 200 stored (the server hashed what it received),
  201 a file is already there (not checked), 202 the same upload is in progress, 400 wrong
  checksum;
- ``PUT /promise/{checksum}``: announce an upload to come (202, JSON ``expires_in``);
- ``GET /has``, ``GET /has-now``, ``GET /buffer-length``, each with a JSON list of
  checksums as body: a JSON list of booleans / lengths (0 when absent);
- ``GET /healthcheck``: ``OK``.

Each operation is written once, as a plan of requests (see :mod:`.http`), and run by a
synchronous or an asynchronous runner.

Every request is bounded in time and in memory: besides httpx's per-read timeout, each has
an overall deadline (``deadline`` seconds plus the bytes it sends or is announced to
receive at ``min_bandwidth``; a buffer's GET may wait ``read_timeout`` for its first byte
before that deadline starts), and a response body is read only up to its known length
(``Content-Length``; for a compressed or unsized body, the ``/buffer-length`` the server
reports, or ``max_buffer_length``), decompressed with that output limit.

httpx is imported on first use, so that ``import seamless_core`` does not pull it in.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import ipaddress
import json
import os
import queue
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
from .http import (
    ClientPool,
    Offload,
    Open,
    Plan,
    Read,
    RetryPolicy,
    Sleep,
    env_float,
    env_int,
    httpx_module,
    run_async,
    run_sync,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["HashServer", "is_loopback_host"]

DEFAULT_TIMEOUT = 10.0
DEFAULT_CONNECT_TIMEOUT = 2.0
#: hashserver holds a GET on a promised buffer up to the promise's TTL (600 s), and hashes
#: a whole file before its first byte: a buffer's GET may wait this long for it.
DEFAULT_READ_TIMEOUT = 660.0
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF = 0.2
#: Seconds any request may take, plus its size at :data:`DEFAULT_MIN_BANDWIDTH`.
DEFAULT_DEADLINE = 60.0
#: Bytes per second below which a transfer is given up (1 Mbit/s).
DEFAULT_MIN_BANDWIDTH = 128 * 1024
#: Requests in flight at once to one server, for the callers that run several
#: (the uploader, batch resolution).
DEFAULT_CONCURRENCY = 8
BATCH_SIZE = 1000  # checksums per /has or /buffer-length request
# After a request failed every attempt, further requests within this many seconds make a
# single attempt: a dead server then costs one refused connection, not a round of backoff.
DOWN_SECONDS = 5.0
# Downloads larger than this are verified in a worker thread, off the event loop.
_VERIFY_IN_THREAD = 16 << 20
# Downloads this large are hashed in a thread beside the receiving one.
_HASH_IN_THREAD = 1 << 20
# Uploads smaller than this are sent plain even when compression is asked for.
_COMPRESS_FROM = 4096
_RETRY_STATUS = frozenset({502, 503, 504})
_EMPTY = Checksum.of(b"")
# Replies other than buffers (JSON lists, error texts) are read up to this, plus
# _PER_CHECKSUM for each checksum asked about.
_SMALL_BODY = 1 << 20
_PER_CHECKSUM = 100
# The suffix under which _compression decodes each Content-Encoding the server may send.
_ENCODINGS = {"identity": None, "": None, "gzip": ".gz", "x-gzip": ".gz", "zstd": ".zst"}
_UPLOAD_ENCODINGS = ("zstd", "gzip")

# Environment variables read by the constructor for the arguments it is not given.
CONNECT_TIMEOUT_ENV = "SEAMLESS_HASHSERVER_CONNECT_TIMEOUT"
TIMEOUT_ENV = "SEAMLESS_HASHSERVER_TIMEOUT"
READ_TIMEOUT_ENV = "SEAMLESS_HASHSERVER_READ_TIMEOUT"
DEADLINE_ENV = "SEAMLESS_HASHSERVER_DEADLINE"
CONCURRENCY_ENV = "SEAMLESS_HASHSERVER_CONCURRENCY"
COMPRESS_ENV = "SEAMLESS_HASHSERVER_COMPRESS"


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an IP address) designates this machine."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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

    __slots__ = ("body", "digest", "headers", "status_code")

    def __init__(
        self, status_code: int, headers: Any, body: bytes, digest: bytes | None = None
    ) -> None:
        self.status_code = status_code
        self.headers = headers
        self.body = body
        self.digest = digest  # SHA-256 of the body, when computed while receiving it

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


class _Hasher:
    """SHA-256 of a body as its chunks arrive; for a large body in a thread of its own, so
    that hashing (hashlib lets go of the GIL) runs beside the receiving."""

    def __init__(self, threaded: bool) -> None:
        self._hash = hashlib.sha256()
        self._queue: queue.SimpleQueue | None = None
        if threaded:
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._run, name="seamless-hash", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        assert self._queue is not None
        while (chunk := self._queue.get()) is not None:
            self._hash.update(chunk)

    def update(self, chunk: bytes) -> None:
        if self._queue is None:
            self._hash.update(chunk)
        else:
            self._queue.put(chunk)

    def digest(self) -> bytes:
        if self._queue is not None:
            self._queue.put(None)
            self._thread.join()
        return self._hash.digest()

    def abandon(self) -> None:
        if self._queue is not None:
            self._queue.put(None)


class _Collector:
    """Gathers the chunks of a body, refusing more than ``limit`` bytes, and checks the
    overall deadline between chunks. With ``hashing``, it also hashes them as they come
    (SHA-256), so that verifying a download overlaps with receiving it."""

    def __init__(
        self, limit: int, deadline: _deadline.Deadline | None, name: str, hashing: bool = False
    ) -> None:
        self.limit = limit
        self.deadline = deadline
        self.name = name
        self.chunks: list[bytes] = []
        self.total = 0
        self.hasher = _Hasher(limit >= _HASH_IN_THREAD) if hashing else None

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if self.total > self.limit:
            raise TooLargeError(f"{self.name}: more than the expected {self.limit} bytes")
        self.chunks.append(chunk)
        if self.hasher is not None:
            self.hasher.update(chunk)
        if self.deadline is not None:
            self.deadline.check()

    def result(self) -> bytes:
        return b"".join(self.chunks)


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _compressed(content: bytes, encoding: str) -> bytes:
    if encoding == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3).compress(content)
    import gzip

    return gzip.compress(content, compresslevel=6)


def _setting(value: Any, name: str, default: float) -> float:
    return env_float(name, default) if value is None else float(value)


class HashServer(BufferStore):
    """A buffer store behind a ``hashserver`` HTTP server.

    Connections are pooled: one ``httpx.Client`` for synchronous calls, one
    ``httpx.AsyncClient`` per event loop for the async twins. Connection failures are
    retried ``retries`` times with exponential backoff (``backoff``, doubling); a server
    that cannot be reached or does not answer in time raises
    :class:`~seamless_core.stores.base.StoreUnavailableError` naming its URL. Every
    download is verified against its checksum.

    Args:
        url: ``http://host:port`` (a path prefix is allowed).
        writable: whether :meth:`put` may be called (the server must run with ``--writable``).
        timeout: seconds to wait for each read or write of a request the server answers
            at once (everything but a buffer's GET); given alone, it is the read timeout
            of buffers too. Default 10, or ``SEAMLESS_HASHSERVER_TIMEOUT``.
        read_timeout: seconds a buffer's GET may wait for the server's next bytes, the
            first ones included: hashserver holds the GET of a promised buffer until it
            arrives (up to the promise's TTL, 10 minutes) and hashes a whole file before
            sending it. Default 660, or ``SEAMLESS_HASHSERVER_READ_TIMEOUT`` (or
            ``timeout``, when only that is given).
        connect_timeout: seconds to wait for a connection. Default 2, or
            ``SEAMLESS_HASHSERVER_CONNECT_TIMEOUT``.
        retries: extra attempts after a connection failure.
        backoff: seconds before the first retry.
        deadline: seconds any request may take overall (retries included), plus its size
            at ``min_bandwidth``, counted for a buffer's GET from the server's first byte:
            a server that trickles its answer is given up on then. Default 60, or
            ``SEAMLESS_HASHSERVER_DEADLINE``.
        min_bandwidth: bytes per second a transfer is allowed at worst (see ``deadline``).
        max_buffer_length: the largest buffer accepted (``None``: any whose length the
            server states); larger ones raise
            :class:`~seamless_core.stores.base.BufferTooLargeError` before being read.
        concurrency: how many requests the callers that run several at once (the
            uploader, batch resolution) send to this server at a time. Default 8, or
            ``SEAMLESS_HASHSERVER_CONCURRENCY``.
        compress: ``"zstd"`` or ``"gzip"`` to upload buffers of 4 KiB and more compressed
            (hashserver >= 1.1 decodes them and stores the compressed file); default
            ``None`` (plain), or ``SEAMLESS_HASHSERVER_COMPRESS``. Downloads accept zstd
            and gzip whatever this says.
        headers: extra headers sent with every request (e.g. for a proxy in front).
        auth: passed on to httpx (a ``(user, password)`` tuple or an ``httpx.Auth``).
        verify: passed on to httpx: whether (or how) to verify an https server's
            certificate.

    A URL whose host httpx cannot use (``http://xn--:5813``) or whose port is invalid
    raises ``ValueError`` here, not at every request; so does a malformed environment
    variable, naming it.

    ``cost_profile`` is ``"local_hashserver"`` for a loopback host, else
    ``"remote_hashserver"``.
    """

    verifies = True

    def __init__(
        self,
        url: str,
        *,
        writable: bool = True,
        timeout: float | None = None,
        read_timeout: float | None = None,
        connect_timeout: float | None = None,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        deadline: float | None = None,
        min_bandwidth: float = DEFAULT_MIN_BANDWIDTH,
        max_buffer_length: int | None = None,
        concurrency: int | None = None,
        compress: str | None = None,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        verify: Any = True,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f"HashServer() takes a URL string, not {type(url).__name__}")
        parts = _check_url(url)
        if read_timeout is None and timeout is not None:
            read_timeout = timeout  # one timeout for everything, as before read_timeout
        self.timeout = _setting(timeout, TIMEOUT_ENV, DEFAULT_TIMEOUT)
        self.read_timeout = _setting(read_timeout, READ_TIMEOUT_ENV, DEFAULT_READ_TIMEOUT)
        self.connect_timeout = _setting(
            connect_timeout, CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT
        )
        self.deadline = _setting(deadline, DEADLINE_ENV, DEFAULT_DEADLINE)
        self.concurrency = (
            env_int(CONCURRENCY_ENV, DEFAULT_CONCURRENCY) if concurrency is None else concurrency
        )
        timeouts = (self.timeout, self.read_timeout, self.connect_timeout)
        if retries < 0 or min(timeouts) <= 0 or backoff < 0:
            raise ValueError("need retries >= 0, timeouts > 0 and backoff >= 0")
        if self.deadline <= 0 or min_bandwidth <= 0 or self.concurrency < 1:
            raise ValueError("need deadline > 0, min_bandwidth > 0 and concurrency >= 1")
        if max_buffer_length is not None and max_buffer_length < 0:
            raise ValueError("max_buffer_length must be >= 0 or None")
        self.compress = self._check_compress(compress)
        self.url = url.strip().rstrip("/")
        self.writable = bool(writable)
        self.local = is_loopback_host(parts.hostname)
        self.cost_profile = "local_hashserver" if self.local else "remote_hashserver"
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.min_bandwidth = float(min_bandwidth)
        self.max_buffer_length = max_buffer_length
        self._headers = dict(headers or {})
        self._auth = auth
        self._verify = verify
        self._retry = RetryPolicy(self.retries, self.backoff, DOWN_SECONDS)
        self._pool = ClientPool(self, self._options)
        self._lock = threading.Lock()

    @staticmethod
    def _check_compress(compress: str | None) -> str | None:
        if compress is None:
            compress = os.environ.get(COMPRESS_ENV, "").strip().lower() or None
        if compress is not None and compress not in _UPLOAD_ENCODINGS:
            raise ValueError(
                f"compress must be one of {_UPLOAD_ENCODINGS} or None ({COMPRESS_ENV}), "
                f"got {compress!r}"
            )
        return compress

    def __repr__(self) -> str:
        extra = "" if self.writable else ", writable=False"
        return f"HashServer({self.url!r}{extra})"

    # Pickled as its settings (to ship it to dask workers): connections, locks and the
    # "server down" mark belong to the process that made them.
    _LIVE_STATE = ("_lock", "_pool", "_retry")

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in self._LIVE_STATE}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._retry = RetryPolicy(self.retries, self.backoff, DOWN_SECONDS)
        self._pool = ClientPool(self, self._options)
        self._lock = threading.Lock()

    # -- connections -----------------------------------------------------------------------

    def _timeouts(self, read: float) -> Any:
        return httpx_module().Timeout(
            self.timeout, connect=self.connect_timeout, read=read, pool=max(read, self.timeout)
        )

    def _options(self) -> dict[str, Any]:
        httpx = httpx_module()
        # The encodings _decode bounds; the server's plain copy first, which it checks.
        headers = {"Accept-Encoding": "identity, zstd, gzip", **self._headers}
        options = {
            "timeout": self._timeouts(self.timeout),
            "limits": httpx.Limits(
                max_connections=max(16, 2 * self.concurrency),
                max_keepalive_connections=max(8, self.concurrency),
            ),
            # A proxy from the environment has no business relaying loopback traffic.
            "trust_env": not self.local,
            "follow_redirects": False,
            "headers": headers,
            "verify": self._verify,
        }
        if self._auth is not None:
            options["auth"] = self._auth
        return options

    def _sync_client(self) -> httpx.Client:
        return self._pool.sync()

    async def _async_client(self) -> httpx.AsyncClient:
        return await self._pool.asynchronous()

    def close(self) -> None:
        """Close the synchronous client's connections (async clients close with their
        event loop, or with :meth:`aclose`)."""
        self._pool.close()

    async def aclose(self) -> None:
        """Close the connections of the running loop's async client."""
        await self._pool.aclose()

    def _run(self, plan: Plan[Any]) -> Any:
        return run_sync(plan, self._pool)

    async def _arun(self, plan: Plan[Any]) -> Any:
        return await run_async(plan, self._pool)

    # -- failures and retries --------------------------------------------------------------

    def _transient(self) -> tuple[type[BaseException], ...]:
        httpx = httpx_module()
        return (
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.RemoteProtocolError,
            httpx.ReadError,
            httpx.WriteError,
        )

    def _failure(self, method: str, target: str, error: Any, attempts: int) -> Exception:
        httpx = httpx_module()
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

    def _retry_error(self, method: str, target: str, exc: Exception, attempt: int) -> Exception:
        """The error to retry after, for a request that raised ``exc``; raises if final."""
        if isinstance(exc, self._transient()):
            return exc
        if isinstance(exc, httpx_module().HTTPError):
            raise self._failure(method, target, exc, attempt + 1) from exc
        raise exc

    def _retry_reason(self, response: httpx.Response) -> str | None:
        """Why ``response`` should be retried, or ``None`` (then the server is up)."""
        if response.status_code in _RETRY_STATUS:
            return f"HTTP {response.status_code}"
        self._retry.up()
        return None

    def _give_up(self, method: str, target: str, error: Any, attempts: int) -> Exception:
        self._retry.down()
        failure = self._failure(method, target, error, attempts)
        failure.__cause__ = error if isinstance(error, BaseException) else None
        return failure

    @contextlib.contextmanager
    def _bounded(
        self, what: str, sent: int = 0, seconds: float | None = None, wait: float = 0.0
    ) -> Iterator[_deadline.Deadline]:
        """The overall deadline of one request, all its attempts included; a request made
        while another is in progress (to learn its length) shares that one's deadline."""
        variable = _deadline.active()
        current = variable.get()
        if current is not None:
            yield current
            return
        if seconds is None:
            seconds = self.deadline + sent / self.min_bandwidth
        deadline = _deadline.Deadline(seconds, f"{what} to hashserver {self.url}", wait)
        token = variable.set(deadline)
        try:
            yield deadline
        finally:
            variable.reset(token)

    def _unexpected(self, what: str, reply: _Reply) -> StoreUnavailableError:
        text = reply.text[:200].strip()
        return StoreUnavailableError(
            f"hashserver {self.url} answered {what} with HTTP {reply.status_code}: {text}"
        )

    # -- the exchange: one request, its retries, its bounded reply (a plan) ----------------

    def _exchange(
        self,
        method: str,
        target: str,
        *,
        limit: int = _SMALL_BODY,
        buffer: Checksum | None = None,
        sent: int = 0,
        **kwargs: Any,
    ) -> Plan[_Reply]:
        """Send a request with retries, within its deadline; the reply's body is read up
        to ``limit`` bytes, or, for the GET of ``buffer``, up to that buffer's length.
        Raises StoreUnavailableError when all attempts fail."""
        attempts = self._retry.attempts()
        url = f"{self.url}/{target}"
        wait = 0.0
        if buffer is not None:
            wait = self.read_timeout
            kwargs["timeout"] = self._timeouts(self.read_timeout)
        error: Any = None
        with self._bounded(f"{method} /{target}", sent, wait=wait) as deadline:
            for attempt in range(attempts):
                if attempt:
                    yield Sleep(min(self._retry.delay(attempt), deadline.left()))
                try:
                    response = yield Open(method, url, kwargs)
                    error = self._retry_reason(response)
                    if error is None:
                        if buffer is not None:
                            return (yield from self._read_buffer(buffer, response, deadline))
                        return (yield from self._read_small(response, deadline, limit))
                    yield Read(response, None)  # closed unread, as it is retried
                except Exception as exc:
                    error = self._retry_error(method, target, exc, attempt)
        raise self._give_up(method, target, error, attempts)

    # -- bounded bodies --------------------------------------------------------------------

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

    def _body(
        self,
        response: httpx.Response,
        deadline: _deadline.Deadline,
        limit: int,
        what: str,
        hashing: bool = False,
    ) -> Plan[tuple[bytes, bytes | None]]:
        """The body, decoded, and (``hashing`` a plain one) its SHA-256 digest."""
        suffix, raw_limit = self._body_limits(response, limit, what)
        collector = _Collector(raw_limit, deadline, what, hashing and suffix is None)
        try:
            yield Read(response, collector.add)
        except BaseException as exc:
            if collector.hasher is not None:
                collector.hasher.abandon()
            if isinstance(exc, TooLargeError):
                raise self._too_large(what, str(exc)) from None
            raise
        raw = collector.result()
        digest = None
        if collector.hasher is not None:
            heavy = raw_limit >= _HASH_IN_THREAD
            digest = yield Offload(collector.hasher.digest, (), heavy)
        heavy = suffix is not None and len(raw) > _VERIFY_IN_THREAD // 16
        return (yield Offload(self._finish_body, (raw, suffix, limit, what), heavy)), digest

    def _read_small(
        self, response: httpx.Response, deadline: _deadline.Deadline, limit: int
    ) -> Plan[_Reply]:
        what = f"the reply to {response.request.url.path}"
        body, _ = yield from self._body(response, deadline, limit, what)
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

    def _read_buffer(
        self, checksum: Checksum, response: httpx.Response, deadline: _deadline.Deadline
    ) -> Plan[_Reply]:
        if response.status_code != 200:
            return (yield from self._read_small(response, deadline, _SMALL_BODY))
        known = None
        if self._length_unknown(response):
            known = (yield from self._lengths_plan([checksum.hex()]))[0]
        limit = self._buffer_limit(checksum, response, known)
        deadline.extend(limit / self.min_bandwidth)
        what = f"buffer {checksum.hex()}"
        body, digest = yield from self._body(response, deadline, limit, what, hashing=True)
        return _Reply(200, response.headers, body, digest)

    # -- replies ---------------------------------------------------------------------------

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

    def _other_algorithm(self, checksum: Checksum, reply: _Reply) -> StoreNotWritableError:
        return StoreNotWritableError(
            f"hashserver {self.url} refused buffer {checksum.hex()} ({reply.text[:100].strip()}) "
            "although its SHA-256 checksum is right: the server hashes with another algorithm "
            "(was it started with --hash-algorithm other than sha-256?), so it refuses every "
            "upload from seamless-core"
        )

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

    # -- the operations, each once ---------------------------------------------------------

    def _get_plan(self, checksum: Checksum) -> Plan[bytes | None]:
        reply = yield from self._exchange("GET", checksum.hex(), buffer=checksum)
        content = self._download(checksum, reply)
        if content is None:
            return None
        digest = reply.digest
        if digest is None:  # a compressed body: hashed once decoded
            digest = yield Offload(sha256_digest, (content,), len(content) > _VERIFY_IN_THREAD)
        if digest != checksum.bytes():
            raise self._refuse(checksum, content)
        return content

    def _has_plan(self, hexes: list[str], include_promises: bool) -> Plan[list[bool]]:
        result: list[bool] = []
        for chunk in _chunks(hexes, BATCH_SIZE):
            endpoint = "has" if include_promises else "has-now"
            limit = _SMALL_BODY + _PER_CHECKSUM * len(chunk)
            reply = yield from self._exchange("GET", endpoint, json=chunk, limit=limit)
            if endpoint == "has-now" and reply.status_code in (400, 404):
                endpoint = "has"  # a server from before /has-now existed
                reply = yield from self._exchange("GET", endpoint, json=chunk, limit=limit)
            result += [bool(v) for v in self._json_list(reply, len(chunk), f"/{endpoint}")]
        return result

    def _lengths_plan(self, hexes: list[str]) -> Plan[list[int | None]]:
        result: list[int | None] = []
        for chunk in _chunks(hexes, BATCH_SIZE):
            limit = _SMALL_BODY + _PER_CHECKSUM * len(chunk)
            reply = yield from self._exchange("GET", "buffer-length", json=chunk, limit=limit)
            values = self._json_list(reply, len(chunk), "/buffer-length")
            result += [self._length(h, v) for h, v in zip(chunk, values)]
        return result

    def _put_plan(self, checksum: Checksum, content: bytes, plain: bool = False) -> Plan[bool]:
        target = checksum.hex()
        encoding = None if plain or len(content) < _COMPRESS_FROM else self.compress
        body, headers = content, {}
        if encoding is not None:
            heavy = len(content) > _VERIFY_IN_THREAD // 16
            body = yield Offload(_compressed, (content, encoding), heavy)
            headers = {"Content-Encoding": encoding}
        reply = yield from self._exchange(
            "PUT", target, content=body, headers=headers, sent=len(body)
        )
        if reply.status_code == 400 and encoding is not None:
            # A server from before compressed uploads hashes the compressed bytes: if the
            # plain buffer is taken, send the next ones plain too.
            stored = yield from self._put_plan(checksum, content, plain=True)
            self.compress = None
            return stored
        if reply.status_code == 400 and "checksum" in reply.text.lower():
            heavy = len(content) > _VERIFY_IN_THREAD
            if (yield Offload(sha256_digest, (content,), heavy)) == checksum.bytes():
                raise self._other_algorithm(checksum, reply)
        return self._stored(checksum, reply, f"PUT /{target}").status_code == 200

    def _promise_plan(self, checksum: Checksum) -> Plan[float]:
        reply = yield from self._exchange("PUT", f"promise/{checksum.hex()}")
        self._stored(checksum, reply, "PUT /promise")
        try:
            return float(reply.json()["expires_in"])
        except (ValueError, KeyError, TypeError):
            return 0.0

    def _healthcheck_plan(self, timeout: float | None) -> Plan[bool]:
        seconds = timeout or self.connect_timeout
        httpx = httpx_module()
        try:
            with self._bounded("GET /healthcheck", seconds=seconds):
                kwargs = {"timeout": seconds}
                response = yield Open("GET", f"{self.url}/healthcheck", kwargs)
                yield Read(response, None)  # the body does not matter, only the status
                return response.status_code == 200
        except httpx.HTTPError:
            return False

    # -- BufferStore -----------------------------------------------------------------------

    def get(self, checksum: ChecksumLike) -> bytes | None:
        """The verified buffer, or ``None`` when the server does not have it."""
        return self._run(self._get_plan(as_checksum(checksum)))

    async def get_async(self, checksum: ChecksumLike) -> bytes | None:
        """Async twin of :meth:`get`."""
        return await self._arun(self._get_plan(as_checksum(checksum)))

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
        return self._run(self._has_plan(hexes, include_promises))

    async def has_batch_async(
        self, checksums: Sequence[ChecksumLike], *, include_promises: bool = True
    ) -> list[bool]:
        """Async twin of :meth:`has_batch`."""
        hexes = [as_checksum(c).hex() for c in checksums]
        return await self._arun(self._has_plan(hexes, include_promises))

    def buffer_length(self, checksum: ChecksumLike) -> int | None:
        """The buffer's length, or ``None`` when the server does not have it."""
        return self.buffer_length_batch([checksum])[0]

    async def buffer_length_async(self, checksum: ChecksumLike) -> int | None:
        """Async twin of :meth:`buffer_length`."""
        return (await self.buffer_length_batch_async([checksum]))[0]

    def buffer_length_batch(self, checksums: Iterable[ChecksumLike]) -> list[int | None]:
        """One length (or ``None``) per checksum, asked in batches of :data:`BATCH_SIZE`."""
        return self._run(self._lengths_plan([as_checksum(c).hex() for c in checksums]))

    async def buffer_length_batch_async(
        self, checksums: Sequence[ChecksumLike]
    ) -> list[int | None]:
        """Async twin of :meth:`buffer_length_batch`."""
        return await self._arun(self._lengths_plan([as_checksum(c).hex() for c in checksums]))

    def put(self, checksum: ChecksumLike, content: bytes) -> bool:
        """Upload ``content``; the server checks it against ``checksum`` (400 otherwise,
        raised as :class:`CorruptBufferError`; as :class:`StoreNotWritableError` naming
        the cause when the content does have that SHA-256 checksum: the server then
        hashes with another algorithm).

        Returns ``True`` only when the server wrote the buffer itself (HTTP 200: it hashed
        what it received). ``False`` when it answered that a file is already there (201,
        which it does not check) or that the same upload is in progress (202): a claim."""
        self._require_writable()
        return self._run(self._put_plan(as_checksum(checksum), bytes(content)))

    async def put_async(self, checksum: ChecksumLike, content: bytes) -> bool:
        """Async twin of :meth:`put` (same return value)."""
        self._require_writable()
        return await self._arun(self._put_plan(as_checksum(checksum), bytes(content)))

    # -- hashserver extras -----------------------------------------------------------------

    def promise(self, checksum: ChecksumLike) -> float:
        """Announce that the buffer will be uploaded soon: until then (or until the promise
        expires) the server counts it in ``has`` and holds ``GET`` requests for it.
        Returns the seconds until the promise expires."""
        self._require_writable()
        return self._run(self._promise_plan(as_checksum(checksum)))

    async def promise_async(self, checksum: ChecksumLike) -> float:
        """Async twin of :meth:`promise`."""
        self._require_writable()
        return await self._arun(self._promise_plan(as_checksum(checksum)))

    def healthcheck(self, timeout: float | None = None) -> bool:
        """Whether the server answers ``/healthcheck`` within ``timeout`` seconds (default
        ``connect_timeout``; one attempt, no retries)."""
        return self._run(self._healthcheck_plan(timeout))

    async def healthcheck_async(self, timeout: float | None = None) -> bool:
        """Async twin of :meth:`healthcheck`."""
        return await self._arun(self._healthcheck_plan(timeout))
