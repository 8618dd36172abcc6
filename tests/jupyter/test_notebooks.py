"""The tutorial notebooks, binder and docs are in shape.

The notebooks themselves run under ``pytest --nbval`` (``make test``), which compares their
stored outputs with fresh ones; these tests check what nbval does not: that the stored
outputs are real and complete, small, free of machine-specific data, and that the binder
and docs configuration fit the notebooks.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = [
    "01-checksums-and-buffers.ipynb",
    "02-celltypes-and-conversions.ipynb",
    "03-buffer-cache.ipynb",
    "04-stores-and-command-line.ipynb",
]
MAX_NOTEBOOK_BYTES = 250_000


def _load(name: str) -> dict:
    return json.loads((NOTEBOOKS / name).read_text("utf-8"))


def _sanitizers() -> list[tuple[re.Pattern, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(NOTEBOOKS / "sanitize.cfg")
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def _output_texts(cell: dict) -> list[str]:
    texts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            texts.append("".join(output["text"]))
        for mime, data in output.get("data", {}).items():
            if mime.startswith("text/"):
                texts.append("".join(data) if isinstance(data, list) else data)
    return texts


def _ignored(cell: dict) -> bool:
    source = "".join(cell["source"])
    tags = cell.get("metadata", {}).get("tags", [])
    return "# NBVAL_IGNORE_OUTPUT" in source or "nbval-ignore-output" in tags


def test_the_four_tutorials_are_there():
    present = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    missing = [name for name in EXPECTED if name not in present]
    assert not missing, f"missing notebooks: {missing}"


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_was_run_top_to_bottom(name):
    if not (NOTEBOOKS / name).exists():
        pytest.skip(f"{name} not written yet")
    notebook = _load(name)
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
    first = notebook["cells"][0]
    assert first["cell_type"] == "markdown" and "".join(first["source"]).startswith("# ")
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code
    counts = [cell["execution_count"] for cell in code]
    assert counts == list(range(1, len(code) + 1)), "run the notebook again: make notebooks"
    with_output = [cell for cell in code if cell["outputs"]]
    assert len(with_output) >= len(code) // 2, "outputs were not stored"


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_outputs_are_clean(name):
    if not (NOTEBOOKS / name).exists():
        pytest.skip(f"{name} not written yet")
    assert (NOTEBOOKS / name).stat().st_size < MAX_NOTEBOOK_BYTES
    sanitizers = _sanitizers()
    for cell in _load(name)["cells"]:
        if cell["cell_type"] != "code":
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        for output in cell["outputs"]:
            if output["output_type"] == "error":
                assert "raises-exception" in tags, "".join(cell["source"])
        if _ignored(cell):
            continue
        for text in _output_texts(cell):
            for pattern, replacement in sanitizers:
                text = pattern.sub(replacement, text)
            # nothing of this machine may be compared: no home or temp paths, no timings
            assert "/tmp/" not in text and os.path.expanduser("~") + "/" not in text, text[:300]
            assert not re.search(r"\b\d+(\.\d+)? ?(ms|µs|us)\b", text), text[:300]
            assert "Traceback" not in text


def test_errors_shown_by_the_tutorials_are_one_line():
    for name in EXPECTED:
        if not (NOTEBOOKS / name).exists():
            continue
        for cell in _load(name)["cells"]:
            if "raises-exception" not in cell.get("metadata", {}).get("tags", []):
                continue
            text = "".join(_output_texts(cell))
            assert text.startswith("UsageError: ") and text.count("\n") == 1, text


def test_the_dashboard_cell_is_not_compared():
    cells = _load("03-buffer-cache.ipynb")["cells"]
    dashboard = [c for c in cells if "seamless_core.dashboard(" in "".join(c["source"])]
    assert dashboard and all(_ignored(c) for c in dashboard if c["cell_type"] == "code")


def test_sanitizers_are_valid_and_targeted():
    sanitizers = _sanitizers()
    assert sanitizers
    sample = "/tmp/seamless-tutorial-spill-ab12_cd at 127.0.0.1:54321 at 0x7f00ab"
    for pattern, replacement in sanitizers:
        sample = pattern.sub(replacement, sample)
    assert sample == "TMP/seamless-tutorial-spill-XXXX at 127.0.0.1:PORT at 0xADDRESS"


# -- binder and docs -------------------------------------------------------------------------


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_binder_pins_matching_widget_packages():
    from importlib.metadata import PackageNotFoundError, requires, version

    from packaging.requirements import Requirement

    pins = _pins()
    widgets, lab_widgets = pins["ipywidgets"], pins["jupyterlab-widgets"]
    assert widgets.split(".")[0] == "8" and lab_widgets.split(".")[0] == "3"
    try:
        installed = version("ipywidgets")
    except PackageNotFoundError:  # pragma: no cover - a dev dependency
        pytest.skip("ipywidgets not installed")
    if installed == widgets:
        wanted = [Requirement(r) for r in requires("ipywidgets") or []]
        spec = [r.specifier for r in wanted if r.name.replace("_", "-") == "jupyterlab-widgets"]
        assert spec and spec[0].contains(lab_widgets)


def test_binder_post_build_installs_the_package():
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    text = post_build.read_text()
    assert text.startswith("#!") and "pip install" in text and " ." in text


def test_docs_include_the_tutorials_and_the_compatibility_notes():
    index = (ROOT / "docs" / "index.md").read_text()
    for name in EXPECTED:
        assert f"tutorials/{name.removesuffix('.ipynb')}" in index
    assert "compatibility" in index and (ROOT / "docs" / "compatibility.md").exists()
    assert "api" in index


# -- what readers see ------------------------------------------------------------------------


def _sources(name: str, kind: str | None = None) -> list[str]:
    return [
        "".join(cell["source"])
        for cell in _load(name)["cells"]
        if kind is None or cell["cell_type"] == kind
    ]


@pytest.mark.parametrize("name", EXPECTED)
def test_no_test_machinery_in_what_readers_see(name):
    for source in _sources(name):
        assert "NBVAL" not in source, source[:200]  # tags mark cells for nbval instead
    for text in _sources(name, "markdown"):
        lowered = text.lower()
        assert "nbval" not in lowered and "notebook tests" not in lowered, text[:300]
        assert "sanitiz" not in lowered, text[:300]


@pytest.mark.parametrize("name", EXPECTED)
def test_first_open_says_what_to_do_when_untrusted(name):
    cells = _load(name)["cells"]
    assert cells[1]["cell_type"] == "markdown"
    note = " ".join("".join(cells[1]["source"]).split())
    assert "untrusted" in note and "Run All Cells" in note and "Trust Notebook" in note


@pytest.mark.parametrize("name", EXPECTED)
def test_no_machine_memory_size_in_the_saved_widget_state(name):
    state = json.dumps(_load(name).get("metadata", {}).get("widgets", {}))
    assert not re.findall(r"machine(?:'|&#x27;)s (?!\[total memory\])[0-9.]+ [KMGT]iB", state)


@pytest.mark.parametrize("name", EXPECTED)
def test_no_machine_memory_size_in_stored_outputs(name):
    # the cache views show the process's memory "of <total> total"/"on this machine": the
    # stored outputs carry the placeholder of notebooks/scrub_outputs.py, never a figure
    for cell in _load(name)["cells"]:
        for text in _output_texts(cell) if cell["cell_type"] == "code" else []:
            for shown in re.findall(r" of (\S+ \S+) (?:total|on this machine)", text):
                assert shown == "[total memory]", shown
            for shown in re.findall(r"the machine(?:'|&#x27;)s ([^,<]+)", text):
                assert shown == "[total memory]", shown
            for line in text.splitlines():
                if line.strip().startswith("process RSS"):
                    assert line.endswith(" of [total memory]"), line


def test_scrub_outputs_replaces_the_machine_memory():
    import importlib.util

    spec = importlib.util.spec_from_file_location("scrub", NOTEBOOKS / "scrub_outputs.py")
    scrub = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scrub)
    text = (
        '<span class="sc-of"> of 7.6 GiB total (1%)</span> title="... 9 MiB of 7.6 GiB on '
        'this machine."\n  process RSS 9 MiB of 7.6 GiB\n  strong 7.6 GiB in 2 buffers'
    )
    assert scrub.scrub_text(text, "7.6 GiB") == (
        '<span class="sc-of"> of [total memory] total (1%)</span> title="... 9 MiB of '
        '[total memory] on this machine."\n  process RSS 9 MiB of [total memory]\n'
        "  strong 7.6 GiB in 2 buffers"
    )


def test_the_cache_tutorial_leaves_the_dashboard_running():
    code = _sources("03-buffer-cache.ipynb", "code")
    shown = [i for i, source in enumerate(code) if "seamless_core.dashboard(" in source]
    assert shown
    after = "\n".join(code[shown[0] :])
    assert "board.close()" not in after and "cache.close()" not in after
    markdown = " ".join(" ".join(_sources("03-buffer-cache.ipynb", "markdown")).split())
    assert "`board.close()`" in markdown  # the reader learns how to stop it


def test_errors_shown_are_whole_sentences():
    for name in EXPECTED:
        for cell in _load(name)["cells"]:
            for text in _output_texts(cell) if cell["cell_type"] == "code" else []:
                for line in text.splitlines():
                    if "Error" in line or "error" in line:
                        assert not line.rstrip().endswith(("…", "...", "'...")), line


def test_tutorial_04_says_which_extra_brings_the_hashserver():
    first = "".join(_load("04-stores-and-command-line.ipynb")["cells"][0]["source"])
    assert "`dev` extra" in first and 'pip install "seamless-core[dev]"' in first
    code = "\n".join(_sources("04-stores-and-command-line.ipynb", "code"))
    assert 'needs the hashserver package: pip install "seamless-core[dev]"' in code


@pytest.mark.parametrize("name", EXPECTED)
def test_no_temporary_paths_in_stored_outputs(name):
    # the views name the spill folder; the tutorials' own temporary folders are stored as
    # the placeholder of notebooks/scrub_outputs.py
    temp = re.escape(tempfile.gettempdir())
    for cell in _load(name)["cells"]:
        for text in _output_texts(cell) if cell["cell_type"] == "code" else []:
            assert not re.search(temp + r"/seamless-", text), text[:300]


def test_scrub_outputs_replaces_temporary_folders():
    import importlib.util

    spec = importlib.util.spec_from_file_location("scrub", NOTEBOOKS / "scrub_outputs.py")
    scrub = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scrub)
    text = 'title="written to /tmp/seamless-tutorial-spill-cw_jbp9p before eviction"'
    once = scrub.scrub_text(text, "7.6 GiB")
    assert once == 'title="written to [tmp]/seamless-tutorial-spill-XXXX before eviction"'
    assert scrub.scrub_text(once, "7.6 GiB") == once  # make notebooks may scrub again
