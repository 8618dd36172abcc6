"""Buffer stores and the process-wide list of configured stores.

``resolve()`` asks the registered stores in registration order. ``Buffer.write()`` puts a
buffer into every writable one, and so does the background uploader for every buffer that
gets a non-scratch reference in the buffer cache; :func:`flush` waits for it.

The list starts with the stores named by ``SEAMLESS_BUFFER_FOLDERS`` (read-only folders),
``SEAMLESS_HASHSERVER_URLS`` (writable hashservers) and ``SEAMLESS_BUFFER_STORE_URLS``
(writable object stores such as ``s3://bucket/prefix``, through fsspec), read on first use.

    >>> from seamless_core import stores
    >>> folder = stores.add(stores.BufferFolder("/data/buffers", writable=True))
    >>> server = stores.add("http://localhost:5813")
    >>> stores.list()
    [BufferFolder('/data/buffers', writable=True), HashServer('http://localhost:5813')]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import (
    BufferStore,
    BufferTooLargeError,
    CorruptBufferError,
    StoreNotWritableError,
    StoreUnavailableError,
)
from .environment import BUFFER_FOLDERS_ENV, BUFFER_STORE_URLS_ENV, HASHSERVER_URLS_ENV
from .folder import SIZE_LIMIT_ENV, BufferFolder, RetentionAdvisor, parse_size
from .registry import (
    add,
    add_change_listener,
    add_store_listener,
    is_upload_target,
    list,
    reload_environment,
    remove,
    upload_targets,
    write_buffer,
)
from .upload import (
    FailedUpload,
    UploadFailedWarning,
    failed_uploads,
    flush,
    pending_uploads,
    wait_for_upload,
)

if TYPE_CHECKING:
    from .fsspec import FsspecStore
    from .hashserver import HashServer


def __getattr__(name: str) -> Any:
    # The hashserver client (and asyncio with it) loads when first named, so that a process
    # with only folders, or none, never imports it.
    if name == "HashServer":
        from .hashserver import HashServer

        return HashServer
    if name == "FsspecStore":  # likewise fsspec's store
        from .fsspec import FsspecStore

        return FsspecStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BUFFER_FOLDERS_ENV",
    "BUFFER_STORE_URLS_ENV",
    "HASHSERVER_URLS_ENV",
    "SIZE_LIMIT_ENV",
    "BufferFolder",
    "BufferStore",
    "BufferTooLargeError",
    "CorruptBufferError",
    "FailedUpload",
    "FsspecStore",
    "HashServer",
    "RetentionAdvisor",
    "StoreNotWritableError",
    "StoreUnavailableError",
    "UploadFailedWarning",
    "add",
    "add_change_listener",
    "add_store_listener",
    "failed_uploads",
    "flush",
    "is_upload_target",
    "list",
    "parse_size",
    "pending_uploads",
    "reload_environment",
    "remove",
    "upload_targets",
    "wait_for_upload",
    "write_buffer",
]
