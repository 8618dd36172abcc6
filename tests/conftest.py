"""Shared test configuration."""

from __future__ import annotations

import sys

import pytest


def _reset_process_state(previous_stores: list | None) -> None:
    """Give the next test a fresh process-wide buffer cache and the store list it had."""
    cache_module = sys.modules.get("seamless_core.cache.cache")
    if cache_module is not None:
        cache = cache_module.set_buffer_cache(None)
        if cache is not None:
            cache.close()
    stores = sys.modules.get("seamless_core.stores")
    if stores is not None and previous_stores is not None:
        for store in stores.list():
            if not any(store is kept for kept in previous_stores):
                stores.remove(store)


@pytest.fixture(autouse=True)
def _private_spill_folder(tmp_path_factory, monkeypatch):
    """Never spill into the real default folder: each test gets its own, and a fresh
    process-wide buffer cache that reads it."""
    monkeypatch.setenv("SEAMLESS_SPILL_FOLDER", str(tmp_path_factory.mktemp("spill")))
    stores = sys.modules.get("seamless_core.stores")
    previous_stores = stores.list() if stores is not None else []
    _reset_process_state(None)
    yield
    _reset_process_state(previous_stores)
