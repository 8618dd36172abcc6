"""Stores configured by environment variables.

``SEAMLESS_BUFFER_FOLDERS``
    Buffer folders to read from, in order: paths separated by ``os.pathsep`` (``:`` on
    POSIX), or by whitespace when there is no ``os.pathsep`` in the value. They are opened
    read-only (typically a hashserver's own directory, read directly); add a
    ``BufferFolder(path, writable=True)`` to write into one.
``SEAMLESS_HASHSERVER_URLS``
    Hashserver URLs separated by whitespace, tried after the folders. They are writable:
    uploads go to them.
``SEAMLESS_BUFFER_STORE_URLS``
    Object-store (fsspec) URLs separated by whitespace, tried last: ``s3://bucket/prefix``,
    ``gcs://...``, ``memory://name``. Each is a writable
    :class:`~seamless_core.stores.fsspec.FsspecStore`; its credentials and endpoint come
    from the backend's own configuration (``AWS_*`` variables, ``~/.aws``, or fsspec's
    ``FSSPEC_<PROTOCOL>_<OPTION>`` variables).
``SEAMLESS_BUFFER_FOLDER_SIZE_LIMIT``
    The ``size_limit`` of the writable folders that ``stores.add(path, writable=True)``
    opens: bytes, or a size such as ``10GiB`` (see
    :func:`~seamless_core.stores.folder.parse_size`). A ``BufferFolder`` made directly, and
    the cache's spill folder, have their own settings.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

from .base import BufferStore
from .folder import SIZE_LIMIT_ENV, BufferFolder, parse_size

BUFFER_FOLDERS_ENV = "SEAMLESS_BUFFER_FOLDERS"
HASHSERVER_URLS_ENV = "SEAMLESS_HASHSERVER_URLS"
BUFFER_STORE_URLS_ENV = "SEAMLESS_BUFFER_STORE_URLS"


def folder_paths(value: str) -> list[str]:
    """The paths of a ``SEAMLESS_BUFFER_FOLDERS`` value, ``~`` expanded, empty ones dropped."""
    parts = value.split(os.pathsep) if os.pathsep in value else value.split()
    return [os.path.expanduser(part.strip()) for part in parts if part.strip()]


def folder_size_limit(environ: Mapping[str, str] | None = None) -> int | None:
    """``SEAMLESS_BUFFER_FOLDER_SIZE_LIMIT`` in bytes, or ``None`` when unset or empty;
    ``ValueError`` naming the variable when it is not a size."""
    value = (os.environ if environ is None else environ).get(SIZE_LIMIT_ENV, "").strip()
    return parse_size(value, SIZE_LIMIT_ENV) if value else None


def stores_from_environment(environ: Mapping[str, str] | None = None) -> list[BufferStore]:
    """The stores the environment configures: folders first, then hashservers, then
    object stores.

    An entry that cannot be used (a malformed URL such as ``http://xn--:5813``, a path with
    a NUL byte, an object store whose fsspec backend is not installed) is skipped with a
    warning naming it, rather than making every lookup fail.
    """
    environ = os.environ if environ is None else environ
    stores: list[BufferStore] = []
    for path in folder_paths(environ.get(BUFFER_FOLDERS_ENV, "")):
        try:
            stores.append(BufferFolder(path))
        except ValueError as exc:
            warnings.warn(f"{BUFFER_FOLDERS_ENV}: ignoring {path!r}: {exc}", stacklevel=3)
    urls = environ.get(HASHSERVER_URLS_ENV, "").split()
    if urls:  # the client (and asyncio with it) loads only when a hashserver is configured
        from .hashserver import HashServer
    for url in urls:
        try:
            stores.append(HashServer(url))
        except ValueError as exc:
            warnings.warn(f"{HASHSERVER_URLS_ENV}: ignoring {url!r}: {exc}", stacklevel=3)
    object_urls = environ.get(BUFFER_STORE_URLS_ENV, "").split()
    if object_urls:
        from .fsspec import FsspecStore
    for url in object_urls:
        try:
            stores.append(FsspecStore(url))
        except (ImportError, ValueError) as exc:
            warnings.warn(f"{BUFFER_STORE_URLS_ENV}: ignoring {url!r}: {exc}", stacklevel=3)
    return stores
