"""The workers of a dask.distributed cluster use this process's stores.

:func:`install` registers a :class:`StoresPlugin` on a ``distributed.Client``: every worker,
also one that joins later, registers the client's stores (pickled with their writability)
and follows its spill setting. At teardown (worker shutdown, :func:`uninstall`, or a new
:func:`install`) a worker waits for its queued uploads and unregisters those stores again.

:func:`resolve` and :func:`submit` then work with checksums: the buffers are looked up on
the worker that needs them (its cache, the spill folder, the shared stores), never shipped
from the client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from distributed import Client, Future, WorkerPlugin

from .. import stores as _stores
from ..buffer import Buffer
from ..cache.spill import SPILL_FOLDER_ENV, default_spill_path
from ..checksum import Checksum
from ..stores.base import BufferStore

__all__ = [
    "PLUGIN_NAME",
    "StoresPlugin",
    "call_resolved",
    "install",
    "resolve",
    "submit",
    "uninstall",
]

logger = logging.getLogger(__name__)

PLUGIN_NAME = "seamless-core-stores"
#: Seconds a worker's teardown waits for its queued uploads.
DEFAULT_FLUSH_TIMEOUT = 60.0
# The spill setting when the worker should use its own default folder (its temp directory).
_DEFAULT_SPILL = "default"


def _client_spill_setting() -> str | None:
    """This process's spill setting: ``None`` (off), ``"default"`` or a folder path."""
    from ..cache.process import current_buffer_cache

    cache = current_buffer_cache()
    if cache is not None:
        path = cache.spill_path
    else:
        from ..cache.spill import SpillSetting

        path = SpillSetting().path
    if path is None:
        return None
    # The default location is per machine (its temp directory): each worker finds its own.
    return _DEFAULT_SPILL if path == default_spill_path() else path


def _shippable(store: BufferStore) -> bool:
    # seamless-remote's bridge follows seamless-remote's configuration in each process.
    from ..stores.remote import RemoteStore

    return not isinstance(store, RemoteStore)


def _check_picklable(store: BufferStore) -> None:
    try:
        pickle.dumps(store)
    except Exception as exc:
        raise TypeError(
            f"seamless_core.dask: the store {store!r} cannot be sent to the workers: "
            f"it does not pickle ({type(exc).__name__}: {exc})"
        ) from exc


def _read_only_copy(store: BufferStore) -> BufferStore:
    # A store's settings, pickled by this process just now (no user data, nothing received):
    # the round trip leaves the live clients and locks behind, as shipping it would.
    copy = pickle.loads(pickle.dumps(store))  # safe: our own bytes, a store's settings
    copy.writable = False
    return copy


def _same_store(a: BufferStore, b: BufferStore) -> bool:
    if type(a) is not type(b) or a.writable != b.writable:
        return False
    where_a = getattr(a, "url", None) or getattr(a, "path", None)
    return where_a is not None and where_a == (getattr(b, "url", None) or getattr(b, "path", None))


class StoresPlugin(WorkerPlugin):
    """Gives a worker a list of stores and a spill setting (see :func:`install`).

    Args:
        stores: the stores to register on the worker, in resolution order.
        spill: ``None`` (spilling off), ``"default"`` (the worker's default folder) or a
            folder path; applied to the worker's buffer cache if it has none yet.
        flush_timeout: seconds the teardown waits for the worker's queued uploads.
    """

    name = PLUGIN_NAME
    idempotent = False

    def __init__(
        self,
        stores: Sequence[BufferStore],
        spill: str | None = _DEFAULT_SPILL,
        flush_timeout: float = DEFAULT_FLUSH_TIMEOUT,
    ) -> None:
        self.stores = list(stores)
        self.spill = spill
        self.flush_timeout = float(flush_timeout)
        self._added: list[BufferStore] = []

    def __repr__(self) -> str:
        return f"StoresPlugin({self.stores!r}, spill={self.spill!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_added"] = []  # what one worker registered is no business of the next
        return state

    def setup(self, worker: Any = None) -> None:
        self._apply_spill()
        registered = _stores.list()
        for store in self.stores:
            if any(store is s or _same_store(store, s) for s in registered):
                continue  # e.g. a hashserver the worker has from its environment already
            _stores.add(store)
            self._added.append(store)

    def _apply_spill(self) -> None:
        if self.spill is None:
            os.environ[SPILL_FOLDER_ENV] = "off"
        elif self.spill == _DEFAULT_SPILL:
            os.environ.pop(SPILL_FOLDER_ENV, None)
        else:
            os.environ[SPILL_FOLDER_ENV] = self.spill
        from ..cache.process import current_buffer_cache

        cache = current_buffer_cache()
        wanted = None if self.spill is None else self.spill
        current = None if cache is None else cache.spill_path
        if cache is not None and wanted != _DEFAULT_SPILL and current != wanted:
            # A cache holds its spill folder for life; a new one would orphan its references.
            logger.warning(
                "seamless_core.dask: this worker's buffer cache spills to %s, not %s as "
                "the client does; it keeps its setting",
                current,
                wanted,
            )

    async def teardown(self, worker: Any = None) -> None:
        from ..stores.upload import flush

        # In a thread: the worker's event loop keeps serving while the uploads finish.
        if not await asyncio.to_thread(flush, self.flush_timeout):
            logger.warning(
                "seamless_core.dask: uploads still pending after %s s at worker teardown",
                self.flush_timeout,
            )
        added, self._added = self._added, []
        for store in added:
            try:
                _stores.remove(store)
            except ValueError:
                pass  # removed by the user meanwhile
            store.close()


def install(
    client: Client,
    stores: Sequence[BufferStore] | None = None,
    *,
    read_only: bool = False,
    spill: Any = "inherit",
    flush_timeout: float = DEFAULT_FLUSH_TIMEOUT,
) -> StoresPlugin:
    """Give every worker of ``client``'s cluster (present and future) the same stores.

    Args:
        client: the ``distributed.Client``.
        stores: the stores to ship; by default the ones registered here
            (:func:`seamless_core.stores.list`, without seamless-remote's bridge, which
            each process configures itself). Each must pickle.
        read_only: ship read-only copies, so that workers upload nothing.
        spill: the workers' spill setting: ``"inherit"`` (this process's: off, the
            default folder of each worker, or the same explicit folder), ``None`` (off),
            ``"default"``, or a folder path.
        flush_timeout: seconds a worker waits for its uploads at teardown.

    Installing again replaces the previous plugin (its teardown runs first). Returns the
    plugin that was registered.
    """
    chosen = [s for s in (_stores.list() if stores is None else stores) if _shippable(s)]
    for store in chosen:
        if not isinstance(store, BufferStore):
            raise TypeError(f"seamless_core.dask.install: not a BufferStore: {store!r}")
        _check_picklable(store)
    if read_only:
        chosen = [_read_only_copy(s) if s.writable else s for s in chosen]
    if spill == "inherit":
        spill = _client_spill_setting()
    elif spill is not None:
        spill = os.fspath(spill)
    plugin = StoresPlugin(chosen, spill=spill, flush_timeout=flush_timeout)
    client.register_plugin(plugin, name=PLUGIN_NAME)
    return plugin


def uninstall(client: Client) -> None:
    """Remove the plugin: the workers flush their uploads and drop the shipped stores."""
    client.unregister_worker_plugin(PLUGIN_NAME)


# -- work on checksums -----------------------------------------------------------------------


def _resolve_one(checksum: Checksum, celltype: str | None) -> Any:
    return checksum.resolve(celltype)


def resolve(
    client: Client,
    checksums: Sequence[Checksum | str | bytes],
    *,
    celltype: str | None = None,
    **options: Any,
) -> list[Future]:
    """Futures of the buffers (or, with ``celltype``, the values) of ``checksums``,
    each resolved on a worker through its stores.

    The keys derive from the checksums (``seamless-resolve-<hex>``), so resolving the same
    checksum twice yields the same future and every client agrees on it. A checksum that
    no store has makes its future raise :class:`~seamless_core.CacheMissError`.
    ``options`` go to ``client.submit`` (``workers=``, ``resources=``, ...).
    """
    futures = []
    for checksum in checksums:
        checksum = Checksum(checksum)
        suffix = "" if celltype is None else f"-{celltype}"
        key = f"seamless-resolve-{checksum.hex()}{suffix}"
        futures.append(client.submit(_resolve_one, checksum, celltype, key=key, **options))
    return futures


def _substitute(value: Any, celltype: str | None) -> Any:
    return value.resolve(celltype) if isinstance(value, Checksum) else value


def _run_coroutine(coroutine: Any) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # Inside a running loop (a task run on the worker's own loop): in a thread of its own.
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed over to the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=run, name="seamless-dask-write")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _store_result(value: Any, celltype: str) -> Checksum:
    from ..stores import write_buffer

    buffer = value if isinstance(value, Buffer) else Buffer(value, celltype)
    checksum = buffer.get_checksum()
    # Written before the task ends: whoever receives the checksum can resolve it.
    _run_coroutine(write_buffer(buffer))
    return checksum


def call_resolved(
    func: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    celltype: str | None = None,
    result_celltype: str | None = None,
) -> Any:
    """``func(*args, **kwargs)`` with every :class:`Checksum` among the arguments replaced
    by its buffer (or its value under ``celltype``), resolved in this process. With
    ``result_celltype``, the result is stored as a buffer under that celltype in the
    writable stores and its checksum returned. What :func:`submit` runs on a worker."""
    args = [_substitute(arg, celltype) for arg in args]
    kwargs = {name: _substitute(arg, celltype) for name, arg in kwargs.items()}
    result = func(*args, **kwargs)
    return result if result_celltype is None else _store_result(result, result_celltype)


def submit(
    client: Client,
    func: Callable[..., Any],
    *args: Any,
    celltype: str | None = None,
    result_celltype: str | None = None,
    options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Future:
    """Run ``func(*args, **kwargs)`` on a worker, where the :class:`Checksum` arguments are
    resolved first (see :func:`call_resolved`): only checksums travel from the client.

    Args:
        celltype: give ``func`` the values of the checksums under this celltype instead of
            their buffers.
        result_celltype: store the result as a buffer under this celltype (in the
            worker's writable stores) and make the future's result its checksum.
        options: passed to ``client.submit`` (``key=``, ``workers=``, ``pure=``, ...).

    The default key is dask's token of the call, deterministic since checksums and buffers
    tokenize by content.
    """
    return client.submit(
        call_resolved,
        func,
        list(args),
        dict(kwargs),
        celltype,
        result_celltype,
        **dict(options or {}),
    )
