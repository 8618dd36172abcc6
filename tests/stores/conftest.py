"""Fixtures for the store tests: an S3 server (moto) on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest
from helpers.servers import LocalServer

S3_CREDENTIALS = {"key": "testing", "secret": "testing"}


class RunningMotoServer(LocalServer):
    """``python -m moto.server`` on a free port of 127.0.0.1: its ``endpoint_url``."""

    name = "moto server"

    def __init__(self, log_path) -> None:
        self._log_path = log_path
        super().__init__()
        self.endpoint_url = self.url

    def command(self, port: int) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]

    def log_path(self, port: int):
        return self._log_path

    def answers(self, opener) -> bool:
        with opener.open(self.url + "/", timeout=5.0) as response:
            return b"ListAllMyBucketsResult" in response.read()

    def storage_options(self) -> dict:
        """What an s3fs filesystem on this server needs."""
        return {**S3_CREDENTIALS, "endpoint_url": self.endpoint_url}


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
