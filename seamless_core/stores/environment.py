"""Stores configured by environment variables.

``SEAMLESS_BUFFER_FOLDERS``
    Buffer folders to read from, in order: paths separated by ``os.pathsep`` (``:`` on
    POSIX), or by whitespace when there is no ``os.pathsep`` in the value. They are opened
    read-only (typically a hashserver's own directory, read directly); add a
    ``BufferFolder(path, writable=True)`` to write into one.
``SEAMLESS_HASHSERVER_URLS``
    Hashserver URLs separated by whitespace, tried after the folders. They are writable:
    uploads go to them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping

from .base import BufferStore
from .folder import BufferFolder

BUFFER_FOLDERS_ENV = "SEAMLESS_BUFFER_FOLDERS"
HASHSERVER_URLS_ENV = "SEAMLESS_HASHSERVER_URLS"


def folder_paths(value: str) -> list[str]:
    """The paths of a ``SEAMLESS_BUFFER_FOLDERS`` value, ``~`` expanded, empty ones dropped."""
    parts = value.split(os.pathsep) if os.pathsep in value else value.split()
    return [os.path.expanduser(part.strip()) for part in parts if part.strip()]


def stores_from_environment(environ: Mapping[str, str] | None = None) -> list[BufferStore]:
    """The stores the environment configures: folders first, then hashservers.

    An entry that cannot be used (a malformed URL such as ``http://xn--:5813``, a path with
    a NUL byte) is skipped with a warning naming it, rather than making every lookup fail.
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
    return stores
