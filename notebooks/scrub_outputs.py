"""Run by ``make notebooks`` after the notebooks ran: keeps this machine out of their stored
outputs. Its memory size (the cache views and the dashboard show it beside the process's
memory) becomes ``[total memory]``, and the tutorials' temporary folders (the spill folder
the views name) become ``[tmp]/seamless-tutorial-spill-XXXX``. Readers see those
placeholders; what they run themselves shows their own machine's.

Usage: python notebooks/scrub_outputs.py NOTEBOOK...
"""

from __future__ import annotations

import json
import re
import sys

import psutil

from seamless_core.jupyter.cache_view import format_bytes

PLACEHOLDER = "[total memory]"
# The same folders notebooks/sanitize.cfg hides from nbval's comparison.
TEMPORARY_FOLDER = re.compile(r"[^\s\"'<>=]*(seamless-tutorial-[a-z]+-)[A-Za-z0-9_]+")


def scrub_text(text: str, total: str) -> str:
    """``text`` with the machine's memory (as the views print it) and the tutorials'
    temporary folders replaced."""
    for before, after in ((" of ", " total"), (" of ", " on this machine"), (" of ", "\n")):
        text = text.replace(f"{before}{total}{after}", f"{before}{PLACEHOLDER}{after}")
    for machine in ("machine's ", "machine&#x27;s "):  # a meter's scale, plain and escaped
        text = text.replace(f"{machine}{total}", f"{machine}{PLACEHOLDER}")
    if text.endswith(f" of {total}"):
        text = text[: -len(total)] + PLACEHOLDER
    return TEMPORARY_FOLDER.sub(r"[tmp]/\1XXXX", text)


def _scrub_strings(value: object, total: str) -> object:
    if isinstance(value, str):
        return scrub_text(value, total)
    if isinstance(value, list):
        return [_scrub_strings(item, total) for item in value]
    if isinstance(value, dict):
        return {key: _scrub_strings(item, total) for key, item in value.items()}
    return value


def scrub_notebook(path: str, total: str) -> int:
    """Scrub one notebook in place; returns how many outputs changed."""
    with open(path, encoding="utf-8") as file:
        notebook = json.load(file)
    changed = 0
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            for mime, data in output.get("data", {}).items():
                if not mime.startswith("text/"):
                    continue
                text = "".join(data) if isinstance(data, list) else data
                scrubbed = scrub_text(text, total)
                if scrubbed != text:
                    output["data"][mime] = scrubbed.splitlines(keepends=True)
                    changed += 1
    # the widgets' saved state (the dashboard's last view) is shown by static renderers too
    widgets = notebook.get("metadata", {}).get("widgets")
    if widgets is not None:
        scrubbed_state = _scrub_strings(widgets, total)
        if scrubbed_state != widgets:
            notebook["metadata"]["widgets"] = scrubbed_state
            changed += 1
    if changed:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(notebook, file, indent=1, ensure_ascii=False)
            file.write("\n")
    return changed


def main(paths: list[str]) -> int:
    total = format_bytes(psutil.virtual_memory().total)
    for path in paths:
        print(f"{path}: {scrub_notebook(path, total)} outputs scrubbed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
