"""Our hashserver client against seamless-remote 0.4.0's buffer client, and against the raw
bandwidth of one httpx stream, to and from one local ``hashserver``.

    python benchmarks/bench_hashserver.py            # 1000 small buffers, 10 of 64 MiB
    python benchmarks/bench_hashserver.py --quick    # 200 small, 4 of 16 MiB
    python benchmarks/bench_hashserver.py --small 500 --large 2 --large-mib 32
    python benchmarks/bench_hashserver.py --large 0    # the small buffers only

The reference side runs in ``benchmarks/.venv-remote`` (git-ignored): seamless-core 0.1.4
plus seamless-remote 0.4.0, created on first use with pip. Each side runs in its own fresh
process against the same server, with its own random contents (so every upload is new):

- small: ``N`` buffers of 1 KiB uploaded, then downloaded, all at once as each client is
  meant to be used in bulk (seamless-remote: ``asyncio.gather`` of ``BufferClient.write``
  / ``get``, 100 at a time; ours: ``put`` / ``get`` at ``HashServer.concurrency`` in
  flight, the way ``resolve_batch_sync`` runs them and the uploader its puts (it also
  promises each buffer first);
- large: buffers of ``--large-mib`` MiB, one after the other (the time of the transfers
  only; the contents are made between them);
- raw: the same large transfers as one plain ``httpx`` request each, nothing verified;
- floor: the small case again, from the cheapest client there is (``http.client`` on
  kept-alive connections, as many threads as ours has requests in flight, nothing
  verified), with the server's CPU time per request. Reference time / floor is the best
  ratio any client could reach against this server: hashserver serves one request after
  the other, a few ms of CPU each, and has no endpoint to get or put several buffers.

The sides take turns (``--rounds``, default 2, 1 with ``--quick``); each time is the best
of its rounds, as the machine's load varies between runs.

Ratios: reference time / our time (goal: at least 3 on the small buffers, 1 on the large),
and our bandwidth / the raw one (goal: at least 0.8).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from refenv import REPO_ROOT, run_snippet, subprocess_env  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
REMOTE_VENV = BENCH_DIR / ".venv-remote"
REMOTE_PACKAGES = ("seamless-core==0.1.4", "seamless-remote==0.4.0")

_COMMON = """
import asyncio, json, os, sys, time
URL, SMALL, LARGE, LARGE_SIZE = {url!r}, {small}, {large}, {large_size}
SERVER_PID = {server_pid}

def small_contents():
    return [os.urandom(1024) for _ in range(SMALL)]

def server_cpu():
    # CPU seconds the server process has used (Linux); None where /proc is not there.
    try:
        with open(f"/proc/{{SERVER_PID}}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def timed_large(put_one, get_one, checksum_of):
    put_time = get_time = 0.0
    for _ in range(LARGE):
        content = os.urandom(LARGE_SIZE)
        checksum = checksum_of(content)
        start = time.perf_counter()
        put_one(checksum, content)
        put_time += time.perf_counter() - start
        del content
        start = time.perf_counter()
        got = get_one(checksum)
        get_time += time.perf_counter() - start
        assert len(got) == LARGE_SIZE
        del got
    return put_time, get_time
"""

_OURS = (
    _COMMON
    + """
import httpx
from seamless_core import Checksum
from seamless_core.stores import HashServer
from seamless_core.stores.http import map_bounded

server = HashServer(URL)
contents = small_contents()
items = [(Checksum.of(c), c) for c in contents]
start = time.perf_counter()
results = map_bounded(lambda item: server.put(*item), items, server.concurrency)
small_put = time.perf_counter() - start
assert not any(isinstance(r, BaseException) for r in results), results[:3]
start = time.perf_counter()
got = map_bounded(server.get, [c for c, _ in items], server.concurrency)
small_get = time.perf_counter() - start
assert got == contents
large_put, large_get = timed_large(server.put, server.get, Checksum.of)

raw = httpx.Client(timeout=600, headers={{"Accept-Encoding": "identity"}}, trust_env=False)
def raw_put(checksum, content):
    raw.put(f"{{URL}}/{{checksum.hex()}}", content=content).raise_for_status()
def raw_get(checksum):
    with raw.stream("GET", f"{{URL}}/{{checksum.hex()}}") as response:
        return b"".join(response.iter_raw())
raw_put_time, raw_get_time = timed_large(raw_put, raw_get, Checksum.of)

# The floor of the small case: the cheapest client there is (http.client on kept-alive
# connections, as many threads as ours runs requests at once, nothing verified or
# retried), with the server's CPU time per request while it serves them.
import http.client, threading
from urllib.parse import urlsplit

def floor(method, requests):
    pending, lock, statuses = iter(requests), threading.Lock(), []
    parts = urlsplit(URL)
    def work():
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
        while True:
            with lock:
                request = next(pending, None)
            if request is None:
                break
            connection.request(method, *request)
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        connection.close()
    threads = [threading.Thread(target=work) for _ in range(server.concurrency)]
    cpu, start = server_cpu(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, cpu_after = time.perf_counter() - start, server_cpu()
    assert set(statuses) <= {{200, 201}} and len(statuses) == len(requests), set(statuses)
    per_request = None if cpu is None else (cpu_after - cpu) / len(requests)
    return elapsed, per_request

uploads = [(f"{{urlsplit(URL).path}}/{{Checksum.of(c).hex()}}", c) for c in small_contents()]
floor_put, floor_put_cpu = floor("PUT", uploads)
floor_get, floor_get_cpu = floor("GET", [(path,) for path, _ in uploads])
print(json.dumps(dict(small_put=small_put, small_get=small_get, large_put=large_put,
                      large_get=large_get, raw_put=raw_put_time, raw_get=raw_get_time,
                      floor_put=floor_put, floor_get=floor_get,
                      floor_put_cpu=floor_put_cpu, floor_get_cpu=floor_get_cpu)))
"""
)

_REFERENCE = (
    _COMMON
    + """
from seamless import Buffer
from seamless_remote.buffer_client import BufferClient

client = BufferClient(readonly=False)
client.url = URL
contents = small_contents()
items = [(Buffer(c).get_checksum(), Buffer(c)) for c in contents]

# In rounds of 100 at once (aiohttp's connection limit): 1000 at once fail here with
# "Event loop is closed" (the client restarts its session on a connection error).
async def puts():
    for i in range(0, len(items), 100):
        await asyncio.gather(*(client.write(c, b) for c, b in items[i : i + 100]))

async def gets():
    got = []
    for i in range(0, len(items), 100):
        got += await asyncio.gather(*(client.get(c) for c, _ in items[i : i + 100]))
    return got

loop = asyncio.new_event_loop()  # one loop for all: the client keeps a session per loop
loop.run_until_complete(client.healthcheck())
start = time.perf_counter(); loop.run_until_complete(puts()); small_put = time.perf_counter() - start
start = time.perf_counter(); got = loop.run_until_complete(gets()); small_get = time.perf_counter() - start
assert [g.content for g in got] == contents

def put_one(checksum, content):
    loop.run_until_complete(client.write(checksum, Buffer(content)))
def get_one(checksum):
    return loop.run_until_complete(client.get(checksum)).content
large_put, large_get = timed_large(put_one, get_one, lambda c: Buffer(c).get_checksum())
print(json.dumps(dict(small_put=small_put, small_get=small_get, large_put=large_put,
                      large_get=large_get)))
os._exit(0)  # its keep-alive thread and sessions would outlive the answer
"""
)


def ensure_remote_venv() -> Path:
    """``benchmarks/.venv-remote``'s python, with seamless-core 0.1.4 and seamless-remote."""
    python = REMOTE_VENV / "bin" / "python"
    probe = "import seamless, seamless_remote.buffer_client"
    ok = python.exists() and (
        subprocess.run(
            [str(python), "-c", probe], env=subprocess_env(), cwd=tempfile.gettempdir()
        ).returncode
        == 0
    )
    if not ok:
        print(f"[bench_hashserver] creating {REMOTE_VENV}", flush=True)
        shutil.rmtree(REMOTE_VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(REMOTE_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, *REMOTE_PACKAGES], check=True, env=subprocess_env())
    return python


class LocalHashServer:
    """A writable ``hashserver`` on 127.0.0.1 in a temporary folder (removed at exit)."""

    def __enter__(self) -> str:
        self.directory = tempfile.mkdtemp(prefix="seamless-bench-hashserver-")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [sys.executable, "-m", "hashserver", self.directory, "--writable"]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        self.log = open(os.path.join(self.directory, "..", f"hashserver-{port}.log"), "wb")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for _ in range(600):
            try:
                with opener.open(f"{url}/healthcheck", timeout=5):
                    return url
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError("hashserver did not start")

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait(10)
        self.log.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _best(into: dict[str, float], times: dict[str, float | None]) -> None:
    for key, value in times.items():
        if value is not None:
            into[key] = min(value, into.get(key, value))


def _row(name: str, reference: float, ours: float, goal: float) -> str:
    ratio = reference / ours if ours > 0 else float("inf")
    verdict = "PASS" if ratio >= goal else "FAIL"
    return f"  {name:<28} {reference:9.3f} s {ours:9.3f} s {ratio:7.2f}x   >= {goal:g}x  {verdict}"


def _floor_note(reference: float, floor: float, server_cpu: float | None) -> str:
    """What bounds a small row: the cheapest client's time, and the best ratio any client
    could reach against this server (the reference's time over that floor)."""
    cpu = "" if server_cpu is None else f", server CPU {server_cpu * 1e3:.1f} ms/request"
    return f"   floor {floor:.3f} s{cpu}: at most {reference / floor:.2f}x"


def _bandwidth_row(name: str, raw: float, ours: float, mib: float) -> str:
    ratio = raw / ours if ours > 0 else float("inf")  # ours / raw bandwidth
    verdict = "PASS" if ratio >= 0.8 else "FAIL"
    return (
        f"  {name:<28} {mib / raw:7.0f} MiB/s {mib / ours:7.0f} MiB/s {ratio:7.2f}x"
        f"   >= 0.8x  {verdict}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    quick_default = bool(os.environ.get("SEAMLESS_BENCH_QUICK"))
    parser.add_argument("--quick", action="store_true", default=quick_default)
    parser.add_argument("--small", type=int, help="small buffers (default 1000, quick 200)")
    parser.add_argument("--large", type=int, help="large buffers (default 10, quick 4)")
    parser.add_argument("--large-mib", type=int, help="MiB per large buffer (64, quick 16)")
    parser.add_argument("--rounds", type=int, help="runs of each side (default 2, quick 1)")
    args = parser.parse_args(argv if argv is not None else [])
    small = args.small or (200 if args.quick else 1000)
    large = args.large if args.large is not None else (4 if args.quick else 10)
    mib = args.large_mib or (16 if args.quick else 64)
    rounds = args.rounds or (1 if args.quick else 2)
    pythonpath = str(REPO_ROOT)
    reference_python = ensure_remote_venv()
    local = LocalHashServer()
    with local as url:
        params = dict(url=url, small=small, large=large, large_size=mib << 20)
        params["server_pid"] = local.process.pid
        ours: dict[str, float] = {}
        reference: dict[str, float] = {}
        for _ in range(rounds):  # the sides take turns; the best time of each counts
            _best(ours, run_snippet(sys.executable, _OURS.format(**params), pythonpath=pythonpath))
            _best(reference, run_snippet(reference_python, _REFERENCE.format(**params)))
    total = large * mib
    print(f"hashserver client: {small} buffers of 1 KiB, {large} of {mib} MiB, local server")
    print(f"  {'':<28} {'remote 0.4':>11} {'ours':>11} {'ratio':>8}")
    for op in ("put", "get"):
        row = _row(f"{op} {small} small", reference[f"small_{op}"], ours[f"small_{op}"], 3)
        note = _floor_note(
            reference[f"small_{op}"], ours[f"floor_{op}"], ours.get(f"floor_{op}_cpu")
        )
        print(row + note)
    if not large:
        return
    print(_row(f"put {large} x {mib} MiB", reference["large_put"], ours["large_put"], 1))
    print(_row(f"get {large} x {mib} MiB", reference["large_get"], ours["large_get"], 1))
    print(f"  {'':<28} {'raw httpx':>11} {'ours':>11} {'ratio':>8}")
    print(_bandwidth_row("put, one stream", ours["raw_put"], ours["large_put"], total))
    print(_bandwidth_row("get, one stream", ours["raw_get"], ours["large_get"], total))


if __name__ == "__main__":
    main(sys.argv[1:])
