"""Atomic file writes: a temporary file in the target directory, then a rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable

TEMP_PREFIX = ".seamless-tmp-"


def write_atomic(path: str | os.PathLike, chunks: bytes | Iterable[bytes]) -> None:
    """Write ``chunks`` to ``path`` so that readers see either the old file or the whole new one.

    The data is flushed to disk before the rename; on any error the temporary file is removed.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(chunks, (bytes, bytearray, memoryview)):
                f.write(chunks)
            else:
                for chunk in chunks:
                    f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
