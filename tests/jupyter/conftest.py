"""Fixtures for the Jupyter tests: IPython's shell with the extension loaded."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import get_ipython


@pytest.fixture(scope="module")
def shell():
    # IPython allows one shell per process: reuse one that other tests made, else make
    # IPython's own test shell (in-memory history).
    ip = InteractiveShell.instance() if InteractiveShell.initialized() else get_ipython()
    ip.history_manager.enabled = False
    ip.run_line_magic("load_ext", "seamless_core")
    yield ip
    ip.run_line_magic("unload_ext", "seamless_core")
