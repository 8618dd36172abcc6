"""The inert stand-in for the buffer cache inside a Seamless worker process.

A worker keeps no buffers of its own: its parent holds them, and seamless-transformer routes
the worker's resolution and references to the parent. Everything here is therefore a no-op
that answers "not here", so that code written for the real cache runs unchanged.
"""

from __future__ import annotations

from typing import Any

from ..checksum import Checksum
from .eviction_pass import EvictionResult


class _NoCosts:
    # Declarations about how to get buffers back have nothing to apply to.
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


class WorkerBufferCache:
    """Answers like an empty :class:`~seamless_core.cache.BufferCache` that keeps nothing."""

    costs = _NoCosts()

    def __repr__(self) -> str:
        return "WorkerBufferCache()"

    def register(self, *args: Any, **kwargs: Any) -> None:
        return None

    def get(self, checksum: Checksum | str | bytes) -> None:
        return None

    def __contains__(self, checksum: object) -> bool:
        return False

    def __len__(self) -> int:
        return 0

    def incref(self, *args: Any, **kwargs: Any) -> None:
        return None

    def incref_buffer(self, *args: Any, **kwargs: Any) -> None:
        return None

    def decref(self, *args: Any, **kwargs: Any) -> None:
        return None

    def tempref(self, *args: Any, **kwargs: Any) -> None:
        return None

    def tempref_buffer(self, *args: Any, **kwargs: Any) -> None:
        return None

    def refresh_tempref(self, checksum: Checksum | str | bytes) -> None:
        return None

    def is_scratch_ref(self, checksum: Checksum | str | bytes) -> bool:
        return False

    def purge_scratch(self, checksum: Checksum | str | bytes | None = None) -> int:
        return 0

    def clear(self) -> EvictionResult:
        return EvictionResult(0, 0, 0, 0, 0)

    def is_referenced(self, checksum: Checksum | str | bytes) -> bool:
        return False

    def keep_score(self, checksum: Checksum | str | bytes) -> float:
        return 0.0

    @property
    def spill_folder(self) -> None:
        return None


WORKER_CACHE = WorkerBufferCache()
