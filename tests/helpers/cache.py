"""Shared helpers for the buffer cache tests."""

from __future__ import annotations

from seamless_core.checksum import Checksum
from seamless_core.stores import BufferStore


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class DictStore(BufferStore):
    """An in-memory store, with a configurable cost profile."""

    verifies = False

    def __init__(self, cost_profile: str = "remote_hashserver", writable: bool = True) -> None:
        self.cost_profile = cost_profile
        self.writable = writable
        self.data: dict[Checksum, bytes] = {}
        self.gets = 0

    def get(self, checksum):
        self.gets += 1
        return self.data.get(Checksum(checksum))

    def has(self, checksum):
        return Checksum(checksum) in self.data

    def put(self, checksum, content):
        self._require_writable()
        self.data[Checksum(checksum)] = bytes(content)
        return True  # it holds the very bytes now

    def buffer_length(self, checksum):
        content = self.data.get(Checksum(checksum))
        return None if content is None else len(content)
