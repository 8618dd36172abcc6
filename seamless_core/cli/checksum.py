"""``seamless-checksum FILE...``: print the Seamless checksum (SHA-256) of files."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ._common import (
    COMPRESSION_NOTE,
    STDIN,
    checksums,
    describe,
    make_parser,
    report,
    run,
    write_stdout,
)

PROG = "seamless-checksum"


def _line(checksum: str, path: str) -> bytes:
    # The sha256sum format: a name with a backslash or a line break is escaped, and the
    # line then starts with a backslash.
    name = os.fsencode(path)
    if b"\\" in name or b"\n" in name or b"\r" in name:
        name = name.replace(b"\\", b"\\\\").replace(b"\n", b"\\n").replace(b"\r", b"\\r")
        return b"\\" + checksum.encode() + b"  " + name + b"\n"
    return checksum.encode() + b"  " + name + b"\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``seamless-checksum``; returns the exit status."""
    parser = make_parser(
        PROG,
        "Print the Seamless checksum (SHA-256) of each FILE.",
        "With one FILE, the checksum alone is printed; with several, one line per file in\n"
        "the format of sha256sum ('<checksum>  <file>'). FILE '-' reads standard input.\n"
        + COMPRESSION_NOTE
        + "\nExit status: 0 if every file was checksummed, 1 otherwise.",
    )
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help=f"file to checksum ('{STDIN}': stdin)"
    )
    args = parser.parse_args(argv)

    def body() -> int:
        status = 0
        single = len(args.files) == 1
        for path, result in checksums(args.files):
            if isinstance(result, Exception):
                report(PROG, describe(result))
                status = 1
                continue
            write_stdout(result.hex().encode() + b"\n" if single else _line(result.hex(), path))
            sys.stdout.flush()
        return status

    return run(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
