"""Build the small file tree that the command-line tests checksum.

Deterministic, so that the expected outputs in ``expected.json`` (computed once with the
scripts of seamless-core 0.1.4, see ``generate_expected.py``) stay valid: nested folders,
non-ASCII and odd names, empty files, ``.gz`` and ``.zst`` files, and a ``.INDEX`` file.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import zstandard

TEXT = b"The quick brown fox jumps over the lazy dog.\n"


def contents() -> dict[str, bytes]:
    """Relative path -> bytes as stored on disk (compressed files already compressed)."""
    binary = bytes(range(256)) * 300  # 76.8 kB: more than one small read
    big_text = b"".join(b"line %06d\n" % i for i in range(20000))  # 220 kB
    return {
        "hello.txt": b"hello\n",
        "empty.dat": b"",
        "no newline": b"no newline at the end",
        "binary.bin": binary,
        "spaces in name.txt": TEXT,
        "données/été.txt": "été\n".encode(),
        "données/日本語.json": b'{"a": 1}\n',
        "données/emoji-\U0001f642.txt": TEXT * 3,
        "nested/deeper/deepest/leaf.txt": b"leaf\n",
        "nested/deeper/empty.txt": b"",
        "nested/data.txt.gz": gzip.compress(TEXT * 100, mtime=0),
        "nested/empty.gz": gzip.compress(b"", mtime=0),
        "nested/big.txt.zst": zstandard.ZstdCompressor(level=3).compress(big_text),
        "nested/table.csv.zst": zstandard.ZstdCompressor(level=1).compress(b"a,b\n1,2\n"),
        "archive.INDEX": b'{\n  "x": "y"\n}\n',
        ".hidden": b"hidden\n",
    }


def make_tree(root: str | os.PathLike) -> Path:
    """Create the tree under ``root`` (a new directory) and return its path."""
    root = Path(root)
    root.mkdir(parents=True)
    for relative, data in contents().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "empty-folder").mkdir()
    return root
