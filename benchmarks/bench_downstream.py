"""A trivial seamless-transformer ``direct`` transformation, round trip, on seamless-core
vs on the published 0.1.4.

Uses the two venvs of ``tests/downstream/runner.py`` (built on first use, needs pip): the
released seamless-transformer 0.6.1 and friends, once over this repository and once over
0.1.4. Each call has new inputs, so every one is computed (no transformation-cache hits).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "downstream"))
import runner  # noqa: E402

CALLS = 40 if os.environ.get("SEAMLESS_BENCH_QUICK") else 200

SCRIPT = """
import json, statistics, sys, time
import seamless
from seamless.transformer import direct

@direct
def add(a, b):
    return a + b

add(-1, 1)  # warm up: imports, code checksum
times = []
for i in range(int(sys.argv[1])):
    start = time.perf_counter()
    assert add(i, 1) == i + 1
    times.append(time.perf_counter() - start)
seamless.close()
print(json.dumps({"median": statistics.median(times), "total": sum(times)}))
"""


def measure(kind: str) -> dict:
    python = runner.venv_python(kind)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench_direct.py"
        script.write_text(textwrap.dedent(SCRIPT))
        env = {**os.environ, "HOME": tmp}
        out = subprocess.run(
            [str(python), str(script), str(CALLS)],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ours, reference = measure("ours"), measure("baseline")
    print(f"direct transformation round trip, {CALLS} calls (median per call)")
    print(f"  seamless-core (this tree): {ours['median'] * 1e3:8.2f} ms")
    print(f"  seamless-core 0.1.4:       {reference['median'] * 1e3:8.2f} ms")
    print(f"  speed-up vs 0.1.4:         {reference['median'] / ours['median']:8.2f}x")


if __name__ == "__main__":
    main()
