"""The notebook views on the documentation site, in a real (headless) Chromium.

The site is built as ``make docs`` builds it, with the tutorials run at build time so that
the pages show the views as this checkout renders them (the ``docs_site`` fixture). Then:

- in furo's dark mode (chosen, or automatic on a system that asks for dark), every card is
  dark and its text readable, by computed style; in light mode, every card is light;
- at 760 px wide, no card overflows its box, nothing inside a card is clipped without an
  ellipsis, the labels of a bar never overlap, and preview rows do not wrap: on the site,
  and in JupyterLab (``jupyter_lab`` fixture) with large views (a 20 KiB buffer, a 200-key
  dict, a cache with many entries), whose previews start folded with their size shown.

Screenshots (``docs-{light,dark}.png``) go to the test's temporary folder, or to the folder
that ``SEAMLESS_SCREENSHOTS`` names (``make screenshots`` keeps them in ``docs/_static``).
Run alone with ``pytest -m browser``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

PAGE_TIMEOUT = 60_000  # milliseconds
# The tutorials whose pages show views, and the page the screenshots are taken of.
PAGES = (
    "tutorials/01-checksums-and-buffers.html",
    "tutorials/02-celltypes-and-conversions.html",
    "tutorials/03-buffer-cache.html",
)
SHOT_PAGE = "tutorials/03-buffer-cache.html"

# Every card of the page, with the colours that matter for reading it.
_JS_CARDS = """() => Array.from(document.querySelectorAll('.sc-view .sc-card, .sc-view .sc-matrix'))
  .map(card => {
    const style = getComputedStyle(card);
    const ink = card.querySelector('.sc-title, .sc-cache-title, .sc-matrix-caption') || card;
    return {
      classes: card.className,
      background: style.backgroundColor,
      ink: getComputedStyle(ink).color,
    };
  })"""

_JS_PAGE = """() => ({
  theme: document.body.dataset.theme,
  background: getComputedStyle(document.body).backgroundColor,
})"""

# What does not fit at this width: cards wider than their content box, anything inside a
# card whose content is cut off without an ellipsis (scroll boxes are fine: nothing is
# lost), the label and value of a bar on top of each other, preview rows that wrap.
_JS_LAYOUT = """() => {
  const problems = [];
  const name = (el) => el.tagName.toLowerCase() + '.' + String(el.className).split(' ').join('.');
  const cards = Array.from(document.querySelectorAll('.sc-view .sc-card, .sc-view .sc-matrix'));
  for (const card of cards) {
    // The conversion matrix is a grid of fixed cells: where it is wider than the output
    // (JupyterLab with its sidebar open at 760 px), it scrolls, and nothing is cut.
    const scrolls = card.matches('.sc-matrix') && getComputedStyle(card).overflowX === 'auto';
    if (!scrolls && card.scrollWidth > card.clientWidth + 1)
      problems.push(`card ${name(card)}: ${card.scrollWidth} > ${card.clientWidth} px`);
    const box = card.parentElement.getBoundingClientRect();
    const own = card.getBoundingClientRect();
    if (own.right > box.right + 1)
      problems.push(`card ${name(card)} ends at ${own.right}, its box at ${box.right}`);
    for (const el of card.querySelectorAll('*')) {
      if (!el.clientWidth || el.scrollWidth <= el.clientWidth + 1) continue;
      const style = getComputedStyle(el);
      if (['auto', 'scroll'].includes(style.overflowX)) continue;
      if (style.textOverflow === 'ellipsis' && style.overflowX === 'hidden') continue;
      problems.push(`${name(el)}: ${el.scrollWidth} > ${el.clientWidth} px, cut without an ellipsis`);
    }
    for (const head of card.querySelectorAll('.sc-meter-head, .sc-axis, .sc-header')) {
      const parts = Array.from(head.children).map(child => child.getBoundingClientRect());
      for (let i = 0; i < parts.length; i++)
        for (let j = i + 1; j < parts.length; j++) {
          const a = parts[i], b = parts[j];
          if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1)
            problems.push(`${name(head)}: parts ${i} and ${j} overlap`);
        }
    }
    for (const pre of card.querySelectorAll('.sc-preview')) {
      if (getComputedStyle(pre).whiteSpace !== 'pre') problems.push(`${name(pre)} wraps its rows`);
    }
  }
  return {cards: cards.length, problems};
}"""


def _rgb(css: str) -> tuple[float, ...]:
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


def _open(browser, docs_site: Path, page_name: str, *, theme: str, scheme: str, width: int):
    """A page of the site in furo's ``theme`` (light, dark or auto) on a system that
    prefers ``scheme``."""
    context = browser.new_context(
        viewport={"width": width, "height": 1000}, color_scheme=scheme, device_scale_factor=1
    )
    # furo keeps the reader's choice in localStorage and applies it before the page paints
    context.add_init_script(f"localStorage.setItem('theme', {theme!r})")
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT)
    page.goto((docs_site / page_name).as_uri(), wait_until="load")
    return context, page


@pytest.mark.parametrize(
    ("theme", "scheme", "dark"),
    [
        ("dark", "light", True),  # chosen on the site
        ("auto", "dark", True),  # furo's automatic mode, the system asks for dark
        ("light", "dark", False),  # chosen light on a dark system
        ("auto", "light", False),
    ],
)
def test_docs_cards_follow_the_site_theme(browser, docs_site, tmp_path, theme, scheme, dark):
    context, page = _open(browser, docs_site, SHOT_PAGE, theme=theme, scheme=scheme, width=1100)
    try:
        site = page.evaluate(_JS_PAGE)
        assert site["theme"] == theme, site
        assert (_luminance(site["background"]) < 0.2) == dark, site  # furo's own page
        cards = page.evaluate(_JS_CARDS)
        assert {c["classes"] for c in cards} >= {
            "sc-card sc-buffer",
            "sc-card sc-tempref",
            "sc-card sc-cache",
        }, cards
        for card in cards:
            background = card["background"]
            assert (_luminance(background) < 0.2) == dark, card
            assert _contrast(card["ink"], background) >= 7, card
        if theme != "auto":
            folder = Path(os.environ.get("SEAMLESS_SCREENSHOTS") or tmp_path)
            folder.mkdir(parents=True, exist_ok=True)
            cache_card = page.locator(".sc-view .sc-cache").first
            cache_card.scroll_into_view_if_needed()
            cache_card.screenshot(path=str(folder / f"docs-{theme}.png"))
    finally:
        context.close()


@pytest.mark.parametrize("page_name", PAGES)
def test_docs_views_fit_at_760_px(browser, docs_site, page_name):
    context, page = _open(browser, docs_site, page_name, theme="light", scheme="light", width=760)
    try:
        layout = page.evaluate(_JS_LAYOUT)
        assert layout["cards"] > 0, f"no views on {page_name}"
        assert not layout["problems"], layout["problems"]
    finally:
        context.close()


# -- JupyterLab at 760 px -----------------------------------------------------------------------

LARGE_VIEWS = [
    "import seamless_core\n"
    "from seamless_core import Buffer, conversion_matrix\n"
    "from seamless_core.cache import BufferCache, set_buffer_cache\n"
    "cache = BufferCache(soft_cap=64 * 1024, hard_cap=256 * 1024, spill_folder=None,\n"
    "                    background=False)\n"
    "set_buffer_cache(cache)\n"
    "big = Buffer(bytes(range(256)) * 80)  # 20 KiB of raw bytes\n"
    "big",
    'wide = Buffer({f"a rather long key number {i}": i for i in range(200)}, "plain")\nwide',
    "keep = [Buffer(bytes([i]) * (1000 + 37 * i)) for i in range(30)]\n"
    "for b in keep:\n"
    "    b.incref()\n"
    "keep[0].tempref(interest=3.5)\n"
    "keep[0].checksum",
    "cache",
    "conversion_matrix()",
]

_JS_NOTEBOOK_READY = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.sessionContext || !panel.context || !panel.context.isReady) return false;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected';
}"""

_JS_RUN_ALL = """async () => {
  await window.jupyterapp.commands.execute('notebook:run-all-cells');
  return true;
}"""

_JS_OUTPUTS = """() => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  return notebook.widgets.map(cell => {
    const outputs = cell.model.outputs.toJSON();
    return outputs.map(o => o.output_type === 'error' ? 'error: ' + o.evalue : o.output_type);
  });
}"""

_JS_FOLDED = """() => Array.from(document.querySelectorAll('.sc-view details'))
  .map(d => ({open: d.open, summary: d.querySelector('summary').textContent}))"""


def _write_notebook(jupyter_lab, name: str, sources: list[str]) -> str:
    cells = [
        {"cell_type": "code", "source": src, "metadata": {}, "outputs": [], "execution_count": None}
        for src in sources
    ]
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (jupyter_lab.root / name).write_text(json.dumps(notebook), "utf-8")
    return name


def test_jupyterlab_views_fit_at_760_px(browser, jupyter_lab):
    name = _write_notebook(jupyter_lab, "views-at-760.ipynb", LARGE_VIEWS)
    context = browser.new_context(viewport={"width": 760, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT * 3)
    try:
        page.goto(jupyter_lab.url(f"lab/tree/{name}"), wait_until="domcontentloaded")
        page.wait_for_function(_JS_NOTEBOOK_READY, polling=250)
        page.evaluate(_JS_RUN_ALL)
        page.wait_for_function(
            f"() => ({_JS_OUTPUTS})().every(outputs => outputs.length > 0)", polling=250
        )
        page.wait_for_function(_JS_NOTEBOOK_READY, polling=250)
        outputs = page.evaluate(_JS_OUTPUTS)
        assert not [o for cell in outputs for o in cell if o.startswith("error")], outputs
        page.wait_for_function(
            "() => document.querySelectorAll('.sc-view .sc-card, .sc-view .sc-matrix').length >= 5"
        )
        layout = page.evaluate(_JS_LAYOUT)
        assert not layout["problems"], layout["problems"]
        folded = page.evaluate(_JS_FOLDED)
        previews = [d for d in folded if d["summary"].startswith("preview")]
        assert {"open": False, "summary": "preview (20 KiB)"} in previews, folded
        assert any(
            not d["open"] and d["summary"].startswith("preview (200 keys, ") for d in previews
        ), folded
        assert {"open": False, "summary": "Largest entries: 20 of 30, by size"} in folded, folded
        # unfolded, the largest entries still fit
        page.evaluate(
            "() => document.querySelectorAll('.sc-view details').forEach(d => d.open = true)"
        )
        layout = page.evaluate(_JS_LAYOUT)
        assert not layout["problems"], layout["problems"]
    finally:
        context.close()
