"""The ``seamless`` package: every name the released Seamless packages import from 0.1.4
exists, and is seamless_core's very own object.

The list comes from reading the sdists of seamless-transformer 0.6.1, seamless-remote 0.4.0,
seamless-config 0.3.2 and seamless-dask 0.4 (see docs/compatibility.md).
"""

from __future__ import annotations

import importlib

import pytest

import seamless_core
from seamless_core import cache, legacy, lifecycle, stores

# (module, name) -> the seamless_core object it must be
IMPORTED = {
    ("seamless", "Checksum"): seamless_core.Checksum,
    ("seamless", "Buffer"): seamless_core.Buffer,
    ("seamless", "CacheMissError"): seamless_core.CacheMissError,
    ("seamless", "is_worker"): lifecycle.is_worker,
    ("seamless", "set_is_worker"): lifecycle.set_is_worker,
    ("seamless", "ensure_open"): lifecycle.ensure_open,
    ("seamless", "close"): lifecycle.close,
    ("seamless", "register_close_hook"): lifecycle.register_close_hook,
    ("seamless.buffer_class", "Buffer"): seamless_core.Buffer,
    ("seamless.buffer_class", "get_buffer_cache"): cache.get_buffer_cache,
    ("seamless.checksum_class", "Checksum"): seamless_core.Checksum,
    ("seamless.caching", "BufferCache"): cache.BufferCache,
    ("seamless.caching.buffer_cache", "get_buffer_cache"): cache.get_buffer_cache,
    ("seamless.caching.buffer_cache", "BufferCache"): cache.BufferCache,
    ("seamless.caching.buffer_cache", "TempRef"): cache.TempRef,
    ("seamless.caching.buffer_writer", "await_existing_task"): legacy.await_existing_task,
    ("seamless.caching.buffer_writer", "flush"): stores.flush,
    ("seamless.checksum.calculate_checksum", "calculate_checksum"): legacy.calculate_checksum,
    ("seamless.checksum.calculate_checksum", "calculate_file_checksum"): (
        legacy.calculate_file_checksum
    ),
    ("seamless.checksum.json_", "json_dumps_bytes"): legacy.json_dumps_bytes,
    ("seamless.checksum.serialize", "serialize_sync"): legacy.serialize_sync,
    ("seamless.checksum.parse_buffer", "parse_buffer_sync"): legacy.parse_buffer_sync,
    ("seamless.checksum.celltypes", "celltypes"): legacy.celltypes,
    ("seamless.util", "unchecksum"): legacy.unchecksum,
    ("seamless.util.get_event_loop", "get_event_loop"): legacy.get_event_loop,
    ("seamless.util.ipython", "execute"): legacy.ipython_execute,
    ("seamless.util.mixed.get_form", "get_form"): legacy.get_form,
    ("seamless.util.mount_directory", "write_to_directory"): legacy.write_to_directory,
    ("seamless.util.pylru", "lrucache"): legacy.LRUCache,
}

# Imported as modules (``import seamless.x`` / ``from seamless import x``).
MODULES = [
    "seamless",
    "seamless.buffer_class",
    "seamless.caching",
    "seamless.caching.buffer_cache",
    "seamless.caching.buffer_writer",
    "seamless.checksum",
    "seamless.config",
    "seamless.transformer",
    "seamless.util",
]


@pytest.mark.parametrize(("module", "name"), sorted(IMPORTED))
def test_every_imported_name_is_seamless_cores_object(module: str, name: str) -> None:
    assert getattr(importlib.import_module(module), name) is IMPORTED[module, name]


@pytest.mark.parametrize("module", MODULES)
def test_modules_import(module: str) -> None:
    importlib.import_module(module)


def test_from_seamless_caching_import_buffer_writer() -> None:
    from seamless.caching import buffer_writer

    assert buffer_writer.flush is stores.flush


def test_patching_the_facade_class_patches_ours() -> None:
    # Spawned workers replace Checksum.resolve on the class they imported from seamless.
    import seamless

    original = seamless_core.Checksum.resolve
    seamless.Checksum.resolve = lambda self, celltype=None: "patched"
    try:
        assert seamless_core.Checksum(b"\0" * 32).resolve() == "patched"
    finally:
        seamless.Checksum.resolve = original


def test_close_state_is_readable_as_module_attributes() -> None:
    # seamless-transformer reads sys.modules["seamless"]._closing / _closed with getattr.
    import seamless

    assert seamless._closed is lifecycle.closed()
    assert seamless._closing is lifecycle.closing()
    with pytest.raises(AttributeError):
        seamless.no_such_name  # noqa: B018


def test_bridges_are_empty_without_the_downstream_packages(fresh_python) -> None:
    # In this venv neither seamless-config nor seamless-transformer is installed: the
    # bridges import, and offer nothing (as 0.1.4's do).
    code = (
        "import importlib.util, seamless.config, seamless.transformer\n"
        "assert importlib.util.find_spec('seamless_transformer') is None\n"
        "assert seamless.config.__all__ == [] and seamless.transformer.__all__ == []\n"
    )
    if importlib.util.find_spec("seamless_transformer") is not None:
        pytest.skip("seamless-transformer is installed here")
    fresh_python(code)


def test_import_seamless_stays_light(fresh_python) -> None:
    code = (
        "import sys, seamless\n"
        "heavy = {'numpy', 'asyncio', 'IPython'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    fresh_python(code)
