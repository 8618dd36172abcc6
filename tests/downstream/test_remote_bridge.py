"""The bridge to seamless-remote, with the released packages and real servers.

Every scenario runs in fresh processes of the downstream venv (see ``venv_builder``): one
process writes, another one resolves, as two users of one seamless-config setup would. The
servers are real: a hashserver and a seamless-database, either launched by seamless-config
itself (through remote-http-launcher, from a cluster definition) or started here and given
to seamless-config with ``set_remote_clients``; all listen on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .venv_builder import downstream_python

SCRIPT_TIMEOUT = 60  # seconds, per process
SERVER_START_TIMEOUT = 30


@pytest.fixture(scope="module")
def python() -> Path:
    return downstream_python()


def _environment(python: Path, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    for variable in ("SEAMLESS_CACHE", "SEAMLESS_REMOTE_CLIENTS", "SEAMLESS_HASHSERVER_URLS"):
        env.pop(variable, None)
    # remote-http-launcher finds the servers' commands on PATH, keeps its state under HOME
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(home)
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _run(python: Path, env: dict[str, str], script: str, *args: str) -> dict:
    """Run ``script`` in a new process; returns what it reported with ``report()``."""
    prelude = textwrap.dedent(
        """
        import asyncio, json, sys
        def report(**values):
            print("REPORT:" + json.dumps(values), flush=True)
        """
    )
    # A file, not -c: seamless-transformer reads the source of the functions it runs.
    path = Path(env["HOME"]) / f"script-{time.time_ns()}.py"
    path.write_text(prelude + textwrap.dedent(script))
    completed = subprocess.run(
        [str(python), str(path), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
    )
    reports = [
        json.loads(line[len("REPORT:") :])
        for line in completed.stdout.splitlines()
        if line.startswith("REPORT:")
    ]
    if completed.returncode != 0 or not reports:
        raise AssertionError(
            f"script failed (exit {completed.returncode}):\n{completed.stdout[-3000:]}\n"
            f"{completed.stderr[-5000:]}"
        )
    return reports[-1]


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _stop_launched_servers(home: Path) -> None:
    # remote-http-launcher starts the servers in their own session and notes their pids.
    for status in (home / ".remote-http-launcher" / "server").glob("*.json"):
        try:
            pid = json.loads(status.read_text()).get("pid")
        except (OSError, ValueError):
            continue
        if isinstance(pid, int) and pid > 0:
            _stop(pid)


# -- a seamless-config setup that launches its servers ---------------------------------------

CLUSTER = "h5local"
PROJECT = "bridge"


@pytest.fixture(scope="module")
def launched(python: Path, tmp_path_factory) -> Iterator[tuple[dict[str, str], Path]]:
    """A local cluster whose hashserver and database seamless-config launches on first use
    (in a random port range of 127.0.0.1), and a project directory that selects it."""
    root = tmp_path_factory.mktemp("launched")
    home, workdir = root / "home", root / "project"
    (home / ".seamless").mkdir(parents=True)
    workdir.mkdir()
    base = random.randrange(20000, 60000, 1000)
    (home / ".seamless" / "clusters.yaml").write_text(
        textwrap.dedent(
            f"""\
            {CLUSTER}:
              type: local
              frontends:
                - hashserver:
                    bufferdir: {root / "buffers"}
                    network_interface: 127.0.0.1
                    port_start: {base}
                    port_end: {base + 499}
                  database:
                    database_dir: {root / "database"}
                    network_interface: 127.0.0.1
                    port_start: {base + 500}
                    port_end: {base + 999}
            local_cluster: {CLUSTER}
            """
        )
    )
    (workdir / "seamless.yaml").write_text(
        f"- cluster: {CLUSTER}\n- project: {PROJECT}\n- execution: process\n"
    )
    env = _environment(python, home)
    try:
        yield env, workdir
    finally:
        _stop_launched_servers(home)


CONFIG_INIT = """
import seamless.config
seamless.config.set_workdir(sys.argv[1])
seamless.config.init()
from seamless_core import Buffer, Checksum, CacheMissError, get_buffer_cache, stores
from seamless_core.resolution import fingertip_async, resolve_async, resolve_sync
from seamless_core.stores.remote import RemoteStore
remote = [store for store in stores.list() if isinstance(store, RemoteStore)]
"""

WRITER = """
assert len(remote) == 1 and remote[0].writable, stores.list()
assert remote[0] in stores.upload_targets()
nonce = sys.argv[2]

# Buffer.write(): through the registry's upload targets
explicit = Buffer(("written explicitly " + nonce).encode())
wrote = asyncio.run(explicit.write())

# the background uploader, for a buffer that gets a (non-scratch) reference
background = Buffer(("uploaded in the background " + nonce).encode())
get_buffer_cache().incref_buffer(background)
flushed = stores.flush(30)

# the store contract: a fresh write is confirmed, a second one is only a claim
direct = Buffer(("put directly " + nonce).encode())
first = remote[0].put(direct.get_checksum(), direct.content)
second = remote[0].put(direct.get_checksum(), direct.content)
report(
    checksums=[b.get_checksum().hex() for b in (explicit, background, direct)],
    contents=[b.content.decode() for b in (explicit, background, direct)],
    wrote=wrote,
    flushed=flushed,
    failed=[str(f) for f in stores.failed_uploads()],
    first=first,
    second=second,
)
"""

READER = """
import seamless_remote.buffer_remote as buffer_remote
from seamless_core.stores import HashServer
from seamless_core.cache import set_buffer_cache
def forget():  # a fresh, empty buffer cache: the next resolution must use the store again
    previous = set_buffer_cache(None)
    if previous is not None:
        previous.close()
checksums = [Checksum(h) for h in sys.argv[2].split(",")]
sync = [resolve_sync(c).content.decode() for c in checksums]
forget()
async def main():
    return [(await resolve_async(c)).content.decode() for c in checksums]
in_async = asyncio.run(main())
forget()
import seamless  # 0.1.4's API, as the released packages call it
facade = [seamless.Checksum(c.hex()).resolve("bytes").decode() for c in checksums]
# and from the server itself, not its folder (which a local hashserver is read from first)
url = buffer_remote._read_server_clients[0].url
over_http = [HashServer(url).get(c).decode() for c in checksums]
unknown = Checksum.of(b"never written " + sys.argv[2].encode())
try:
    resolve_sync(unknown)
    missing = None
except CacheMissError as exc:
    missing = str(exc)
report(
    sync=sync,
    in_async=in_async,
    facade=facade,
    over_http=over_http,
    url=url,
    has=remote[0].has_batch(checksums + [unknown]),
    lengths=remote[0].buffer_length_batch(checksums + [unknown]),
    missing=missing,
    writable=remote[0].writable,
)
"""


def test_launched_servers_carry_buffers_between_processes(launched, python):
    env, workdir = launched
    nonce = f"{os.getpid()}-{time.time_ns()}"
    written = _run(python, env, CONFIG_INIT + WRITER, str(workdir), nonce)
    assert written["wrote"] is True
    assert written["flushed"] is True and written["failed"] == []
    assert written["first"] is True and written["second"] is False

    read = _run(python, env, CONFIG_INIT + READER, str(workdir), ",".join(written["checksums"]))
    assert read["sync"] == read["in_async"] == read["over_http"] == written["contents"]
    assert read["facade"] == written["contents"]
    assert read["url"].startswith("http://127.0.0.1:")
    assert read["has"] == [True, True, True, False]
    assert read["lengths"][:3] == [len(c) for c in written["contents"]]
    assert read["lengths"][3] is None
    assert "no buffer for checksum" in read["missing"]


FINGERTIP_WRITER = """
from seamless.transformer import delayed

@delayed
def affine(a, b):
    return 2 * a + b + 0.5

affine.scratch = True  # the result is recorded in the database, its buffer not uploaded
transformation = affine(int(sys.argv[2]), 3)
result = transformation.compute()
assert transformation.exception is None, transformation.exception
stores.flush(30)
report(result=Checksum(str(result)).hex())
"""

FINGERTIP_READER = """
result = Checksum(sys.argv[2])
try:
    resolve_sync(result)
    resolved_first = True
except CacheMissError:
    resolved_first = False
buffer = asyncio.run(fingertip_async(result))
report(resolved_first=resolved_first, value=buffer.get_value("mixed"))
"""


def test_fingertip_recomputes_from_the_database_in_another_process(launched, python):
    env, workdir = launched
    a = random.randrange(1000, 10**6)
    written = _run(python, env, CONFIG_INIT + FINGERTIP_WRITER, str(workdir), str(a))
    read = _run(python, env, CONFIG_INIT + FINGERTIP_READER, str(workdir), written["result"])
    assert read["resolved_first"] is False  # scratch: not on the hashserver
    assert read["value"] == 2 * a + 3 + 0.5


# -- servers started here, given to seamless-config as extern clients ------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthcheck", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _start_server(argv: list[str], port: int, log: Path) -> tuple[subprocess.Popen, str]:
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not _healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{argv[0]} did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    return process, url


@pytest.fixture(scope="module")
def extern(python: Path, tmp_path_factory) -> Iterator[tuple[dict[str, str], str, str]]:
    root = tmp_path_factory.mktemp("extern")
    bin_ = python.parent
    (root / "buffers").mkdir()
    port = _free_port()
    hashserver, buffer_url = _start_server(
        [
            str(bin_ / "hashserver"),
            str(root / "buffers"),
            "--writable",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        port,
        root / "hashserver.log",
    )
    port = _free_port()
    database, database_url = _start_server(
        [
            str(bin_ / "seamless-database"),
            str(root / "seamless.db"),
            "--writable",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        port,
        root / "database.log",
    )
    (root / "home").mkdir()
    try:
        yield _environment(python, root / "home"), buffer_url, database_url
    finally:
        for process in (hashserver, database):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


EXTERN_INIT = """
import seamless.config
readonly = sys.argv[3] == "ro"
seamless.config.set_remote_clients({
    "buffer": [{"url": sys.argv[1], "readonly": readonly}],
    "database": [{"url": sys.argv[2], "readonly": readonly}],
})
from seamless_core import Buffer, Checksum, CacheMissError, get_buffer_cache, stores
from seamless_core.resolution import fingertip_async, resolve_async, resolve_sync
from seamless_core.stores.remote import RemoteStore
remote = [store for store in stores.list() if isinstance(store, RemoteStore)]
"""

EXTERN_WRITER = """
assert len(remote) == 1 and remote[0].writable
buffer = Buffer(("extern " + sys.argv[4]).encode())
get_buffer_cache().incref_buffer(buffer)
report(flushed=stores.flush(30), failed=len(stores.failed_uploads()),
       checksum=buffer.get_checksum().hex(), content=buffer.content.decode())
"""

EXTERN_READER = """
checksum = Checksum(sys.argv[4])
report(
    content=resolve_sync(checksum).content.decode(),
    writable=remote[0].writable,
    targets=len(stores.upload_targets()),
)
"""


def test_extern_servers_serve_over_http_and_readonly_is_not_writable(extern, python):
    env, buffer_url, database_url = extern
    nonce = str(time.time_ns())
    written = _run(python, env, EXTERN_INIT + EXTERN_WRITER, buffer_url, database_url, "rw", nonce)
    assert written["flushed"] is True and written["failed"] == 0
    read = _run(
        python,
        env,
        EXTERN_INIT + EXTERN_READER,
        buffer_url,
        database_url,
        "ro",
        written["checksum"],
    )
    assert read["content"] == written["content"]
    assert read["writable"] is False and read["targets"] == 0


NOT_CONFIGURED = """
import sys
from seamless_core import stores
before = [repr(s) for s in stores.list()]
import seamless_remote.buffer_remote as buffer_remote  # imported, not activated
imported = [repr(s) for s in stores.list()]
import seamless.config
seamless.config.set_remote_clients({"buffer": [{"url": sys.argv[1], "readonly": False}]})
activated = [type(s).__name__ for s in stores.list()]
import seamless
seamless.set_is_worker(True)  # a worker delegates to its parent: no remote store
in_worker = [type(s).__name__ for s in stores.list()]
report(before=before, imported=imported, activated=activated, in_worker=in_worker)
"""


def test_the_store_follows_seamless_remote_configuration(extern, python):
    env, buffer_url, _ = extern
    light = _run(
        python,
        env,
        "import seamless_core, seamless_core.stores\n"
        "report(loaded=[m for m in sys.modules if m.startswith(('seamless_remote', "
        "'seamless_config', 'aiohttp'))])",
    )
    assert light["loaded"] == []
    seen = _run(python, env, NOT_CONFIGURED, buffer_url)
    assert seen["before"] == seen["imported"] == []
    assert seen["activated"] == ["RemoteStore"]
    assert seen["in_worker"] == []


DASK = """
import os
import seamless.config

clients = {
    kind: [{"url": url, "remote_url": url, "readonly": False}]
    for kind, url in (("buffer", sys.argv[1]), ("database", sys.argv[2]))
}
seamless.config.set_remote_clients(clients)

if __name__ == "__main__":
    from distributed import Client, LocalCluster
    from seamless_dask.client import SeamlessDaskClient
    from seamless_dask.transformer_client import set_seamless_dask_client
    from seamless.transformer import delayed
    import seamless

    cluster = LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None,
        host="127.0.0.1",
    )
    client = Client(cluster)
    set_seamless_dask_client(
        SeamlessDaskClient(client, worker_plugin_workers=1, remote_clients=clients,
                           is_local_cluster=True)
    )

    @delayed
    def where(a, nonce):
        import os
        return [os.getpid(), a * 7 + 1]

    transformation = where(int(sys.argv[4]), sys.argv[4])
    value = transformation.run()
    set_seamless_dask_client(None)
    client.close()
    cluster.close()
    report(value=value, exception=str(transformation.exception), pid=os.getpid())
    seamless.close()
"""


def test_seamless_dask_local_cluster_transformation(extern, python):
    env, buffer_url, database_url = extern
    a = random.randrange(1000, 10**6)
    ran = _run(python, env, DASK, buffer_url, database_url, "rw", str(a))
    worker_pid, value = ran["value"]
    assert value == a * 7 + 1, ran
    assert worker_pid != ran["pid"]  # computed in a dask worker process, not here
