"""``RemoteStore``: the buffer servers and folders that seamless-remote is configured with.

seamless-config (``seamless.config.init()`` / ``set_stage()``, or ``set_remote_clients()``)
configures seamless-remote by calling ``seamless_remote.buffer_remote.activate()``, which
fills three module-level client lists: buffer read folders, buffer read servers and buffer
write servers. Those lists are the configuration this store follows: nothing here imports
seamless-remote, it is only looked at once something else has imported and activated it.

The hook: :func:`configured_store` returns the process's :class:`RemoteStore` while those
lists are non-empty (and ``None`` otherwise, at the cost of a ``sys.modules`` lookup), and
the store registry appends it to :func:`seamless_core.stores.list` and, while it has a write
server, to :func:`seamless_core.stores.upload_targets`. So ``resolve()``, ``Buffer.write()``
and the background uploader use the servers as soon as seamless-config has activated them,
and stop when it deactivates them, with no call from seamless-config to us.

Transport: the store speaks the hashserver protocol through :class:`HashServer` and reads
folders through :class:`BufferFolder` at the URLs and directories of seamless-remote's
clients, rather than through ``buffer_remote.get_buffer``/``write_buffer``: those report an
upload of a buffer the server already had as a fresh write, count ``/has`` booleans as
lengths, and bind their aiohttp sessions to one thread and loop, where a store must work
from any thread, with or without a running loop. Launched clients (a hashserver that
seamless-config starts through remote-http-launcher) are initialized by seamless-remote
itself, on first use, which starts the server if it is not running.

A worker process (``seamless.is_worker()``) delegates resolution to its parent, as in
seamless-core 0.1.4, so the store is not used there unless
``SEAMLESS_ALLOW_REMOTE_CLIENTS_IN_WORKER`` is set (seamless-remote's own switch).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Generator, Iterable, Sequence
from typing import Any

from ..checksum import Checksum
from .base import (
    BufferStore,
    ChecksumLike,
    CorruptBufferError,
    StoreNotWritableError,
    StoreUnavailableError,
    as_checksum,
)
from .folder import BufferFolder
from .hashserver import HashServer
from .http import drive, drive_async

__all__ = ["BUFFER_REMOTE_MODULE", "RemoteStore", "configured_store", "fingertip_provider"]

BUFFER_REMOTE_MODULE = "seamless_remote.buffer_remote"
DATABASE_REMOTE_MODULE = "seamless_remote.database_remote"
ALLOW_IN_WORKER_ENV = "SEAMLESS_ALLOW_REMOTE_CLIENTS_IN_WORKER"


def _in_worker() -> bool:
    """Whether this process is a Seamless worker (either package may say so)."""
    for name in ("seamless_core", "seamless"):
        module = sys.modules.get(name)
        is_worker = getattr(module, "is_worker", None) if module is not None else None
        if callable(is_worker):
            try:
                if is_worker():
                    return True
            except Exception:  # a half-initialized facade must not break resolution
                continue
    return False


def _worker_allowed() -> bool:
    return os.environ.get(ALLOW_IN_WORKER_ENV, "").lower() in ("1", "true", "yes")


def _client_lists(module: Any) -> tuple[list, list, list]:
    return (
        getattr(module, "_read_folders_clients", None) or [],
        getattr(module, "_read_server_clients", None) or [],
        getattr(module, "_write_server_clients", None) or [],
    )


class RemoteStore(BufferStore):
    """A buffer store over seamless-remote's configured buffer clients.

    Reads try the read folders, then the read servers, in seamless-remote's order; ``has``
    and ``buffer_length`` answer for any of them. ``put`` uploads to every write server.
    ``writable`` is true exactly while seamless-remote has a write server. Every read is
    verified against its checksum.

    Args:
        module: the ``seamless_remote.buffer_remote`` module (its client lists are read at
            each call, so that re-activation is followed).
    """

    verifies = True

    def __init__(self, module: Any) -> None:
        self._module = module
        self._lock = threading.Lock()
        self._init_lock = threading.Lock()
        self._folders: dict[str, BufferFolder] = {}
        self._servers: dict[tuple[str, bool], HashServer] = {}
        self._served = threading.local()

    def __repr__(self) -> str:
        folders, readers, writers = _client_lists(self._module)
        return (
            f"RemoteStore(seamless-remote: {len(folders)} read folders, "
            f"{len(readers)} read servers, {len(writers)} write servers)"
        )

    # -- configuration ---------------------------------------------------------------------

    @property
    def writable(self) -> bool:  # type: ignore[override]
        return bool(_client_lists(self._module)[2])

    @property
    def cost_profile(self) -> str:  # type: ignore[override]
        """The profile of the endpoint that served this thread's last read; before any, the
        most expensive one configured."""
        served = getattr(self._served, "profile", None)
        if served is not None:
            return served
        _, readers, _ = self._endpoints()
        if any(not server.local for server in readers):
            return "remote_hashserver"
        return "local_hashserver" if readers else "read_buffer"

    def configured(self) -> bool:
        """Whether seamless-remote has any buffer client configured."""
        return any(_client_lists(self._module))

    def _initialize(self, client: Any) -> None:
        """Let seamless-remote give a launched client its URL and directory (it starts the
        server when it is not running). Clients defined with a URL need nothing."""
        if getattr(client, "url", None) or getattr(client, "directory", None):
            return
        with self._init_lock:
            if getattr(client, "url", None) or getattr(client, "directory", None):
                return
            try:
                client.ensure_initialized_sync()
            except Exception as exc:
                raise StoreUnavailableError(
                    f"seamless-remote could not start or reach its buffer server "
                    f"({type(client).__name__}): {exc}"
                ) from exc

    def _folder(self, directory: str) -> BufferFolder:
        path = os.path.expanduser(directory)
        with self._lock:
            folder = self._folders.get(path)
            if folder is None:
                folder = self._folders[path] = BufferFolder(path)
            return folder

    def _server(self, url: str, writable: bool) -> HashServer:
        key = (url.rstrip("/"), writable)
        with self._lock:
            server = self._servers.get(key)
            if server is None:
                server = self._servers[key] = HashServer(key[0], writable=writable)
            return server

    def _endpoints(self) -> tuple[list[BufferFolder], list[HashServer], list[HashServer]]:
        """Our stores for seamless-remote's clients: read folders, read servers (a server
        that is also a write server is the same object), write servers. Blocking: it may
        start a launched server."""
        folder_clients, reader_clients, writer_clients = _client_lists(self._module)
        for client in (*folder_clients, *reader_clients, *writer_clients):
            self._initialize(client)
        writer_urls = {c.url.rstrip("/") for c in writer_clients if getattr(c, "url", None)}
        folders = [self._folder(c.directory) for c in folder_clients if c.directory]
        readers = [
            self._server(c.url, c.url.rstrip("/") in writer_urls)
            for c in reader_clients
            if getattr(c, "url", None)
        ]
        writers = [self._server(url, True) for url in _unique(writer_urls, writer_clients)]
        return folders, readers, writers

    async def _endpoints_async(
        self,
    ) -> tuple[list[BufferFolder], list[HashServer], list[HashServer]]:
        if self._needs_initialization():
            return await asyncio.to_thread(self._endpoints)
        return self._endpoints()

    def _needs_initialization(self) -> bool:
        return any(
            not (getattr(c, "url", None) or getattr(c, "directory", None))
            for clients in _client_lists(self._module)
            for c in clients
        )

    def _readers(self) -> list[BufferStore]:
        folders, servers, _ = self._endpoints()
        return [*folders, *servers]

    async def _readers_async(self) -> list[BufferStore]:
        folders, servers, _ = await self._endpoints_async()
        return [*folders, *servers]

    # -- reads -----------------------------------------------------------------------------

    def _serve(self, store: BufferStore, content: bytes) -> bytes:
        self._served.profile = store.cost_profile
        return content

    # Each read is written once, as a plan that yields ``(store, operation, argument)`` and
    # receives what that store's operation returned (the async runner calls the async
    # twin, ``operation + "_async"``), or has its exception thrown in.

    def _get_plan(self, readers: list[BufferStore], checksum: Checksum) -> _Plan:
        errors: list[Exception] = []
        for store in readers:
            try:
                content = yield store, "get", checksum
            except (CorruptBufferError, OSError) as exc:
                errors.append(exc)
                continue
            if content is not None:
                return self._serve(store, content)
        _none_or_raise(errors)
        return None

    def _has_plan(
        self, readers: list[BufferStore], checksums: list[Checksum], include_promises: bool
    ) -> _Plan:
        found = [False] * len(checksums)
        errors: list[Exception] = []
        for store in readers:
            missing = [i for i, there in enumerate(found) if not there]
            if not missing:
                break
            asked = ([checksums[i] for i in missing], include_promises)
            try:
                answers = yield store, "has_batch", asked
            except OSError as exc:
                errors.append(exc)
                continue
            for i, there in zip(missing, answers):
                found[i] = there
        _raise_if_all_failed(errors, self._reader_count())
        return found

    def _lengths_plan(self, readers: list[BufferStore], checksums: list[Checksum]) -> _Plan:
        lengths: list[int | None] = [None] * len(checksums)
        errors: list[Exception] = []
        for store in readers:
            missing = [i for i, length in enumerate(lengths) if length is None]
            if not missing:
                break
            try:
                answers = yield store, "buffer_length_batch", [checksums[i] for i in missing]
            except OSError as exc:
                errors.append(exc)
                continue
            for i, length in zip(missing, answers):
                lengths[i] = length
        _raise_if_all_failed(errors, self._reader_count())
        return lengths

    def get(self, checksum: ChecksumLike) -> bytes | None:
        """The verified buffer from the first folder or server that has it, or ``None``.

        When none has it and some failed (unreachable, corrupt copy), the first failure is
        raised: the buffer may be on the one that failed."""
        return drive(self._get_plan(self._readers(), as_checksum(checksum)), _call)

    async def get_async(self, checksum: ChecksumLike) -> bytes | None:
        """Async twin of :meth:`get`."""
        plan = self._get_plan(await self._readers_async(), as_checksum(checksum))
        return await drive_async(plan, _call_async)

    def has(self, checksum: ChecksumLike) -> bool:
        """Whether any folder or server has the buffer (or has been promised it)."""
        return self.has_batch([checksum])[0]

    async def has_async(self, checksum: ChecksumLike) -> bool:
        """Async twin of :meth:`has`."""
        return (await self.has_batch_async([checksum]))[0]

    def has_batch(
        self, checksums: Iterable[ChecksumLike], *, include_promises: bool = True
    ) -> list[bool]:
        """For each checksum, whether any folder or server has it; each endpoint is asked
        only about the checksums the previous ones lacked, in one batch."""
        asked = [as_checksum(c) for c in checksums]
        return drive(self._has_plan(self._readers(), asked, include_promises), _call)

    async def has_batch_async(
        self, checksums: Sequence[ChecksumLike], *, include_promises: bool = True
    ) -> list[bool]:
        """Async twin of :meth:`has_batch`."""
        asked = [as_checksum(c) for c in checksums]
        plan = self._has_plan(await self._readers_async(), asked, include_promises)
        return await drive_async(plan, _call_async)

    def buffer_length(self, checksum: ChecksumLike) -> int | None:
        """The buffer's length from the first folder or server that has it, or ``None``."""
        return self.buffer_length_batch([checksum])[0]

    async def buffer_length_async(self, checksum: ChecksumLike) -> int | None:
        """Async twin of :meth:`buffer_length`."""
        return (await self.buffer_length_batch_async([checksum]))[0]

    def buffer_length_batch(self, checksums: Iterable[ChecksumLike]) -> list[int | None]:
        """:meth:`buffer_length` of each checksum, each endpoint asked in one batch."""
        asked = [as_checksum(c) for c in checksums]
        return drive(self._lengths_plan(self._readers(), asked), _call)

    async def buffer_length_batch_async(
        self, checksums: Sequence[ChecksumLike]
    ) -> list[int | None]:
        """Async twin of :meth:`buffer_length_batch`."""
        asked = [as_checksum(c) for c in checksums]
        plan = self._lengths_plan(await self._readers_async(), asked)
        return await drive_async(plan, _call_async)

    def _reader_count(self) -> int:
        folders, readers, _ = _client_lists(self._module)
        return len(folders) + len(readers)

    # -- writes ----------------------------------------------------------------------------

    def _writers(self) -> list[HashServer]:
        writers = self._endpoints()[2]
        if not writers:
            raise StoreNotWritableError(f"{self!r} has no buffer write server")
        return writers

    async def _writers_async(self) -> list[HashServer]:
        writers = (await self._endpoints_async())[2]
        if not writers:
            raise StoreNotWritableError(f"{self!r} has no buffer write server")
        return writers

    def promise(self, checksum: ChecksumLike) -> None:
        """Announce the upload of ``checksum`` to every write server (see
        :meth:`HashServer.promise`), as seamless-core 0.1.4 did before writing."""
        for server in self._writers():
            server.promise(checksum)

    async def promise_async(self, checksum: ChecksumLike) -> None:
        """Async twin of :meth:`promise`."""
        writers = await self._writers_async()
        await asyncio.gather(*(server.promise_async(checksum) for server in writers))

    def put(self, checksum: ChecksumLike, content: bytes) -> bool:
        """Upload ``content`` to every write server.

        Returns True when at least one server confirmed a fresh write and every other one
        holds the buffer; False when every server answered that it had it already (or that
        the same upload is in progress): a claim, not a confirmation. Raises (after trying
        every server) if any upload failed, and :class:`StoreNotWritableError` when there is
        no write server.
        """
        checksum = as_checksum(checksum)
        outcomes: list[bool | BaseException] = []
        for server in self._writers():
            try:
                outcomes.append(server.put(checksum, content))
            except Exception as exc:
                outcomes.append(exc)
        return _combine(outcomes)

    async def put_async(self, checksum: ChecksumLike, content: bytes) -> bool:
        """Async twin of :meth:`put`; the servers are written concurrently."""
        checksum = as_checksum(checksum)
        writers = await self._writers_async()
        outcomes = await asyncio.gather(
            *(server.put_async(checksum, content) for server in writers),
            return_exceptions=True,
        )
        return _combine(list(outcomes))

    def close(self) -> None:
        """Close the connections of the endpoint clients."""
        with self._lock:
            servers = list(self._servers.values())
        for server in servers:
            server.close()


_Plan = Generator[tuple[BufferStore, str, Any], Any, Any]


def _arguments(operation: str, argument: Any) -> tuple[tuple, dict]:
    if operation == "has_batch":
        checksums, include_promises = argument
        return (checksums,), {"include_promises": include_promises}
    return (argument,), {}


def _call(step: tuple[BufferStore, str, Any]) -> Any:
    store, operation, argument = step
    args, kwargs = _arguments(operation, argument)
    return getattr(store, operation)(*args, **kwargs)


async def _call_async(step: tuple[BufferStore, str, Any]) -> Any:
    store, operation, argument = step
    args, kwargs = _arguments(operation, argument)
    return await getattr(store, operation + "_async")(*args, **kwargs)


def _unique(urls: set[str], clients: list) -> list[str]:
    # In seamless-remote's order, once each.
    ordered: list[str] = []
    for client in clients:
        url = getattr(client, "url", None)
        if url and url.rstrip("/") in urls and url.rstrip("/") not in ordered:
            ordered.append(url.rstrip("/"))
    return ordered


def _none_or_raise(errors: list[Exception]) -> None:
    if not errors:
        return None
    first = errors[0]
    if len(errors) > 1:
        others = "; ".join(str(e) for e in errors[1:])
        raise type(first)(f"{first} (and: {others})") from first
    raise first


def _raise_if_all_failed(errors: list[Exception], endpoints: int) -> None:
    # An answer from some endpoint is an answer; only a store that could ask nobody fails.
    if errors and len(errors) >= endpoints:
        _none_or_raise(errors)


def _combine(outcomes: list[bool | BaseException]) -> bool:
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if errors:
        if len(errors) > 1 and all(isinstance(e, Exception) for e in errors):
            _none_or_raise(errors)  # type: ignore[arg-type]
        raise errors[0]
    return any(outcomes)


# -- the hook ------------------------------------------------------------------------------

_store: RemoteStore | None = None
_store_lock = threading.Lock()


def configured_store() -> RemoteStore | None:
    """The :class:`RemoteStore` while seamless-remote has buffer clients configured (and
    this is not a worker process), else ``None``. Cheap and free of I/O: the registry and
    the buffer cache's upload gate call it on every use."""
    global _store
    module = sys.modules.get(BUFFER_REMOTE_MODULE)
    if module is None or not any(_client_lists(module)):
        return None
    if _in_worker() and not _worker_allowed():
        return None
    store = _store
    if store is None or store._module is not module:
        with _store_lock:
            if _store is None or _store._module is not module:
                _store = RemoteStore(module)
            store = _store
    return store


# -- fingertip: recomputation from known transformations -----------------------------------


def _local_reverse_transformations(checksum: Checksum) -> list[Any]:
    try:
        from seamless_transformer.transformation_cache import (
            get_transformation_cache,
        )
    except Exception:  # seamless-transformer is not installed (or cannot load)
        return []
    try:
        return list(get_transformation_cache().get_reverse_transformations(checksum))
    except Exception:
        return []


async def _database_reverse_transformations(checksum: Checksum) -> list[Any]:
    database = sys.modules.get(DATABASE_REMOTE_MODULE)
    if database is None or not getattr(database, "_read_database_clients", None):
        return []
    try:
        found = await database.get_rev_transformations(checksum)
    except Exception:  # an unreachable database is one source less, not an error
        return []
    return list(found or [])


async def fingertip_provider(checksum: Checksum) -> Any:
    """Recompute ``checksum`` from a transformation known to produce it, as seamless-core
    0.1.4's ``fingertip`` did: the candidates come from seamless-transformer's
    transformation cache, then from seamless-remote's databases; each is recomputed
    (scratch, locally) until one yields ``checksum``. Returns its buffer, or ``None``."""
    checksum = as_checksum(checksum)
    candidates: list[Checksum] = []
    for found in (
        _local_reverse_transformations(checksum),
        await _database_reverse_transformations(checksum),
    ):
        for tf_checksum in found:
            try:
                tf_checksum = as_checksum(str(tf_checksum))
            except (TypeError, ValueError):
                continue
            if tf_checksum not in candidates:
                candidates.append(tf_checksum)
    if not candidates:
        return None
    try:
        from seamless_transformer.transformation_cache import (
            recompute_from_transformation_checksum,
        )
    except Exception:
        return None
    from ..resolution import resolve_async

    for tf_checksum in candidates:
        try:
            result = await recompute_from_transformation_checksum(
                tf_checksum.hex(), scratch=True, require_value=True
            )
            if result is None or as_checksum(str(result)) != checksum:
                continue
            return await resolve_async(checksum)
        except Exception:  # a failing recomputation: try the next candidate
            continue
    return None
