"""Helpers under the names and call shapes of seamless-core 0.1.4, which the released
Seamless packages (seamless-transformer, seamless-remote, seamless-dask) call.

Each is a thin adapter over this package's own machinery, so that values, bytes and
checksums are exactly this package's; the ``seamless`` compatibility package re-exports
them under 0.1.4's module paths. Heavy modules (NumPy, asyncio, IPython) load on first use.
"""

from __future__ import annotations

import os
import shutil
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._atomic import write_atomic
from ._errors import CacheMissError, preview
from .buffer import Buffer
from .celltypes import CELLTYPES, SCALAR_CELLTYPES, TEXT_CELLTYPES
from .checksum import Checksum, as_checksum, sha256_digest

if TYPE_CHECKING:
    import asyncio

#: The 13 celltypes, as the list 0.1.4 exposes.
celltypes: list[str] = list(CELLTYPES)
#: Celltypes whose buffers are text (0.1.4's ``text_types``).
text_types: tuple[str, ...] = TEXT_CELLTYPES + SCALAR_CELLTYPES

__all__ = [
    "TRIVIAL_CHECKSUMS",
    "LRUCache",
    "await_existing_task",
    "calculate_checksum",
    "calculate_dict_checksum",
    "calculate_file_checksum",
    "celltypes",
    "get_event_loop",
    "get_form",
    "ipython_execute",
    "json_dumps",
    "json_dumps_bytes",
    "parse_buffer",
    "parse_buffer_sync",
    "parse_checksum",
    "serialize",
    "serialize_sync",
    "text_types",
    "unchecksum",
    "write_to_directory",
]


# -- checksums ---------------------------------------------------------------------------------


def calculate_checksum(content: bytes | str) -> str:
    """The hex SHA-256 of ``content`` (a str is encoded as UTF-8 first)."""
    if isinstance(content, str):
        content = content.encode()
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise TypeError(f"calculate_checksum takes bytes or str, not {type(content).__name__}")
    return sha256_digest(content).hex()


def calculate_file_checksum(path: str | os.PathLike) -> str | None:
    """The hex checksum of a file's raw bytes (never decompressed, whatever its name);
    None for ``/dev/stdout`` and ``/dev/stderr``, which cannot be read back."""
    from .files import file_checksum

    if os.fspath(path) in ("/dev/stdout", "/dev/stderr"):
        return None
    return file_checksum(path, decompress=False).hex()


def calculate_dict_checksum(value: Any) -> str:
    """The hex checksum of ``value`` as a ``plain`` buffer."""
    return Buffer(value, "plain").get_checksum().hex()


#: hex checksum -> content, for the buffers that are known without looking anywhere.
TRIVIAL_CHECKSUMS: dict[str, bytes] = {
    sha256_digest(content).hex(): content for content in (b"", b"{}", b"{}\n", b"[]", b"[]\n")
}


#: 0.1.4's name for :func:`seamless_core.checksum.as_checksum`.
parse_checksum = as_checksum


def unchecksum(value: Any) -> Any:
    """``value`` with every Checksum replaced by its hex string, through dicts, lists and
    tuples (which come back as lists); other values are returned as they are."""
    if isinstance(value, Checksum):
        return value.hex()
    if isinstance(value, dict):
        return {key: unchecksum(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [unchecksum(item) for item in value]
    return value


# -- JSON, serialization, parsing --------------------------------------------------------------


def json_dumps_bytes(value: Any) -> bytes:
    """Canonical JSON (two-space indent, sorted keys) without the trailing newline that a
    ``plain`` buffer has."""
    from .celltypes._json import dumps_canonical

    return dumps_canonical(value)[:-1]


def json_dumps(value: Any) -> str:
    """:func:`json_dumps_bytes` as text."""
    return json_dumps_bytes(value).decode()


def serialize_sync(value: Any, celltype: str, use_cache: bool = True) -> bytes:
    """The buffer bytes of ``value`` under ``celltype`` (``use_cache`` has no effect:
    values are always serialized afresh)."""
    return Buffer(value, celltype).content


async def serialize(value: Any, celltype: str, use_cache: bool = True) -> bytes:
    """Async twin of :func:`serialize_sync`."""
    return serialize_sync(value, celltype)


def parse_buffer_sync(
    buffer: Buffer | bytes, checksum: Checksum | str | bytes | None, celltype: str, copy: bool
) -> Any:
    """The value of ``buffer`` under ``celltype``. ``checksum`` and ``copy`` are accepted
    for compatibility: the value is always freshly parsed, so it is always a copy."""
    if not isinstance(buffer, Buffer):
        buffer = Buffer(buffer)
    return buffer.get_value(celltype)


async def parse_buffer(
    buffer: Buffer | bytes, checksum: Checksum | str | bytes | None, celltype: str, copy: bool
) -> Any:
    """Async twin of :func:`parse_buffer_sync`."""
    return parse_buffer_sync(buffer, checksum, celltype, copy)


def get_form(value: Any) -> tuple[str, Any]:
    """``(storage, form)`` of a mixed value: storage is ``pure-plain``, ``pure-binary`` or
    ``mixed-plain``; the form is the description the mixed container would carry."""
    from .celltypes.container import value_form

    return value_form(value)


# -- uploads ---------------------------------------------------------------------------------


async def await_existing_task(checksum: Checksum | str | bytes) -> bool | None:
    """Wait until no background upload of ``checksum`` is queued or running, then return
    None: whether it reached the stores is not known per checksum here, so the caller
    uploads the buffer itself if it must be sure (a store that has it already answers at
    once)."""
    import asyncio

    from .stores import upload

    await asyncio.to_thread(upload.wait_for_upload, Checksum(checksum))
    return None


# -- event loops and caches --------------------------------------------------------------------


def get_event_loop() -> asyncio.AbstractEventLoop:
    """The running event loop; else this thread's loop, made (and set) if there is none."""
    import asyncio
    import warnings

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:
            loop = None
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop


class LRUCache:
    """A dict of at most ``size`` items that drops the least recently used one when full
    (then calling ``callback(key, value)`` if given). Not thread-safe, like a dict's
    compound operations."""

    def __init__(self, size: int, callback: Callable[[Any, Any], None] | None = None) -> None:
        if size < 1:
            raise ValueError(f"an LRU cache needs a size of at least 1, got {size!r}")
        self._size = int(size)
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self.callback = callback

    def size(self, size: int | None = None) -> int:
        """The capacity; with ``size``, set it first (dropping the oldest items)."""
        if size is not None:
            if size < 1:
                raise ValueError(f"an LRU cache needs a size of at least 1, got {size!r}")
            self._size = int(size)
            self._shrink()
        return self._size

    def _shrink(self) -> None:
        while len(self._items) > self._size:
            key, value = self._items.popitem(last=False)
            if self.callback is not None:
                self.callback(key, value)

    def __getitem__(self, key: Any) -> Any:
        value = self._items[key]
        self._items.move_to_end(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        self._shrink()

    def __delitem__(self, key: Any) -> None:
        del self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(reversed(self._items)))

    def get(self, key: Any, default: Any = None) -> Any:
        """The value for ``key`` (marking it as used), else ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def peek(self, key: Any) -> Any:
        """The value for ``key`` without marking it as used."""
        return self._items[key]

    def keys(self) -> list[Any]:
        return list(reversed(self._items))

    def values(self) -> list[Any]:
        return [self._items[key] for key in reversed(self._items)]

    def items(self) -> list[tuple[Any, Any]]:
        return [(key, self._items[key]) for key in reversed(self._items)]

    def clear(self) -> None:
        self._items.clear()

    def __repr__(self) -> str:
        return f"LRUCache(size={self._size}, items={len(self._items)})"


# -- folders -----------------------------------------------------------------------------------


def _compress(content: bytes, suffix: str) -> bytes:
    if suffix == ".zst":
        import zstandard

        return zstandard.ZstdCompressor().compress(content)
    if suffix == ".gz":
        import gzip

        return gzip.compress(content, mtime=0)
    raise ValueError(f"unknown compression suffix {suffix!r}; use .zst or .gz")


def _file_buffer(value: Any, deep: bool) -> Buffer:
    if deep:
        checksum = Checksum(value)
        buffer = checksum.resolve()
        if buffer is None:  # a worker's resolve may answer None instead of raising
            raise CacheMissError(checksum)
        return buffer
    if isinstance(value, Buffer):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Buffer(value)
    if isinstance(value, str):
        return Buffer(value, "text")
    return Buffer(value, "mixed")


def _inside(root: str, relpath: str) -> str:
    path = os.path.abspath(os.path.join(root, relpath))
    if os.path.commonpath([root, path]) != root or path == root:
        raise ValueError(f"folder entry {relpath!r} points outside the directory {root!r}")
    return path


def write_to_directory(
    directory: str | os.PathLike,
    data: dict[str, Any],
    *,
    cleanup: bool,
    deep: bool,
    text_only: bool,
    compression_suffix: str | None = None,
) -> None:
    """Write a (deep) folder to ``directory``: ``data`` maps relative paths to contents
    (``deep``: to checksums, resolved here; else Buffer, bytes, str as text, or any other
    value as mixed). ``text_only`` writes only entries that are text, as text;
    ``compression_suffix`` (``.zst``/``.gz``) compresses every file and is added to its
    name; ``cleanup`` removes what else the directory holds. Each file is written
    atomically; paths that would leave the directory are refused."""
    if not isinstance(data, dict):
        raise TypeError(f"a folder is a dict of relative path -> content, got {preview(data)}")
    root = os.path.abspath(os.fspath(directory))
    os.makedirs(root, exist_ok=True)
    kept_files: set[str] = set()
    kept_dirs: set[str] = set()
    for relpath, value in data.items():
        path = _inside(root, relpath) + (compression_suffix or "")
        buffer = _file_buffer(value, deep)
        content = buffer.content
        if text_only:
            try:
                content = buffer.get_value("text").encode()
            except ValueError:
                continue  # not text: left out
        if compression_suffix:
            content = _compress(content, compression_suffix)
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        while parent != root:
            kept_dirs.add(parent)
            parent = os.path.dirname(parent)
        write_atomic(path, content)
        kept_files.add(path)
    if cleanup:
        _remove_others(root, kept_files, kept_dirs)


def _remove_others(root: str, kept_files: set[str], kept_dirs: set[str]) -> None:
    with os.scandir(root) as entries:
        for entry in entries:
            path = os.path.join(root, entry.name)
            if entry.is_dir(follow_symlinks=False):
                if path in kept_dirs:
                    _remove_others(path, kept_files, kept_dirs)
                else:
                    shutil.rmtree(path)
            elif path not in kept_files:
                os.unlink(path)


# -- IPython -----------------------------------------------------------------------------------


def ipython_execute(code: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """Run ``code`` (IPython syntax: magics allowed) in a fresh in-process IPython shell
    whose user namespace is ``namespace``, as 0.1.4 did for transformers that ask for an
    IPython kernel. Errors are printed to stderr, not raised. Returns ``namespace``.

    Only for code a transformer was explicitly told to run this way: parsing or
    converting ``ipython`` buffers never executes anything."""
    import sys

    from IPython.core.interactiveshell import InteractiveShell

    # A shell of its own, not the process's singleton: the namespace must be exactly this one.
    shell = InteractiveShell(user_ns=namespace)
    try:
        result = shell.run_cell(code, store_history=False)
    finally:
        shell.cleanup()
    for error in (result.error_before_exec, result.error_in_exec):
        if error is not None:
            print(f"{type(error).__name__}: {error}", file=sys.stderr)
    return namespace
