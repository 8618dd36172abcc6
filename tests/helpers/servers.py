"""A server subprocess on a free port of 127.0.0.1, for the fixtures that run real servers
(hashserver, moto's S3 server): the port probe, the bounded wait until it answers, the kill.

A subclass gives ``command(port)``, ``log_path(port)`` and ``answers(base_url, opener)``:
whether the server on that port is up *and is ours* (another process may take the probed
port between probe and bind, and answer instead).
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# A loaded 2-core machine starts a Python server slowly.
START_TIMEOUT = 60.0


class LocalServer:
    """Starts in ``__init__`` (three ports tried); ``url``, ``process`` and ``log`` after."""

    name = "server"

    def __init__(self) -> None:
        for _attempt in range(3):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            self.log = self.log_path(port)
            with open(self.log, "wb") as log:
                self.process = subprocess.Popen(
                    self.command(port), stdout=log, stderr=subprocess.STDOUT
                )
            if self._wait_ready(START_TIMEOUT):
                return
            self.kill()
        raise RuntimeError(f"{self.name} did not start:\n{self.log.read_text()[-2000:]}")

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def log_path(self, port: int) -> Path:
        raise NotImplementedError

    def answers(self, opener: Any) -> bool:
        """Whether the server at ``self.url`` is ours; ``OSError`` while it is not up yet."""
        raise NotImplementedError

    def _wait_ready(self, timeout: float) -> bool:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                return self.answers(opener)
            except urllib.error.HTTPError:  # a server that does not know us: not ours
                return False
            except OSError:  # not listening yet
                pass
            time.sleep(0.05)
        return False

    def kill(self) -> None:
        """Stop the server (SIGKILL, no goodbye) and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
