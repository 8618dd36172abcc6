"""Tutorial 03 in a real JupyterLab (headless Chromium): after *Run All* the dashboard is
still there and live, and no cell shows asyncio's warnings ("Task was destroyed but it is
pending", "coroutine ... was never awaited"), neither after Run All nor when the cells are
run one by one with the dashboard on screen.

Run alone with ``pytest -m browser``.
"""

from __future__ import annotations

import pytest
from test_dashboard_browser import (
    _JS_CELLS,
    _JS_READINGS,
    _JS_READY,
    _JS_RESTART,
    _KERNEL_STRONG_COUNTS,
    CHANGE_TIMEOUT,
    PAGE_TIMEOUT,
    _kernel_value,
    _run_cells,
    notebook_path,  # noqa: F401 - the fixture
)

pytestmark = pytest.mark.browser

RUN_ALL_TIMEOUT = 600_000  # milliseconds

WARNINGS = ("Task was destroyed", "was never awaited", "Traceback", "Exception in callback")

# Whether Run All has finished: every code cell ran, and the kernel is idle.
_JS_ALL_RAN = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle') return false;
  return panel.content.widgets.every(cell => cell.model.type !== 'code' ||
    (cell.model.executionCount !== null && !cell.hasClass('jp-mod-pending')));
}"""

# What the cells show besides their results: stderr text, errors, warnings.
_JS_NOISE = """() => window.jupyterapp.shell.currentWidget.content.widgets.flatMap(
  (cell, index) => cell.model.type !== 'code' ? [] : cell.model.outputs.toJSON()
    .filter(output => output.output_type === 'error' || output.name === 'stderr')
    .map(output => index + ': ' + (output.text || output.ename + ': ' + output.evalue)))"""

# Adds buffers to the dashboard's cache from outside any cell (a silent execution), so
# that only the dashboard's own refresh can bring them to the page.
_JS_ADD_BUFFERS = """async () => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const code = [
    'import os as _os',
    'from seamless_core import Buffer as _Buffer',
    'from seamless_core.jupyter.dashboard import live_dashboards as _live',
    '_run_all_buffers = [_Buffer(_os.urandom(8 * 1024)) for _ in range(2)]',
    'for _d in _live():',
    '    for _b in _run_all_buffers:',
    '        _d.cache.incref_buffer(_b)',
  ].join('\\n');
  const reply = await kernel.requestExecute({code, silent: true, store_history: false}).done;
  return reply.content.status;
}"""


def _noise(page) -> list[str]:
    return [line for line in page.evaluate(_JS_NOISE) if any(w in line for w in WARNINGS)]


# JupyterLab (4.6, with ipykernel 7's subshells) cancels the requests still pending when the
# kernel restarts, and reports each one as an uncaught page error; the test restarts the
# kernel on purpose, and this says nothing about our views.
_RESTART_NOISE = "Canceled future for"


def _keep_page_error(errors: list[str], error: str) -> None:
    if _RESTART_NOISE not in error:
        errors.append(error)


def test_run_all_keeps_a_live_dashboard(browser, jupyter_lab, notebook_path, tmp_path):  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT)
    page_errors: list[str] = []
    page.on("pageerror", lambda error: _keep_page_error(page_errors, str(error)))
    try:
        page.goto(jupyter_lab.url(f"lab/tree/{notebook_path}"), wait_until="domcontentloaded")
        page.wait_for_function(_JS_READY, timeout=PAGE_TIMEOUT, polling=250)
        # a fresh kernel: the server may keep the one an earlier test used on this notebook
        page.evaluate(_JS_RESTART)
        page.wait_for_function(_JS_READY, timeout=PAGE_TIMEOUT, polling=250)

        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(_JS_ALL_RAN, timeout=RUN_ALL_TIMEOUT, polling=250)
        page.wait_for_function(f"() => !!({_JS_READINGS})()", timeout=PAGE_TIMEOUT)
        readings = page.evaluate(_JS_READINGS)
        assert "live" in readings["status"], readings
        assert not _noise(page), _noise(page)

        # after Run All has finished, the dashboard follows the cache by itself
        (before,) = _kernel_value(page, _KERNEL_STRONG_COUNTS)
        assert page.evaluate(_JS_ADD_BUFFERS) == "ok"
        (after,) = _kernel_value(page, _KERNEL_STRONG_COUNTS)
        assert after == before + 2, (before, after)
        page.wait_for_function(
            f"() => {{ const r = ({_JS_READINGS})(); return !!r && "
            f"Number(r.strongCount.replace(/,/g, '')) === {after}; }}",
            timeout=CHANGE_TIMEOUT,
        )
        page.wait_for_timeout(3000)  # a few more refreshes: still no warnings
        assert not _noise(page), _noise(page)

        # again, cell by cell, with the dashboard on screen from its cell on
        page.evaluate(_JS_RESTART)
        page.wait_for_function(_JS_READY, timeout=PAGE_TIMEOUT, polling=250)
        seen = _run_cells(page, range(len(page.evaluate(_JS_CELLS))))
        assert seen, "the notebook never showed a dashboard"
        page.wait_for_timeout(3000)
        assert not _noise(page), _noise(page)
        assert "live" in page.evaluate(_JS_READINGS)["status"]
        logged = [
            line
            for line in jupyter_lab.log_tail(2000).splitlines()
            if "Task was" in line or "never awaited" in line
        ]
        assert not logged, logged  # nor in the kernel's own stderr
        assert not page_errors, page_errors  # JupyterLab's restart noise aside
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        print(f"page at failure: {tmp_path / 'failure.png'}")
        print("JupyterLab log:\n" + jupyter_lab.log_tail())
        raise
    finally:
        context.close()
