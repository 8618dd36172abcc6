"""The cache dashboard in a real JupyterLab, in a real (headless) Chromium.

Opens the cache tutorial, ``notebooks/03-buffer-cache.ipynb``, runs it cell by cell and
checks from the rendered page that the dashboard's bars and numbers are there and follow
the cache as later cells add buffers (the refresh comes from the kernel's event loop: no
cell refreshes it). Then, in the dark theme, it runs the notebook again up to its most
telling moment, adds buffers from a cell of its own, and clicks the buttons. In both
themes it checks the contrast of the text and takes a screenshot,
``dashboard-{light,dark}.png``: in the test's temporary folder, or in the folder that
``SEAMLESS_SCREENSHOTS`` names (``make screenshots`` refreshes the documentation's pictures
in ``docs/_static`` that way; a plain test run leaves the working tree as it was).

Run alone with ``pytest -m browser``.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "03-buffer-cache.ipynb"

PAGE_TIMEOUT = 120_000  # milliseconds
CELL_TIMEOUT = 180_000
CHANGE_TIMEOUT = 60_000

# Run after the notebook's own cells: adds buffers to the cache of every live dashboard,
# from random bytes so that they are new to the cache. Nothing in it refreshes a dashboard.
ADD_BUFFERS_CELL = """\
import os as _os
from seamless_core import Buffer as _Buffer
from seamless_core.jupyter.dashboard import live_dashboards as _live
_caches = {id(d.cache): d.cache for d in _live() if d.cache is not None}
_browser_test_buffers = [_Buffer(_os.urandom(20 * 1024)) for _ in range(3)]
for _cache in _caches.values():
    for _b in _browser_test_buffers:
        _cache.incref_buffer(_b)
print(f"added {len(_browser_test_buffers)} buffers to {len(_caches)} cache(s)")
"""


@pytest.fixture(scope="module")
def notebook_path(jupyter_lab) -> str:
    """The tutorial notebooks, copied into the server's root; the cache tutorial's path."""
    if not NOTEBOOK.exists():
        pytest.fail(f"the cache tutorial {NOTEBOOK} is missing", pytrace=False)
    shutil.copytree(NOTEBOOK.parent, jupyter_lab.root / "notebooks", dirs_exist_ok=True)
    return f"notebooks/{NOTEBOOK.name}"


# -- JavaScript run in the page (the server exposes the app as window.jupyterapp) --------------

_JS_READY = """() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.sessionContext || !panel.content || !panel.context.isReady) return false;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected';
}"""

_JS_CELLS = """() => window.jupyterapp.shell.currentWidget.content.widgets.map(
  cell => cell.model.type)"""

# Runs one cell through JupyterLab's own command, as a user would; resolves once the kernel
# has replied. Returns 'ok', 'widget' (ok, and the cell displayed a widget) or the problem.
_JS_RUN_CELL = """async ([index, timeout]) => {
  const app = window.jupyterapp;
  const notebook = app.shell.currentWidget.content;
  notebook.activeCellIndex = index;
  const cell = notebook.widgets[index];
  const run = app.commands.execute('notebook:run-cell').then(() => 'ran');
  const timer = new Promise(resolve => setTimeout(() => resolve('timeout'), timeout));
  if (await Promise.race([run, timer]) === 'timeout')
    return 'timeout after ' + timeout + ' ms: ' + cell.model.sharedModel.getSource();
  let widget = false;
  for (const output of cell.model.outputs.toJSON()) {
    if (output.output_type === 'error')
      return 'error: ' + output.ename + ': ' + output.evalue + '\\nin cell ' + index + ':\\n' +
        cell.model.sharedModel.getSource();
    if (output.data && output.data['application/vnd.jupyter.widget-view+json']) widget = true;
  }
  return widget ? 'widget' : 'ok';
}"""

_JS_ADD_CELL = """(source) => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  const index = notebook.activeCellIndex + 1;
  notebook.model.sharedModel.insertCell(index, {cell_type: 'code', source: source});
  return index;
}"""

_JS_STDOUT = """(index) => window.jupyterapp.shell.currentWidget.content.widgets[index].model
  .outputs.toJSON().filter(output => output.name === 'stdout').map(output => output.text).join('')"""

_JS_CLEAR_OUTPUT = """(index) => {
  window.jupyterapp.shell.currentWidget.content.widgets[index].model.outputs.clear();
}"""

# Asks the kernel how many views the front end reports, and how often the dashboard
# refreshed in 2.5 s. Top-level await: the kernel's loop keeps running meanwhile.
COUNT_REFRESHES_CELL = """\
import asyncio as _asyncio
from seamless_core.jupyter.dashboard import live_dashboards as _live
(_d,) = _live()
_before = _d.refresh_count
await _asyncio.sleep(2.5)
print(_d._view_count, _d.refresh_count - _before)
"""

# Evaluates a Python expression in the kernel, silently (no cell, no output, no execution
# count): its repr, or 'error: ...'.
_JS_KERNEL_EVAL = """async (expression) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({
    code: '', silent: true, store_history: false, user_expressions: {value: expression},
  });
  const reply = await future.done;
  const value = reply.content.user_expressions.value;
  return value.status === 'ok' ? value.data['text/plain'] : 'error: ' + value.ename;
}"""


def _of_live_dashboards(expression: str) -> str:
    """A kernel expression: the list of ``expression`` (of ``d``) for each live dashboard."""
    module = "__import__('seamless_core.jupyter.dashboard', fromlist=['live_dashboards'])"
    return f"[{expression} for d in {module}.live_dashboards() if d.cache is not None]"


# What the cache of each live dashboard holds now, as the kernel sees it.
_KERNEL_STRONG_COUNTS = _of_live_dashboards("d.cache.stats()['strong_count']")
# How many views of each live dashboard the front end has reported to the kernel.
_KERNEL_VIEW_COUNTS = _of_live_dashboards("d._view_count")

_JS_RESTART = """async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  await panel.sessionContext.restartKernel();
  await window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs');
  return true;
}"""

_JS_READINGS = """() => {
  const dash = document.querySelector('.sc-dashboard');
  if (!dash || !dash.querySelector('.sc-cache')) return null;
  const text = (selector) => {
    const node = dash.querySelector(selector);
    return node ? node.textContent.trim() : null;
  };
  const fill = dash.querySelector('.sc-meter-strong .sc-fill');
  return {
    strongBytes: text('.sc-strong-bytes'),
    strongCount: text('.sc-stat[data-stat="strong"] .sc-stat-value'),
    evictions: text('.sc-stat[data-stat="evictions"] .sc-stat-value'),
    state: text('.sc-state'),
    fill: fill ? parseFloat(fill.style.width) : null,
    level: fill ? fill.className : null,
    caps: Array.from(dash.querySelectorAll('.sc-meter-strong .sc-axis-tick'))
      .map(node => node.textContent.trim()),
    meters: Array.from(dash.querySelectorAll('.sc-meter'))
      .map(node => node.className.replace('sc-meter ', '')),
    rows: dash.querySelectorAll('table.sc-entries tbody tr').length,
    buttons: Array.from(dash.querySelectorAll('.widget-button'))
      .map(node => node.textContent.trim()),
    status: text('.sc-dashboard-status') || '',
  };
}"""

# Colours that matter for reading, as the browser computed them.
_JS_COLOURS = """() => {
  const dash = document.querySelector('.sc-dashboard .sc-cache');
  const style = (selector) => {
    const node = dash.matches(selector) ? dash : dash.querySelector(selector);
    return node ? getComputedStyle(node) : null;
  };
  return {
    background: style('.sc-cache').backgroundColor,
    ink: style('.sc-stat-value').color,
    card: style('.sc-stat').backgroundColor,
    muted: style('.sc-meter-label').color,
    cell: style('table.sc-entries td').color,
    track: style('.sc-meter-strong .sc-track').backgroundColor,
    fill: style('.sc-meter-strong .sc-fill').backgroundColor,
    status: getComputedStyle(document.querySelector('.sc-dashboard-status')).color,
    notebook: getComputedStyle(document.querySelector('.jp-Notebook')).backgroundColor,
    themeLight: document.body.dataset.jpThemeLight,
  };
}"""


def _rgb(css: str) -> tuple[float, float, float]:
    numbers = [float(n) for n in re.findall(r"[\d.]+", css)[:3]]
    assert len(numbers) == 3, css
    return tuple(numbers)


def _luminance(css: str) -> float:
    def channel(value: float) -> float:
        value /= 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in _rgb(css))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(foreground: str, background: str) -> float:
    a, b = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def _check_readable(page, light: bool) -> None:
    """WCAG contrast of the dashboard's text, in the theme the page shows."""
    colours = page.evaluate(_JS_COLOURS)
    assert colours["themeLight"] == ("true" if light else "false"), colours
    background = colours["background"]
    if background in ("transparent", "rgba(0, 0, 0, 0)"):
        background = colours["notebook"]
    assert (_luminance(background) > 0.5) == light, colours
    assert _contrast(colours["ink"], background) >= 7, colours
    assert _contrast(colours["ink"], colours["card"]) >= 7, colours
    assert _contrast(colours["cell"], background) >= 7, colours
    assert _contrast(colours["muted"], background) >= 4.5, colours
    assert _contrast(colours["status"], colours["notebook"]) >= 4.5, colours
    assert _contrast(colours["fill"], colours["track"]) >= 1.5, colours


def _dashboard_clip(page) -> dict:
    dash = page.locator(".sc-dashboard").first
    dash.scroll_into_view_if_needed()
    box = dash.bounding_box()
    margin = 8
    return {
        "x": max(0, box["x"] - margin),
        "y": max(0, box["y"] - margin),
        "width": box["width"] + 2 * margin,
        "height": box["height"] + 2 * margin,
    }


def _settle(page) -> dict | None:
    """Wait until the dashboard shows what its cache holds now (its own refresh brings it:
    however late that comes on a loaded machine), and for the bars' transitions; then read it."""
    readings = page.evaluate(_JS_READINGS)
    if readings is None:
        return None
    counts = _kernel_value(page, _KERNEL_STRONG_COUNTS)
    if len(counts) == 1:  # the dashboard on the page
        _wait_for(page, f"Number(r.strongCount.replace(/,/g, '')) === {counts[0]}")
    else:  # closed (or several): no kernel value to wait for; give a refresh its time
        match = re.search(r"every ([\d.]+) s", readings["status"])
        interval = float(match.group(1)) if match else 1.0
        page.wait_for_timeout(int(1000 * min(interval * 1.3, 10.0)))
    page.wait_for_timeout(500)  # the bars' transitions (0.3 s), for the screenshots
    return page.evaluate(_JS_READINGS)


def _kernel_value(page, expression: str):
    answer = page.evaluate(_JS_KERNEL_EVAL, expression)
    assert not answer.startswith("error"), answer
    return ast.literal_eval(answer)


def _wait_for_kernel(page, expression: str, value) -> None:
    """Wait until the kernel evaluates ``expression`` to ``value`` (bounded)."""
    deadline = time.monotonic() + CHANGE_TIMEOUT / 1000
    while (seen := _kernel_value(page, expression)) != value:
        assert time.monotonic() < deadline, f"{expression} is {seen!r}, not {value!r}"
        page.wait_for_timeout(100)


def _run_cells(page, indices, on_dashboard=None) -> list[tuple[int, dict]]:
    """Run the code cells among ``indices``; after each, with a dashboard on the page,
    record its readings (and call ``on_dashboard(index, readings)``)."""
    kinds = page.evaluate(_JS_CELLS)
    seen = []
    for index in indices:
        if kinds[index] != "code":
            continue
        outcome = page.evaluate(_JS_RUN_CELL, [index, CELL_TIMEOUT])
        assert outcome in ("ok", "widget"), f"the notebook failed: {outcome}"
        if outcome == "widget" and page.evaluate(_JS_READINGS) is None:
            # a widget was displayed: give its view time to render
            try:
                page.wait_for_function(f"() => !!({_JS_READINGS})()", timeout=PAGE_TIMEOUT)
            except Exception:
                pass  # some other widget
        readings = _settle(page)
        if readings is not None:
            seen.append((index, readings))
            if on_dashboard is not None:
                on_dashboard(index, readings)
    return seen


def _count(readings: dict) -> int:
    return int(readings["strongCount"].replace(",", ""))


def _run_new_cell(page, source: str) -> str:
    """Add a cell after the active one, run it, return what it printed."""
    index = page.evaluate(_JS_ADD_CELL, source)
    outcome = page.evaluate(_JS_RUN_CELL, [index, CELL_TIMEOUT])
    assert outcome == "ok", outcome
    return page.evaluate(_JS_STDOUT, index)


def _wait_for(page, condition: str) -> None:
    page.wait_for_function(
        f"() => {{ const r = ({_JS_READINGS})(); return !!r && ({condition}); }}",
        timeout=CHANGE_TIMEOUT,
    )


def test_dashboard_in_jupyterlab(browser, jupyter_lab, notebook_path, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 1100}, device_scale_factor=1.5)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT)
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        page.goto(jupyter_lab.url(f"lab/tree/{notebook_path}"), wait_until="domcontentloaded")
        page.wait_for_function(_JS_READY, timeout=PAGE_TIMEOUT, polling=250)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
        cells = len(page.evaluate(_JS_CELLS))

        # light theme: the whole notebook, cell by cell
        shots: dict[int, bytes] = {}

        def light_step(index: int, readings: dict) -> None:
            _check_readable(page, light=True)
            shots[index] = page.screenshot(clip=_dashboard_clip(page))

        seen = _run_cells(page, range(cells), light_step)
        assert seen, "the notebook never showed a dashboard"
        first = seen[0][1]
        assert first["meters"][:3] == ["sc-meter-strong", "sc-meter-weak", "sc-meter-process"]
        assert re.fullmatch(r"\d+(\.\d+)? (B|KiB|MiB|GiB|TiB)", first["strongBytes"]), first
        assert re.fullmatch(r"[\d,]+", first["strongCount"]), first
        assert any(cap.startswith("hard cap ") for cap in first["caps"]), first
        assert 0 <= first["fill"] <= 100, first
        assert first["buttons"] == ["Evict now", "Pause", "Refresh"], first
        assert "live" in first["status"], first
        # the dashboard followed the cache as the cells went on
        changes = [
            (a, b)
            for (_, a), (_, b) in zip(seen, seen[1:])
            if (a["strongCount"], a["strongBytes"]) != (b["strongCount"], b["strongBytes"])
        ]
        assert changes, f"the dashboard never changed: {seen}"
        grew = [(a, b) for a, b in changes if _count(b) > _count(a)]
        assert grew, f"no cell made the strong tier grow on screen: {changes}"
        a, b = grew[0]
        assert b["fill"] > a["fill"], (a, b)

        # the most telling moment: most strong buffers, latest first
        best, best_readings = max(seen, key=lambda item: (_count(item[1]), item[0]))
        screenshots = Path(os.environ.get("SEAMLESS_SCREENSHOTS") or tmp_path)
        screenshots.mkdir(parents=True, exist_ok=True)
        (screenshots / "dashboard-light.png").write_bytes(shots[best])

        # dark theme: again, up to that moment
        page.evaluate(
            "() => window.jupyterapp.commands.execute("
            "'apputils:change-theme', {theme: 'JupyterLab Dark'})"
        )
        page.wait_for_function(
            "() => document.body.dataset.jpThemeLight === 'false'", timeout=PAGE_TIMEOUT
        )
        page.evaluate(_JS_RESTART)
        page.wait_for_function(_JS_READY, timeout=PAGE_TIMEOUT, polling=250)
        again = _run_cells(page, range(best + 1))
        assert again and again[-1][0] == best
        readings = again[-1][1]
        assert readings["strongCount"] == best_readings["strongCount"], (readings, best_readings)
        _check_readable(page, light=False)
        (screenshots / "dashboard-dark.png").write_bytes(
            page.screenshot(clip=_dashboard_clip(page))
        )

        # a cell of ours adds buffers: the dashboard follows by itself
        before = page.evaluate(_JS_READINGS)
        assert "added 3 buffers to 1 cache(s)" in _run_new_cell(page, ADD_BUFFERS_CELL)
        _wait_for(
            page,
            f"r.strongCount !== {before['strongCount']!r} || r.evictions !== "
            f"{before['evictions']!r}",
        )
        after = page.evaluate(_JS_READINGS)
        assert (after["strongBytes"], after["evictions"]) != (
            before["strongBytes"],
            before["evictions"],
        ), (before, after)

        # the buttons talk to the kernel
        dash = page.locator(".sc-dashboard").first
        dash.locator(".widget-button", has_text="Pause").click()
        _wait_for(page, "r.status.includes('paused') && r.buttons.includes('Resume')")
        dash.locator(".widget-button", has_text="Resume").click()
        _wait_for(page, "r.status.includes('live') && r.buttons.includes('Pause')")
        dash.locator(".widget-button", has_text="Evict now").click()
        _wait_for(page, "/evict/.test(r.status)")

        # refreshes only while shown: the front end reports its views to the kernel
        views, refreshes = map(int, _run_new_cell(page, COUNT_REFRESHES_CELL).split())
        assert views == 1 and refreshes >= 1, (views, refreshes)
        page.evaluate(_JS_CLEAR_OUTPUT, seen[0][0])  # the cell that showed the dashboard
        page.wait_for_function(f"() => !({_JS_READINGS})()", timeout=CHANGE_TIMEOUT)
        # the front end tells the kernel in a message of its own, which may come later
        _wait_for_kernel(page, _KERNEL_VIEW_COUNTS, [0])
        views, refreshes = map(int, _run_new_cell(page, COUNT_REFRESHES_CELL).split())
        assert (views, refreshes) == (0, 0), (views, refreshes)
        assert not page_errors, page_errors
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        print(f"page at failure: {tmp_path / 'failure.png'}")
        print("JupyterLab log:\n" + jupyter_lab.log_tail())
        raise
    finally:
        context.close()
