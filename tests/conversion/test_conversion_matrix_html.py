"""The HTML view of the conversion matrix and its stylesheet."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from seamless_core.celltypes import CELLTYPES
from seamless_core.conversion import CATEGORIES, conversion_category, conversion_matrix
from seamless_core.jupyter.html_matrix import matrix_css, render_conversion_matrix, stylesheet


class _Collector(HTMLParser):
    """Collects the table cells, row headers and legend entries of the rendered matrix."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[dict]] = []
        self.row_headers: list[str] = []
        self.legend: list[str] = []
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []
        self._text_target: tuple[str, dict] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes.extend(attrs)
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "tr":
            self.rows.append([])
        elif tag == "td" and "sc-cell" in classes:
            cell = {"classes": classes, "title": attrs.get("title"), "text": ""}
            self.rows[-1].append(cell)
            self._text_target = ("cell", cell)
        elif tag == "th" and "sc-matrix-row" in classes:
            self._text_target = ("row", {})
        elif tag == "span" and "sc-legend-name" in classes:
            self._text_target = ("legend", {})

    def handle_endtag(self, tag):
        if tag in ("td", "th", "span"):
            self._text_target = None

    def handle_data(self, data):
        if self._text_target is None:
            return
        kind, cell = self._text_target
        if kind == "cell":
            cell["text"] += data
        elif kind == "row":
            self.row_headers.append(data)
        else:
            self.legend.append(data)


def _parsed(html: str) -> _Collector:
    collector = _Collector()
    collector.feed(html)
    collector.close()
    return collector


HTML = conversion_matrix()._repr_html_()


def test_grid_has_169_cells_and_a_marked_diagonal():
    parsed = _parsed(HTML)
    cells = [row for row in parsed.rows if row]
    assert len(cells) == 13 and all(len(row) == 13 for row in cells)
    assert parsed.row_headers == list(CELLTYPES)
    assert HTML.count('class="sc-cell ') == 169
    for i, source in enumerate(CELLTYPES):
        for j, target in enumerate(CELLTYPES):
            cell = cells[i][j]
            category = conversion_category(source, target)
            assert f"sc-cat-{category}" in cell["classes"]
            assert cell["title"].startswith(f"{source} \u2192 {target}: {category}")
            if i == j:
                assert category == "identity"


def test_tooltips_name_the_mapping():
    cells = [row for row in _parsed(HTML).rows if row]
    index = {name: i for i, name in enumerate(CELLTYPES)}
    equivalent = cells[index["ipython"]][index["mixed"]]["title"]
    assert equivalent == "ipython \u2192 mixed: equivalent (done as text \u2192 str)"
    chain = cells[index["mixed"]][index["text"]]["title"]
    assert chain == "mixed \u2192 text: chain (via plain)"


def test_legend_has_every_category():
    parsed = _parsed(HTML)
    assert parsed.legend == list(CATEGORIES)
    for category in CATEGORIES:
        assert f'sc-swatch sc-cat-{category}"' in HTML


def test_no_javascript():
    parsed = _parsed(HTML)
    assert "<script" not in HTML.lower()
    assert "script" not in parsed.tags
    assert not [name for name, _ in parsed.attributes if name.startswith("on")]
    assert "javascript:" not in HTML.lower()


def test_stylesheet_is_embedded_once():
    assert HTML.startswith("<style>")
    assert HTML.count("<style>") == 1
    assert HTML.startswith(f"<style>{matrix_css()}</style>")
    assert ".sc-cat-trivial" in matrix_css() and "sc-entries" not in matrix_css()
    assert stylesheet() is stylesheet()  # read once


def test_everything_is_escaped():
    hostile = ['<b>"x"</b>', "a&b", "<script>alert(1)</script>"]
    entries = {
        (s, t): ("<i>cat</i>" if s != t else "identity", "note <u>&</u>" if s != t else None)
        for s in hostile
        for t in hostile
    }
    legend = [("identity", "<", "same"), ("<i>cat</i>", "&", 'quote " and <tag>')]
    html = render_conversion_matrix(hostile, entries, legend)
    body = html.split("</style>", 1)[1]
    assert "<b>" not in body and "<i>" not in body and "<u>" not in body and "<tag>" not in body
    assert "<script" not in body
    assert "&lt;b&gt;&quot;x&quot;&lt;/b&gt;" in body
    assert "a&amp;b" in body
    assert "note &lt;u&gt;&amp;&lt;/u&gt;" in body
    parsed = _parsed(html)
    cells = [row for row in parsed.rows if row]
    assert cells[0][1]["title"] == '<b>"x"</b> \u2192 a&b: <i>cat</i> (note <u>&</u>)'
    assert parsed.row_headers == hostile
    # class names stay plain tokens whatever the category is called
    for row in cells:
        for cell in row:
            assert all(re.fullmatch(r"[a-z0-9-]+", name) for name in cell["classes"])


# -- the stylesheet ------------------------------------------------------------------------------

CSS = stylesheet()
RULES = re.sub(r"/\*.*?\*/", "", CSS, flags=re.S)  # without comments


def _conversion_section(css: str) -> str:
    start = css.index("/* conversion matrix */")
    following = css.find("/* ", start + 1)
    return css[start:] if following == -1 else css[start:following]


def test_css_has_a_conversion_matrix_section():
    section = _conversion_section(CSS)
    for category in CATEGORIES:
        assert f".sc-cat-{category}" in section


def test_css_classes_are_prefixed():
    selectors = re.findall(r"([^{}]+)\{", RULES)
    classes = {
        name for selector in selectors for name in re.findall(r"\.(-?[A-Za-z_][\w-]*)", selector)
    }
    assert classes
    # VS Code's theme classes on <body> are the only others: they select the dark palette
    theirs = {"vscode-dark", "vscode-light", "vscode-high-contrast", "vscode-high-contrast-light"}
    assert all(name.startswith("sc-") for name in classes - theirs), classes


def test_css_uses_jupyterlab_variables_with_light_fallbacks():
    uses = re.findall(r"var\(\s*(--jp-[\w-]+)\s*(,)?", CSS)
    assert uses
    assert all(comma for _, comma in uses), [name for name, comma in uses if not comma]
    # JupyterLab's variable, then VS Code's, then a light colour for everything else
    assert "var(--jp-layout-color0, var(--vscode-editor-background, #ffffff))" in CSS


def test_css_has_dark_theme_overrides():
    blocks = re.findall(r'\[data-jp-theme-light="false"\][^{]*\{([^}]*)\}', RULES)
    assert blocks
    dark = " ".join(blocks)
    light = RULES.split('[data-jp-theme-light="false"]', 1)[0]
    for category in CATEGORIES:
        light_colour = re.search(rf"--sc-cat-{category}:\s*(#[0-9a-f]+)", light).group(1)
        dark_colour = re.search(rf"--sc-cat-{category}:\s*(#[0-9a-f]+)", dark).group(1)
        assert light_colour != dark_colour


def test_one_colour_per_category():
    light = RULES.split('[data-jp-theme-light="false"]', 1)[0]
    colours = [re.search(rf"--sc-cat-{c}:\s*(#[0-9a-f]+)", light).group(1) for c in CATEGORIES]
    assert len(set(colours)) == len(CATEGORIES)
