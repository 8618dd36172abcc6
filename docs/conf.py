"""Sphinx configuration: the seamless-core site (``make docs``).

The tutorial notebooks are rendered from their stored outputs (nothing is executed at build
time); they are copied from ``notebooks/`` into ``docs/tutorials/`` on every build.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import seamless_core

HERE = Path(__file__).parent
NOTEBOOKS = HERE.parent / "notebooks"
TUTORIALS = HERE / "tutorials"


def _copy_notebooks() -> None:
    TUTORIALS.mkdir(exist_ok=True)
    wanted = {path.name for path in NOTEBOOKS.glob("*.ipynb")}
    for stale in TUTORIALS.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink()
    for name in sorted(wanted):
        source, target = NOTEBOOKS / name, TUTORIALS / name
        if not target.exists() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)


_copy_notebooks()

project = "seamless-core"
author = "the Seamless developers"
copyright = "the Seamless developers"
release = seamless_core.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]

# notebooks: stored outputs only
nb_execution_mode = "off"
nb_merge_streams = True
# Widgets render from their static HTML snapshot: the site loads no JavaScript from elsewhere.
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
nb_ipywidgets_js = {}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# API reference from the docstrings
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "furo"
html_title = f"seamless-core {release}"
