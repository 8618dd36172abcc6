"""``seamless-checksum-file FILE...``: write a ``.CHECKSUM`` sidecar file for each file."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .._atomic import write_atomic
from ..files import checksum_sidecar_path
from ._common import COMPRESSION_NOTE, STDIN, checksums, describe, make_parser, report, run

PROG = "seamless-checksum-file"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``seamless-checksum-file``; returns the exit status."""
    parser = make_parser(
        PROG,
        "Write the Seamless checksum (SHA-256) of each FILE to FILE.CHECKSUM.",
        "The sidecar holds the checksum in hexadecimal and a newline, and is written\n"
        "atomically: it is either absent or complete.\n"
        + COMPRESSION_NOTE
        + "\nA final .INDEX extension is dropped too (dir.INDEX -> dir.CHECKSUM).\n"
        "Exit status: 0 if every sidecar was written, 1 otherwise.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="file to checksum")
    args = parser.parse_args(argv)

    def body() -> int:
        status = 0
        if STDIN in args.files:
            report(PROG, "standard input ('-') has no file name to write a .CHECKSUM beside")
            return 1
        for path, result in checksums(args.files):
            if not isinstance(result, Exception):
                try:
                    write_atomic(checksum_sidecar_path(path), (result.hex() + "\n").encode())
                    continue
                except OSError as exc:
                    result = exc
            report(PROG, describe(result))
            status = 1
        return status

    return run(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
