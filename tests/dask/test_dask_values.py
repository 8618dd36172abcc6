"""Buffers as dask values, without a cluster: tokens, sizes, pickling, the light import."""

from __future__ import annotations

import copy
import pickle

import pytest

import seamless_core.buffer as buffer_module
from seamless_core import Buffer, CacheMissError, Checksum, get_buffer_cache
from seamless_core.stores import BufferFolder, HashServer

tokenize = pytest.importorskip("dask.tokenize").tokenize

MB = 1 << 20


# -- tokens ----------------------------------------------------------------------------------


def test_equal_buffers_share_a_token():
    a, b = Buffer(b"same content"), Buffer(bytearray(b"same content"))
    a.compute_checksum()  # known on one side only: the same content all the same
    assert tokenize(a) == tokenize(b)
    assert tokenize(a) != tokenize(Buffer(b"other content"))


def test_a_buffer_and_its_checksum_tokenize_apart():
    # f(buffer) and f(checksum) are different tasks: they must not share a key.
    buffer = Buffer(b"content")
    assert tokenize(buffer) != tokenize(buffer.compute_checksum())


def test_tokenizing_hashes_once_and_registers_nothing(monkeypatch):
    calls = []
    real = buffer_module.sha256_digest

    def counting(content):
        calls.append(len(content))
        return real(content)

    monkeypatch.setattr(buffer_module, "sha256_digest", counting)
    buffer = Buffer(bytes(8 * MB))
    tokens = {tokenize(buffer) for _ in range(5)}
    assert len(tokens) == 1
    assert calls == [8 * MB]
    assert buffer.checksum not in get_buffer_cache()


def test_a_known_checksum_is_not_recomputed(monkeypatch):
    checksum = Checksum.of(b"abc")
    monkeypatch.setattr(buffer_module, "sha256_digest", None)  # any hashing would fail
    assert tokenize(Buffer(b"abc", checksum=checksum)) == tokenize(
        Buffer(b"abc", checksum=checksum)
    )


def test_tokens_are_the_same_in_another_process(fresh_python):
    code = (
        "from dask.tokenize import tokenize\n"
        "from seamless_core import Buffer\n"
        "print(tokenize(Buffer(b'across processes')))\n"
    )
    assert fresh_python(code).stdout.strip() == tokenize(Buffer(b"across processes"))


# -- sizes -----------------------------------------------------------------------------------


def test_sizeof_reports_the_length():
    from dask.sizeof import sizeof

    buffer = Buffer(bytes(8 * MB))
    assert 8 * MB <= sizeof(buffer) <= 8 * MB + 512
    assert 32 <= sizeof(Checksum.of(b"")) <= 256
    assert sizeof(Buffer(b"")) <= 512


def test_the_sizeof_hook_comes_from_the_entry_point(fresh_python):
    # Only dask.sizeof is imported: the entry point registers the hook, and its module
    # brings neither distributed nor more than seamless_core's light core.
    code = (
        "import sys\n"
        "from dask.sizeof import sizeof\n"
        "from seamless_core import Buffer\n"
        "assert sizeof(Buffer(bytes(1000000))) >= 1000000, sizeof(Buffer(bytes(1000000)))\n"
        "assert 'seamless_core.dask.sizeof' in sys.modules\n"
        "assert 'distributed' not in sys.modules\n"
    )
    fresh_python(code)


def test_import_seamless_core_imports_no_dask(fresh_python):
    code = (
        "import sys, pickle, seamless_core\n"
        "from seamless_core import Buffer\n"
        "b = Buffer(b'x')\n"
        "pickle.loads(pickle.dumps(b, protocol=5))\n"
        "import seamless_core.dask\n"  # the package itself stays light until used
        "bad = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]\n"
        "assert not bad, bad\n"
    )
    fresh_python(code)


# -- pickling --------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_buffers_pickle_under_every_protocol(protocol):
    buffer = Buffer(b"pickled")
    copy_ = pickle.loads(pickle.dumps(buffer, protocol=protocol))
    assert copy_ == buffer and copy_.content == b"pickled"
    buffer.compute_checksum()
    copy_ = pickle.loads(pickle.dumps(buffer, protocol=protocol))
    assert copy_.checksum == buffer.checksum  # carried along, not recomputed


def test_an_unknown_checksum_stays_unknown():
    copy_ = pickle.loads(pickle.dumps(Buffer(b"lazy"), protocol=5))
    with pytest.raises(AttributeError):
        copy_.checksum  # noqa: B018 - computing it is the receiver's choice


def test_protocol_5_sends_the_content_out_of_band():
    content = bytes(range(256)) * 4096  # 1 MiB
    buffer = Buffer(content)
    buffer.compute_checksum()
    frames: list[pickle.PickleBuffer] = []
    data = pickle.dumps(buffer, protocol=5, buffer_callback=frames.append)
    assert len(data) < 200  # the pickle proper: the checksum and a reference, no content
    assert len(frames) == 1
    assert frames[0].raw().obj is content  # the buffer's own bytes, not a copy
    received = pickle.loads(data, buffers=frames)
    assert received.content is content  # and back without a copy
    assert received.checksum == buffer.checksum


def test_an_out_of_band_frame_of_another_type_is_taken_as_bytes():
    buffer = Buffer(b"frame")
    frames: list[pickle.PickleBuffer] = []
    data = pickle.dumps(buffer, protocol=5, buffer_callback=frames.append)
    received = pickle.loads(data, buffers=[bytearray(b"frame")])  # as a socket delivers it
    assert type(received.content) is bytes and received.content == b"frame"


def _received(content: bytes, *, checksum: bool = True) -> Buffer:
    """``Buffer(content)`` pickled out of band and loaded from a fresh frame, as a dask
    worker receives it from a socket."""
    buffer = Buffer(content)
    if checksum:
        buffer.compute_checksum()
    frames: list[pickle.PickleBuffer] = []
    data = pickle.dumps(buffer, protocol=5, buffer_callback=frames.append)
    return pickle.loads(data, buffers=[bytearray(content)])


def test_a_received_buffer_behaves_as_bytes():
    received = _received(b"received content")
    assert len(received) == 16
    assert received == Buffer(b"received content") and received == b"received content"
    assert received.checksum == Checksum.of(b"received content")
    assert tokenize(received) == tokenize(Buffer(b"received content"))
    assert bytes(received) == b"received content" and type(bytes(received)) is bytes
    assert received.decode() == "received content"
    assert received.get_value("text") == "received content"
    assert "received content" in repr(received)


def test_a_received_buffer_copies_its_frame_only_when_its_bytes_are_asked_for():
    received = _received(b"x" * MB, checksum=False)
    assert received.compute_checksum() == Checksum.of(b"x" * MB)  # hashed from the frame
    first = received.content
    assert type(first) is bytes and first == b"x" * MB
    assert received.content is first  # copied once, then kept


def test_a_received_buffer_is_sent_on_without_a_copy():
    frame = bytearray(b"forwarded" * 1000)
    frames: list[pickle.PickleBuffer] = []
    received = pickle.loads(
        pickle.dumps(Buffer(bytes(frame)), protocol=5, buffer_callback=frames.append),
        buffers=[frame],
    )
    onward: list[pickle.PickleBuffer] = []
    pickle.dumps(received, protocol=5, buffer_callback=onward.append)
    frame[0] = ord("F")  # only to prove the memory shared: nothing writes into a frame
    assert bytes(memoryview(onward[0])[:9]) == b"Forwarded"  # the frame it came in, no copy
    frame[0] = ord("f")
    for protocol in (2, 4):  # in band, the bytes
        assert pickle.loads(pickle.dumps(received, protocol=protocol)) == received


def test_a_received_buffer_saves(tmp_path):
    _received(b"saved").save(tmp_path / "file")
    assert (tmp_path / "file").read_bytes() == b"saved"


def test_copy_and_deepcopy():
    buffer = Buffer(b"copied")
    assert copy.copy(buffer) == buffer
    assert copy.deepcopy(buffer).content == b"copied"


@pytest.mark.parametrize("protocol", [2, 5])
def test_cache_miss_error_pickles_with_its_checksum(protocol):
    checksum = Checksum.of(b"missing")
    error = pickle.loads(pickle.dumps(CacheMissError(checksum, "gone"), protocol=protocol))
    assert isinstance(error, CacheMissError)
    assert error.checksum == checksum and str(error) == "gone"
    plain = pickle.loads(pickle.dumps(CacheMissError(checksum), protocol=protocol))
    assert plain.checksum == checksum and checksum.hex() in str(plain)
    message_only = pickle.loads(pickle.dumps(CacheMissError("just a message")))
    assert message_only.checksum is None and str(message_only) == "just a message"


# -- stores travel to workers as their settings ----------------------------------------------


def test_a_hashserver_pickles_without_its_connections(hashserver):
    server = HashServer(hashserver.url, writable=False, timeout=7.0)
    assert server.has(Checksum.of(b"not there")) is False  # a live pool and lock now
    copy_ = pickle.loads(pickle.dumps(server))
    assert (copy_.url, copy_.writable, copy_.timeout) == (server.url, False, 7.0)
    assert copy_.has(Checksum.of(b"not there")) is False  # opens its own pool
    server.close()
    copy_.close()


def test_a_folder_pickles_and_is_created_where_it_is_unpickled(tmp_path):
    folder = BufferFolder(tmp_path / "shared", writable=True)
    state = pickle.dumps(folder)
    (tmp_path / "shared" / ".HASHSERVER_PREFIX").unlink()
    (tmp_path / "shared").rmdir()  # as on another machine, where it does not exist yet
    copy_ = pickle.loads(state)
    checksum = Checksum.of(b"first buffer")
    copy_.put(checksum, b"first buffer")
    # A fresh reader of the folder finds it: the folder was made with its prefix marker.
    assert BufferFolder(tmp_path / "shared").get(checksum) == b"first buffer"
