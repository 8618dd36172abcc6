"""Compute ``expected.json`` with the command-line scripts of seamless-core 0.1.4.

    python tests/data/cli/generate_expected.py [BIN_DIR]

``BIN_DIR`` holds 0.1.4's ``seamless-checksum*`` scripts (default: ``/tmp/refvenv/bin``, a
virtual environment with ``pip install seamless-core==0.1.4``). Each script runs on each
input of the tree made by ``make_tree.py``, one argument at a time, as 0.1.4 takes them;
stdout, the exit status and the files written are recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from make_tree import contents, make_tree

HERE = Path(__file__).resolve().parent


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): path.read_bytes().decode()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in (".CHECKSUM", ".INDEX")
    }


def main(bin_dir: str) -> None:
    expected: dict = {"checksum": {}, "checksum_file": {}, "checksum_index": {}}
    for relative in sorted(contents()):
        with tempfile.TemporaryDirectory() as tmp:
            tree = make_tree(Path(tmp) / "tree")
            done = subprocess.run(
                [os.path.join(bin_dir, "seamless-checksum"), relative],
                cwd=tree,
                capture_output=True,
                check=True,
            )
            expected["checksum"][relative] = done.stdout.decode()
            before = snapshot(tree)
            subprocess.run(
                [os.path.join(bin_dir, "seamless-checksum-file"), relative],
                cwd=tree,
                capture_output=True,
                check=True,
            )
            after = snapshot(tree)
            expected["checksum_file"][relative] = {
                name: text for name, text in after.items() if before.get(name) != text
            }
    for directory in ("tree", "tree/nested", "tree/données", "tree/empty-folder"):
        for argument in (directory, directory + "/"):
            with tempfile.TemporaryDirectory() as tmp:
                make_tree(Path(tmp) / "tree")
                subprocess.run(
                    [os.path.join(bin_dir, "seamless-checksum-index"), argument],
                    cwd=tmp,
                    capture_output=True,
                    check=True,
                )
                written = {
                    str(path.relative_to(tmp)): path.read_bytes().decode()
                    for path in sorted(Path(tmp).rglob("*"))
                    if path.suffix in (".CHECKSUM", ".INDEX")
                }
                expected["checksum_index"][argument] = written
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/refvenv/bin")
