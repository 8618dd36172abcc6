"""Fixtures for the store tests: an S3 server (moto) on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

S3_CREDENTIALS = {"key": "testing", "secret": "testing"}


class RunningMotoServer:
    """``python -m moto.server`` on a free port of 127.0.0.1: its ``endpoint_url``."""

    def __init__(self, log_path) -> None:
        for _attempt in range(3):  # the free port may be taken between probe and bind
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            self.endpoint_url = f"http://127.0.0.1:{port}"
            command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
            self.log = log_path
            with open(self.log, "wb") as log:
                self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
            if self._wait_ready(timeout=60.0):  # a loaded machine starts it slowly
                return
            self.kill()
        raise RuntimeError(f"moto server did not start:\n{self.log.read_text()[-2000:]}")

    def _wait_ready(self, timeout: float) -> bool:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with opener.open(self.endpoint_url + "/", timeout=5.0) as response:
                    return b"ListAllMyBucketsResult" in response.read()
            except OSError:  # not listening yet (or not an S3 server: then we time out)
                pass
            time.sleep(0.05)
        return False

    def storage_options(self) -> dict:
        """What an s3fs filesystem on this server needs."""
        return {**S3_CREDENTIALS, "endpoint_url": self.endpoint_url}

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """A moto S3 server for the session (skipped without moto[server] and s3fs)."""
    for module in ("moto", "flask", "s3fs"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (the dev extra has it)")
    # No proxy from the environment may relay loopback traffic.
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    server = RunningMotoServer(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.kill()


@pytest.fixture(scope="session")
def s3_bucket(moto_server):
    """The name of a bucket on the session's moto server."""
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, **moto_server.storage_options())
    fs.mkdir("seamless-tests")
    return "seamless-tests"
