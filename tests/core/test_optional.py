"""A missing optional dependency gives one line naming the extra that installs it.

Each case runs in a fresh interpreter whose ``sys.meta_path`` refuses to find the package,
as if it were not installed (the package is installed in this venv).
"""

from __future__ import annotations

import pytest

BLOCKER = """
import sys
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r} or name.startswith({module!r} + "."):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _Blocker())
"""

REPORT = """
try:
{call}
except ImportError as exc:
    print(type(exc).__name__, isinstance(exc, ModuleNotFoundError), exc.name)
    print(exc)
else:
    print("no error")
"""


def _run_without(fresh_python, module: str, call: str) -> list[str]:
    body = "\n".join("    " + line for line in call.strip().splitlines())
    code = BLOCKER.format(module=module) + REPORT.format(call=body)
    return fresh_python(code).stdout.splitlines()


def test_require_names_the_extra(fresh_python):
    lines = _run_without(
        fresh_python,
        "ipywidgets",
        "from seamless_core._optional import require\nrequire('ipywidgets', 'jupyter', 'X')",
    )
    assert lines == [
        "MissingDependency True ipywidgets",
        'X needs ipywidgets, which is not installed: pip install "seamless-core[jupyter]"',
    ]


def test_require_returns_the_module():
    from seamless_core._optional import require

    assert require("json", "none", "X").dumps([1]) == "[1]"


def test_require_lets_other_import_errors_through(tmp_path, monkeypatch):
    from seamless_core._optional import MissingDependency, require

    (tmp_path / "seamless_broken_mod.py").write_text("raise ImportError('broken inside')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="broken inside") as info:
        require("seamless_broken_mod", "dev", "X")
    assert not isinstance(info.value, MissingDependency)


def test_dashboard_without_ipywidgets(fresh_python):
    lines = _run_without(
        fresh_python, "ipywidgets", "import seamless_core\nseamless_core.dashboard()"
    )
    assert lines[0] == "MissingDependency True ipywidgets"
    assert lines[1] == (
        "seamless_core.dashboard() needs ipywidgets, which is not installed: "
        'pip install "seamless-core[jupyter]"'
    )


def test_hashserver_store_without_httpx(fresh_python):
    call = """
from seamless_core.stores.hashserver import HashServer
from seamless_core import Checksum
store = HashServer("http://127.0.0.1:1")
store.has(Checksum.of(b"x"))
"""
    lines = _run_without(fresh_python, "httpx", call)
    assert lines[0] == "MissingDependency True httpx", lines
    assert lines[1].endswith(
        'needs httpx, which is not installed: pip install "seamless-core[http]"'
    )
    assert len(lines) == 2
