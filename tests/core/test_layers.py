"""The layers of docs/architecture.md hold: import-linter's contract in pyproject.toml
(also run by `make lint`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_layers_contract_is_kept():
    found = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    command = found if os.path.exists(found) else shutil.which("lint-imports")
    if command is None:
        pytest.skip("import-linter is not installed (it is in the dev extra)")
    done = subprocess.run(
        [command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
