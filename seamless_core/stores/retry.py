"""Upload, later, the buffers that could not be uploaded before.

When a store is down, the uploader saves what no store took in the buffer cache's spill
folder, and at exit writes the list of those checksums beside them
(``failed-uploads-<time>-<pid>.txt``). Once the store is back::

    python -m seamless_core.stores.retry /tmp/seamless-spill-1000/failed-uploads-....txt

uploads them to the stores configured by the environment (``SEAMLESS_HASHSERVER_URLS``,
``SEAMLESS_BUFFER_FOLDERS`` with ``--writable``), or to those given with ``--to``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence

from ..checksum import Checksum, as_checksum
from . import registry
from .base import BufferStore
from .folder import BufferFolder


def read_listing(path: str | os.PathLike) -> list[Checksum]:
    """The checksums in a listing file (one hex checksum per line; blank lines skipped)."""
    with open(path, encoding="ascii") as f:
        return [Checksum(line.strip()) for line in f if line.strip()]


def retry_uploads(
    checksums: Iterable[Checksum | str | bytes],
    folder: BufferFolder | str | os.PathLike,
    targets: Sequence[BufferStore] | None = None,
) -> tuple[int, list[tuple[Checksum, BaseException]]]:
    """Put each buffer of ``folder`` named in ``checksums`` into ``targets`` (default: the
    registered upload targets). Returns how many buffers every target took, and the
    ``(checksum, error)`` pairs of the others; the folder's copies are left in place."""
    source = folder if isinstance(folder, BufferFolder) else BufferFolder(folder)
    stores = list(registry.upload_targets() if targets is None else targets)
    if not stores:
        raise ValueError("no writable store to upload to: configure one or pass targets")
    done = 0
    problems: list[tuple[Checksum, BaseException]] = []
    for checksum in checksums:
        checksum = as_checksum(checksum)
        try:
            content = source.get(checksum)
            if content is None:
                raise FileNotFoundError(f"{source!r} has no buffer {checksum}")
            for store in stores:
                store.put(checksum, content)
        except Exception as exc:  # reported per buffer; the others still go
            problems.append((checksum, exc))
            continue
        done += 1
    return done, problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m seamless_core.stores.retry",
        description="Upload the buffers named in a failed-uploads listing.",
    )
    parser.add_argument("listing", help="a failed-uploads-*.txt file in a spill folder")
    parser.add_argument(
        "--to",
        action="append",
        default=[],
        metavar="URL_OR_FOLDER",
        help="a hashserver URL or a folder to upload to (repeatable); default: the stores "
        "configured by the environment",
    )
    args = parser.parse_args(argv)
    targets = [registry._as_store(t, True) for t in args.to] or None
    try:
        checksums = read_listing(args.listing)
        done, problems = retry_uploads(checksums, os.path.dirname(args.listing), targets)
    except (OSError, ValueError) as exc:
        print(f"seamless-core: {exc}", file=sys.stderr)
        return 1
    for checksum, problem in problems:
        print(f"seamless-core: {checksum}: {problem}", file=sys.stderr)
    print(f"{done} of {len(checksums)} buffers uploaded")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
