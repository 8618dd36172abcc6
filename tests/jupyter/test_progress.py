"""Progress in notebooks: long work shows a notebook progress bar in a real Jupyter kernel
(an ipywidgets bar, or tqdm's where tqdm is installed), the text bar elsewhere.

The kernel is a real ipykernel started through jupyter_client; what a notebook would show is
read from its IOPub messages: widget displays and comm updates, or stream text.
"""

from __future__ import annotations

import io
import queue
import textwrap

import pytest

from seamless_core import _progress
from seamless_core._progress import ProgressBar

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")
pytest.importorskip("ipywidgets")

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# Draw at once and at every step: the tests then do not depend on the machine's speed.
SETUP = """
import seamless_core._progress as _p
_p.DELAY = 0.0
_p._REFRESH = 0.0
"""


@pytest.fixture(scope="module")
def kernel():
    manager, client = jupyter_client.manager.start_new_kernel(
        kernel_name="python3", startup_timeout=180
    )
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def run(client, code: str, setup: bool = True, timeout: float = 120) -> list[dict]:
    """Run ``code`` (after SETUP) in the kernel; the IOPub messages of that execution,
    until it is idle."""
    msg_id = client.execute((SETUP if setup else "") + textwrap.dedent(code))
    messages = []
    while True:
        try:
            message = client.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no reply from the kernel within {timeout} s")
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(message)
        content = message["content"]
        if message["msg_type"] == "status" and content["execution_state"] == "idle":
            return messages


def shown(messages: list[dict]) -> tuple[list[dict], list[dict], str]:
    """(widget displays, comm messages, stream text) of an execution; errors fail."""
    errors = [m["content"] for m in messages if m["msg_type"] == "error"]
    assert not errors, errors[0]["traceback"][-1] if errors else ""
    displays = [
        m["content"]
        for m in messages
        if m["msg_type"] == "display_data" and WIDGET_VIEW in m["content"]["data"]
    ]
    comms = [m["content"] for m in messages if m["msg_type"] in ("comm_open", "comm_msg")]
    text = "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")
    return displays, comms, text


def states(comms: list[dict]) -> list[dict]:
    return [c["data"].get("state", {}) for c in comms if "data" in c]


def test_long_work_shows_a_widget_bar_in_a_kernel(kernel):
    code = """
    import sys
    sys.modules["tqdm"] = None  # tqdm, if installed, would draw its own bar
    from seamless_core._progress import ProgressBar
    with ProgressBar(10, "work", "files") as bar:
        for _ in range(10):
            bar.advance()
    """
    displays, comms, text = shown(run(kernel, code))
    assert len(displays) == 1  # one bar, updated in place
    assert "\r" not in text and "[#" not in text  # no text bar in the cell's output
    values = [s["value"] for s in states(comms) if "value" in s]
    assert "work: 10/10 files" in values and 10.0 in values
    assert any(s.get("bar_style") == "success" for s in states(comms))  # finished


def test_short_work_shows_nothing_in_a_kernel(kernel):
    code = """
    import sys
    sys.modules["tqdm"] = None
    import seamless_core._progress as _p
    _p.DELAY = 0.5
    from seamless_core._progress import ProgressBar
    with ProgressBar(10, "work", "files") as bar:
        bar.advance(10)
    """
    displays, comms, text = shown(run(kernel, code, setup=False))
    assert displays == [] and text == ""


def test_checksum_f_on_a_big_file_and_a_directory(kernel, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x01" * (5 << 20))
    (tmp_path / "tree").mkdir()
    for number in range(20):
        (tmp_path / "tree" / f"{number}.txt").write_text(str(number))
    code = f"""
    import sys
    sys.modules["tqdm"] = None
    %load_ext seamless_core
    file_checksum = %checksum -f {big}
    tree_checksum = %checksum -f {tmp_path / "tree"}
    """
    displays, comms, text = shown(run(kernel, code))
    assert len(displays) == 2 and "\r" not in text
    labels = [s["value"] for s in states(comms) if isinstance(s.get("value"), str)]
    assert "hashing: 5.0 MiB/5.0 MiB" in labels
    assert "indexing: 20/20 files" in labels


def test_tqdm_draws_the_bar_where_it_is_installed(kernel):
    pytest.importorskip("tqdm")
    code = """
    import sys
    if "tqdm" in sys.modules and sys.modules["tqdm"] is None:  # blocked by a test above
        del sys.modules["tqdm"]
    from seamless_core._progress import ProgressBar
    with ProgressBar(4, "work", "files") as bar:
        for _ in range(4):
            bar.advance()
    """
    displays, comms, text = shown(run(kernel, code))
    assert len(displays) == 1 and "\r" not in text
    texts = [str(s.get("value", "")).replace("\u2007", " ") for s in states(comms)]
    assert any(text.startswith(" 4/4 ") for text in texts), texts
    assert any(s.get("bar_style") == "success" for s in states(comms))


def test_on_a_terminal_the_text_bar(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    monkeypatch.setattr(_progress, "_REFRESH", 0.0)
    with ProgressBar(4, "work", "files", stream=stream, delay=0.0) as bar:
        bar.advance(4)
    assert stream.getvalue().endswith(
        "\rwork: [############################] 100% 4/4 files\x1b[K\n"
    )


def test_a_long_flush_shows_a_widget_bar_in_a_kernel(kernel, tmp_path):
    # A folder store whose first upload waits for a gate that a timer opens: flush() waits
    # long enough for its bar to be drawn, on any machine.
    code = f"""
    import sys, threading
    sys.modules["tqdm"] = None
    from seamless_core import Buffer, stores
    from seamless_core.stores import BufferFolder

    gate = threading.Event()

    class Gated(BufferFolder):
        def put(self, checksum, content):
            gate.wait(60)  # opened at once by the timer: the bound is for a failure
            return super().put(checksum, content)

    stores.add(Gated({str(tmp_path)!r}, writable=True))
    held = [Buffer(bytes([n]) * 100) for n in range(3)]
    for buffer in held:
        buffer.incref()
    threading.Timer(0.5, gate.set).start()
    assert stores.flush(timeout=60)
    """
    displays, comms, text = shown(run(kernel, code))
    assert len(displays) == 1 and "\r" not in text, text
    labels = [s["value"] for s in states(comms) if isinstance(s.get("value"), str)]
    assert "uploading buffers: 3/3 buffers" in labels, labels
