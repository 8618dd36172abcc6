"""RemoteStore over a stand-in for seamless-remote's client lists (the real package runs
in the downstream suite): a folder, a dead server and the real hashserver, sync and async."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from types import SimpleNamespace

import pytest

from seamless_core import Checksum
from seamless_core.stores import BufferFolder, HashServer, StoreUnavailableError
from seamless_core.stores.remote import RemoteStore


def unique(label: str) -> bytes:
    return f"{label} {time.time_ns()} {os.urandom(8).hex()}\n".encode()


@pytest.fixture
def dead_url():
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def remote_module(folders=(), readers=(), writers=()):
    def clients(entries, kind):
        return [SimpleNamespace(**{kind: entry}) for entry in entries]

    return SimpleNamespace(
        _read_folders_clients=clients(folders, "directory"),
        _read_server_clients=clients(readers, "url"),
        _write_server_clients=clients(writers, "url"),
    )


def test_reads_go_through_folders_then_servers(tmp_path, hashserver, dead_url):
    in_folder, on_server = unique("in the folder"), unique("on the server")
    BufferFolder(tmp_path, writable=True).put(Checksum.of(in_folder), in_folder)
    HashServer(hashserver.url).put(Checksum.of(on_server), on_server)
    absent = Checksum.of(unique("nowhere"))
    module = remote_module([str(tmp_path)], [dead_url, hashserver.url], [hashserver.url])
    store = RemoteStore(module)
    asked = [Checksum.of(in_folder), Checksum.of(on_server), absent]

    assert store.get(asked[0]) == in_folder
    assert store.get(asked[1]) == on_server  # the dead server before it does not matter
    assert store.has_batch(asked) == [True, True, False]
    assert store.buffer_length_batch(asked) == [len(in_folder), len(on_server), None]
    with pytest.raises(StoreUnavailableError, match=dead_url):
        store.get(absent)  # it may be on the server that failed

    async def twins():
        return (
            await store.get_async(asked[1]),
            await store.has_batch_async(asked),
            await store.buffer_length_batch_async(asked),
        )

    assert asyncio.run(twins()) == (
        on_server,
        [True, True, False],
        [len(in_folder), len(on_server), None],
    )
    with pytest.raises(StoreUnavailableError, match=dead_url):
        asyncio.run(store.get_async(absent))


def test_puts_reach_every_write_server(hashserver_factory):
    first, second = hashserver_factory(), hashserver_factory()
    store = RemoteStore(remote_module([], [first.url], [first.url, second.url]))
    content = unique("written twice")
    checksum = Checksum.of(content)
    assert store.put(checksum, content) is True
    assert HashServer(second.url).get(checksum) == content
    assert asyncio.run(store.put_async(checksum, content)) is False  # both had it: a claim
