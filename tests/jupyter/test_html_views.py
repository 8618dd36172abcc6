"""The notebook views of Checksum, Buffer, TempRef, BufferCache and the conversion matrix."""

from __future__ import annotations

import importlib.util
import re
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

from seamless_core import Buffer, Checksum, conversion_matrix
from seamless_core.cache import BufferCache, get_buffer_cache, set_buffer_cache
from seamless_core.jupyter import frame, preview
from seamless_core.jupyter import html as views
from seamless_core.jupyter.html_matrix import render_conversion_matrix

HAVE_CACHE_VIEW = importlib.util.find_spec("seamless_core.jupyter.cache_view") is not None
needs_cache_view = pytest.mark.skipif(
    not HAVE_CACHE_VIEW, reason="seamless_core.jupyter.cache_view is not there yet"
)

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "\"'><svg onload=alert(1)>",
    "javascript:alert(1)",
    "</pre></div><style>body{display:none}</style>",
    "&amp; &lt;",
]


class _Page(HTMLParser):
    """Everything the browser would see as markup: tags, attributes, and the text per tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.stack: list[tuple[str, dict]] = []
        self.text: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag not in ("br", "hr", "img", "input", "meta", "link"):
            self.stack.append((tag, attrs))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        for _tag, attrs in self.stack:
            for cls in (attrs.get("class") or "").split():
                self.text[cls] = self.text.get(cls, "") + data

    def classes(self) -> set[str]:
        return {c for _, attrs in self.tags for c in (attrs.get("class") or "").split()}


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def assert_safe(html: str) -> _Page:
    """No script, no event handler, no javascript: URL, one <style> (ours, at the start)."""
    page = parse(html)
    tags = [tag for tag, _ in page.tags]
    assert "script" not in tags and "svg" not in tags and "img" not in tags
    assert tags.count("style") == 1 and html.startswith("<style>")
    for _, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (name, value)
            assert name not in ("href", "src", "action", "formaction", "srcdoc"), (name, value)
    assert "<script" not in html.split("</style>", 1)[1].lower()
    return page


def assert_framed(html: str) -> _Page:
    """The plain-text fallback comes first, visible without CSS; the HTML is hidden inline
    and shown by the stylesheet."""
    page = assert_safe(html)
    fallback = [a for t, a in page.tags if "sc-text-fallback" in (a.get("class") or "")]
    wrap = [a for t, a in page.tags if "sc-wrap" in (a.get("class") or "").split()]
    assert len(fallback) == 1 and len(wrap) == 1
    assert "style" not in fallback[0]
    assert wrap[0]["style"] == "display:none"
    assert html.index("sc-text-fallback") < html.index("sc-wrap")
    css = html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert re.search(r"\.sc-text-fallback\s*\{\s*display:\s*none[;}]", css)
    assert re.search(r"\.sc-wrap\s*\{\s*display:\s*block !important[;}]", css)
    return page


@pytest.fixture
def cache():
    """A private process-wide cache with a clock the test moves."""
    now = [100.0]
    private = BufferCache(
        soft_cap=10_000, hard_cap=20_000, spill_folder=None, clock=lambda: now[0], background=False
    )
    private.now = now
    previous = set_buffer_cache(private)
    yield private
    set_buffer_cache(previous)
    private.close()


# -- Checksum --------------------------------------------------------------------------------


def test_checksum_view(cache):
    checksum = Checksum.of(b"data")
    html = checksum._repr_html_()
    page = assert_framed(html)
    assert checksum.hex() in page.text["sc-hex"]
    assert page.text["sc-pill"] == "not cached"
    assert page.text["sc-text-fallback"] == f"{checksum!r}\ncache: not cached"
    buffer = Buffer(b"data")
    buffer.incref()
    page = parse(checksum._repr_html_())
    assert page.text["sc-pill"] == "strong"
    assert "1 ref" in page.text["sc-wrap"]


def test_checksum_view_loads_neither_numpy_nor_the_cache(fresh_python):
    code = (
        "import sys; from seamless_core import Checksum;"
        "html = Checksum.of(b'')._repr_html_();"
        "assert 'not cached' in html;"
        "print(sorted(m for m in ('numpy', 'seamless_core.cache', 'IPython') if m in sys.modules))"
    )
    out = fresh_python(code)
    assert out.stdout.strip() == "[]"


# -- Buffer ----------------------------------------------------------------------------------


def _buffer_page(buffer: Buffer) -> _Page:
    return assert_framed(buffer._repr_html_())


def test_buffer_view_of_json(cache):
    buffer = Buffer({"temperature": [21.5, 22.0], "unit": "C"}, "plain")
    page = _buffer_page(buffer)
    assert page.text["sc-kind"] == "JSON"
    wrap = page.text["sc-wrap"]
    assert buffer.compute_checksum().hex() in wrap
    assert f"{len(buffer)} bytes" in wrap
    assert "JSON object, 2 keys" in wrap
    assert '"temperature": [' in page.text["sc-preview"]
    assert page.text["sc-pill"] == "not cached"
    assert "sc-section" in page.classes()  # a <details> section
    assert any(tag == "details" for tag, _ in page.tags)


@pytest.mark.parametrize(
    ("value", "celltype", "expected"),
    [
        (np.arange(12, dtype=">i2").reshape(3, 4), "binary", "dtype int16 (>i2), shape (3, 4)"),
        (
            np.zeros(2, dtype=[("a", "<u1"), ("b", ">f8")]),
            "binary",
            "dtype [('a', 'u1'), ('b', '>f8')]",
        ),
        (np.zeros((), dtype="complex64"), "mixed", "dtype complex64 (<c8), 0-d"),
        (np.arange(10_000, dtype="float64"), "binary", "shape (10000,)"),
    ],
)
def test_buffer_view_of_arrays(cache, value, celltype, expected):
    page = _buffer_page(Buffer(value, celltype))
    assert page.text["sc-kind"] == ".npy"
    assert expected in page.text["sc-wrap"]
    preview = page.text["sc-preview"]
    if value.size > 100:
        assert ", ..., " in preview and len(preview) < 200  # the head, summarized by NumPy


def test_buffer_view_of_a_mixed_container(cache):
    page = _buffer_page(Buffer({"x": np.arange(3), "y": [np.ones(2)], "unit": "K"}, "mixed"))
    assert page.text["sc-kind"] == "mixed container"
    assert "Seamless-mixed container, 2 arrays inside JSON" in page.text["sc-wrap"]
    assert "'unit': 'K'" in page.text["sc-preview"]


def test_buffer_view_of_text_and_code(cache):
    page = _buffer_page(Buffer("def f(x):\n    return x\n", "python"))
    assert page.text["sc-kind"] == "text"
    assert "UTF-8 text, 2 lines" in page.text["sc-wrap"]
    assert page.text["sc-preview"] == "def f(x):\n    return x\n"


def test_buffer_view_of_binary_is_a_hex_dump(cache):
    page = _buffer_page(Buffer(bytes(range(256)) * 4))
    assert page.text["sc-kind"] == "raw bytes"
    dump = page.text["sc-preview"].splitlines()
    assert len(dump) == 16
    assert dump[0].startswith("00000000  00 01 02 03")
    assert dump[4].endswith("@ABCDEFGHIJKLMNO")
    assert "first 256 of 1,024 bytes" in page.text["sc-note"]


def test_buffer_view_of_an_empty_buffer(cache):
    page = _buffer_page(Buffer(b""))
    assert page.text["sc-kind"] == "empty"
    assert "sc-preview" not in page.text


def test_buffer_preview_is_truncated(cache):
    page = _buffer_page(Buffer(list(range(5000)), "plain"))
    assert len(page.text["sc-preview"].splitlines()) == views.PREVIEW_LINES
    assert "more characters" in page.text["sc-note"]
    big = Buffer(("line of text\n" * 100_000).encode())  # beyond the parse limit
    page = _buffer_page(big)
    assert page.text["sc-kind"] == "text"
    assert f"of {len(big):,} bytes" in page.text["sc-note"]
    assert len(page.text["sc-preview"]) <= views.PREVIEW_CHARS


def test_malformed_npy_and_container_fall_back_to_binary(cache):
    for content in (b"\x93NUMPY\x01\x00garbage", b"\x94SEAMLESS-MIXED\xff\x00"):
        page = _buffer_page(Buffer(content))
        assert page.text["sc-kind"] == "raw bytes"


def test_describe_never_unpickles():
    import io

    array = np.array([{"a": 1}], dtype=object)
    stream = io.BytesIO()
    np.save(stream, array, allow_pickle=True)
    described = views.describe_content(stream.getvalue())
    assert described["kind"] == "binary"


def test_buffer_view_shows_the_cache_state(cache):
    buffer = Buffer({"a": 1}, "plain")
    buffer.get_checksum()
    page = parse(buffer._repr_html_())
    assert page.text["sc-pill"] == "weak"
    buffer.incref()
    buffer.incref()
    page = parse(buffer._repr_html_())
    assert page.text["sc-pill"] == "strong"
    assert "2 refs" in page.text["sc-wrap"]
    buffer.decref()
    buffer.decref()
    buffer.tempref(interest=8.0, fade_factor=2.0, fade_interval=1.0)
    cache.now[0] += 1.0
    page = parse(buffer._repr_html_())
    assert page.text["sc-pill"] == "strong"
    assert "tempref interest 4" in page.text["sc-wrap"]
    other = Checksum.of(b"never loaded")
    cache.incref(other)
    assert views.cache_state(other)["state"] == "referenced"


def test_buffer_view_does_not_register_the_buffer(cache):
    buffer = Buffer(b"unregistered")
    buffer._repr_html_()
    assert buffer.compute_checksum() not in cache
    assert len(cache) == 0


def test_buffer_text_fallback_says_it_all(cache):
    buffer = Buffer({"k": "v"}, "plain")
    page = parse(buffer._repr_html_())
    text = page.text["sc-text-fallback"]
    assert text.splitlines()[:3] == [
        f"Buffer: {len(buffer)} bytes, JSON object, 1 key",
        f"checksum: {buffer.compute_checksum().hex()}",
        "cache: not cached",
    ]
    assert '"k": "v"' in text


# -- TempRef ---------------------------------------------------------------------------------


def test_tempref_view(cache):
    buffer = Buffer(b"x" * 100)
    tempref = buffer.tempref(interest=16.0, fade_factor=2.0, fade_interval=1.0)
    cache.now[0] += 2.0
    page = assert_framed(tempref._repr_html_())
    assert page.text["sc-pill"] == "alive"
    wrap = page.text["sc-wrap"]
    assert "4 of 16" in wrap and "divided by 2 every 1 s" in wrap
    bar = [a for t, a in page.tags if "sc-bar-fill" in (a.get("class") or "")]
    assert bar[0]["style"] == "width:25.0%"
    assert page.text["sc-text-fallback"] == repr(tempref)
    cache.now[0] += 100.0
    page = parse(tempref._repr_html_())
    assert page.text["sc-pill"] == "expired"
    assert "time left0.0 s" in page.text["sc-wrap"].replace("\n", "")


# -- BufferCache -----------------------------------------------------------------------------


def test_cache_snapshot_has_the_largest_entries_first(cache):
    buffers = [Buffer(b"x" * n) for n in range(1, 30)]
    for buffer in buffers:
        buffer.incref()
    snapshot = views.cache_snapshot(cache)
    assert set(snapshot) == {"stats", "entries", "entry_count", "top", "process"}
    assert snapshot["stats"]["strong_count"] == 29
    assert [e["size"] for e in snapshot["entries"]] == list(range(29, 9, -1))


@needs_cache_view
def test_cache_view(cache):
    buffer = Buffer(b"y" * 500)
    buffer.incref()
    html = cache._repr_html_()
    assert html.startswith("<style>")
    assert buffer.checksum.hex()[:8] in html
    assert "<script" not in html.lower()


@needs_cache_view
def test_cache_view_and_dashboard_share_one_snapshot(cache):
    """The cache's own view shows what the dashboard shows: the process's memory and how
    many entries there are (the two used to read the cache differently)."""
    buffers = [Buffer(bytes([i]) * (100 + i)) for i in range(25)]
    for buffer in buffers:
        buffer.incref()
    page = parse(cache._repr_html_())
    wrap = page.text["sc-wrap"]
    assert "Process memory (RSS)" in wrap
    assert "Largest entries: 20 of 25, by size" in wrap
    assert "process RSS" in page.text["sc-text-fallback"]


def test_cache_view_without_the_shared_renderer_falls_back_to_text(cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "seamless_core.jupyter.cache_view", None)
    assert cache._repr_html_() is None
    assert repr(cache).startswith("<BufferCache")


# -- escaping, everywhere ------------------------------------------------------------------------


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_buffer_content_is_escaped(cache, payload):
    for buffer in (
        Buffer(payload, "text"),
        Buffer({payload: [payload]}, "plain"),
        Buffer({payload: np.arange(2)}, "mixed"),
        Buffer(payload.encode() + b"\xff\x00"),
    ):
        page = assert_framed(buffer._repr_html_())
        assert "preview" in page.text.get("sc-section", "preview")


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_snapshots_are_escaped_by_every_renderer(payload):
    state = {"state": payload, "normal_refs": 1, "tempref_interest": 0.5}
    assert_framed(views.render_checksum({"hex": payload, "repr": payload, "cache": state}))
    described = {
        "kind": payload,
        "format": payload,
        "preview": payload,
        "preview_kind": payload,
        "note": payload,
        "badge": payload,
        "items": payload,
        "collapsed": payload,
    }
    html = views.render_buffer(
        {"checksum": payload, "length": 3, "content": described, "cache": state}
    )
    page = assert_framed(html)
    assert payload in page.text["sc-preview"]  # shown as text, whole
    assert all(re.fullmatch(r"sc-[a-z0-9-]+", c) for c in page.classes())
    html = views.render_tempref(
        {
            "checksum": payload,
            "interest": 1.0,
            "initial_interest": 2.0,
            "fade_factor": 2.0,
            "fade_interval": 1.0,
            "time_left": 3.0,
            "alive": True,
            "repr": payload,
        }
    )
    assert_framed(html)
    cells = [payload, "plain"]
    entries = {(s, t): (payload, payload) for s in cells for t in cells}
    html = render_conversion_matrix(cells, entries, [(payload, payload, payload)])
    assert_framed(html)


@needs_cache_view
@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_cache_snapshot_is_escaped(payload):
    from seamless_core.jupyter.cache_view import render_cache_html

    entry = {
        "checksum": payload,
        "size": payload,
        "strong": payload,
        "in_memory": True,
        "normal_refs": payload,
        "tempref_interest": payload,
        "cost": payload,
    }
    html = render_cache_html(
        {"stats": {"soft_cap": payload, "spill_folder": payload}, "entries": [entry]}
    )
    assert_safe(html)


def test_conversion_matrix_view_has_the_text_fallback():
    html = conversion_matrix()._repr_html_()
    page = assert_framed(html)
    fallback = page.text["sc-text-fallback"].splitlines()
    assert fallback[0].startswith("Celltype conversions")
    assert "".join(fallback[2].split()) == "binary.TCCCVCCFPPPV"


# -- the stylesheet ----------------------------------------------------------------------------


def _props(block: str) -> dict[str, str]:
    return dict(re.findall(r"(--sc-[\w-]+):\s*([^;]+);", block))


DARK_HOOKS = (
    '[data-jp-theme-light="false"] .sc-view',  # JupyterLab's dark themes
    "body.vscode-dark .sc-view",  # VS Code
    "body.vscode-high-contrast:not(.vscode-high-contrast-light) .sc-view",
    'body[data-theme="dark"] .sc-view',  # furo, the documentation site
    'html[theme="dark"] .sc-view',  # Colab
)


def test_one_palette_light_and_dark_everywhere():
    rules = re.sub(r"/\*.*?\*/", "", views.stylesheet(), flags=re.S)
    light = _props(re.search(r"(?m)^\.sc-view \{([^}]*--sc-ink:[^}]*)\}", rules).group(1))
    dark_rule = re.search(r"(?m)^(\[data-jp-theme-light=\"false\"\][^{]*)\{([^}]*)\}", rules)
    selectors = [part.strip() for part in dark_rule.group(1).split(",")]
    assert selectors == list(DARK_HOOKS)
    dark = _props(dark_rule.group(2))
    assert list(light) == list(dark)  # the same properties, in the same order
    assert all(light[k] != dark[k] for k in light)
    assert "var(--jp-content-font-color1, var(--vscode-editor-foreground, #1f2328))" in (
        light.values()
    )
    # prefers-color-scheme: the same dark palette, unless the page says it is light
    media = re.search(r"@media \(prefers-color-scheme: dark\) \{\s*([^{]+)\{([^}]*)\}", rules)
    assert _props(media.group(2)) == dark
    guard = media.group(1)
    for light_marker in (
        "[data-jp-theme-light]",
        '[data-theme="light"]',
        ".vscode-light",
        ".vscode-high-contrast-light",
    ):
        assert f":not({light_marker})" in guard
    # no colour is set outside the palette: every other rule uses its properties
    outside = rules.replace(dark_rule.group(0), "").replace(media.group(0), "")
    outside = re.sub(r"(?m)^\.sc-view \{[^}]*--sc-ink:[^}]*\}", "", outside)
    assert not re.search(r"#[0-9a-fA-F]{3,6}\b", outside.split("/* object views */")[0])


def test_every_rule_is_scoped_to_the_views():
    rules = re.sub(r"/\*.*?\*/", "", views.stylesheet(), flags=re.S)
    rules = re.sub(r"@media[^{]*\{", "", rules)
    for selector in re.findall(r"([^{}]+)\{", rules):
        for part in selector.split(","):
            part = part.strip()
            if part in (".sc-text-fallback", ".sc-wrap") or part in DARK_HOOKS:
                continue
            if part.startswith("body:not("):
                assert part.endswith(" .sc-view"), part
                continue
            assert part.startswith(".sc-view"), part


def test_views_embed_their_sections_only():
    css = frame.view_css("object views")
    html = Buffer(b"abc")._repr_html_()
    assert html.startswith(f"<style>{css}</style>")
    assert "sc-matrix" not in css and "sc-entries" not in css
    assert ".sc-text-fallback{display: none}" in css


def test_every_view_class_is_styled_or_structural():
    css = views.stylesheet()
    styled = set(re.findall(r"\.(sc-[\w-]+)", css))
    buffer = Buffer({"a": 1}, "plain")
    for html in (buffer._repr_html_(), Checksum.of(b"")._repr_html_()):
        for cls in parse(html).classes():
            if cls.startswith(("sc-kind-", "sc-pill-", "sc-preview-")):
                continue  # modifiers, styled where they need to be
            if cls in ("sc-buffer", "sc-checksum", "sc-tempref"):
                continue  # names of the view, for tests and user stylesheets
            assert cls in styled, cls


def test_views_need_no_global_cache_setup():
    set_buffer_cache(None)
    html = Buffer(b"abc")._repr_html_()
    assert "not cached" in html
    assert get_buffer_cache() is not None


def test_one_byte_formatter():
    assert views.human_bytes(None) == "unknown"
    for size in (0, 1023, 1536, 5 * 1024**3, 3 * 1024**5, 123_456_789):
        assert views.human_bytes(size) == frame.format_bytes(size)
    assert views.human_bytes(1536) == "1.50 KiB"
    assert views.human_bytes(3 * 1024**5) == "3 PiB"


# -- large previews fold, narrow layouts clip with an ellipsis -------------------------------


def _details(html: str) -> list[dict]:
    return [a for t, a in parse(html).tags if t == "details"]


def test_large_previews_start_collapsed_with_their_size(cache):
    big = Buffer(b"0123456789abcde\n" * 1280)  # 20 KiB of text
    html = big._repr_html_()
    (section,) = _details(html)
    assert "open" not in section
    assert "preview (20 KiB)" in html
    wide = Buffer({f"key{i}": i for i in range(200)}, "plain")
    html = wide._repr_html_()
    (section,) = _details(html)
    assert "open" not in section
    assert f"preview (200 keys, {frame.format_bytes(len(wide))})" in html
    small = Buffer({"a": 1}, "plain")
    (section,) = _details(small._repr_html_())
    assert "open" in section


def test_checksums_end_in_an_ellipsis_where_they_do_not_fit(cache):
    css = frame.view_css("object views")
    rule = re.search(r"\.sc-view \.sc-hex\{([^}]*)\}", css).group(1)
    assert "text-overflow: ellipsis" in rule and "white-space: nowrap" in rule
    page = parse(Checksum.of(b"x")._repr_html_())
    (code,) = [a for t, a in page.tags if "sc-hex" in (a.get("class") or "")]
    assert code["title"] == Checksum.of(b"x").hex()  # the whole of it, on hover


def test_format_badges_never_reuse_celltype_names_in_another_sense():
    from seamless_core.celltypes import CELLTYPES

    assert preview.BADGES["binary"] == "raw bytes"
    assert preview.BADGES["npy"] == ".npy"
    assert preview.BADGES["mixed"] == "mixed container"
    # "text" is the text celltype's own format; no other badge is a celltype name
    assert {b for b in preview.BADGES.values() if b in CELLTYPES} <= {"text"}
