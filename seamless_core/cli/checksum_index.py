"""``seamless-checksum-index DIR...``: write ``DIR.INDEX`` and ``DIR.CHECKSUM``.

The two files are both-or-neither in this sense: a ``DIR.CHECKSUM`` on disk is always the
checksum of the ``DIR.INDEX`` beside it. Both are staged in temporary files first; then the
old ``.CHECKSUM`` is removed, the new ``.INDEX`` renamed in, and the new ``.CHECKSUM`` last
(:func:`seamless_core._atomic.write_sealed`). A run killed in between leaves an index
without a checksum, which readers treat as unconfirmed (re-run the tool), never a new index
beside an old checksum. Temporary files that killed runs left in the parent directory are
swept once they are old.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from .._atomic import sweep_once, write_sealed
from .._progress import ProgressBar
from ..checksum import Checksum
from ..files import checksum_sidecar_path, directory_index, index_buffer
from ._common import COMPRESSION_NOTE, CommandError, describe, make_parser, report, run

PROG = "seamless-checksum-index"


def index_directory(argument: str, skip_unreadable: bool = False) -> list[OSError]:
    """Index one directory (as named on the command line) and write its two files.

    A file or subdirectory that cannot be read is an error, or with ``skip_unreadable``
    it is left out, and returned (the caller reports it) with the others left out."""
    directory = argument.rstrip(os.sep)
    if not directory:
        raise CommandError(f"{argument}: refusing to index the root directory")
    if not os.path.isdir(directory):
        reason = "Not a directory" if os.path.exists(directory) else "No such file or directory"
        raise CommandError(f"{argument}: {reason}")
    skipped: list[OSError] = []  # appended to from worker threads: list.append is atomic
    with ProgressBar(None, f"indexing {argument}", "files") as bar:
        try:
            index = directory_index(
                directory,
                progress=bar.update if bar.enabled else None,
                on_unreadable=skipped.append if skip_unreadable else None,
            )
        except OSError as exc:
            bar.clear()  # the error goes on a line of its own
            inside = exc.filename is not None and os.fsdecode(exc.filename) != directory
            hint = "; nothing written (--skip-unreadable indexes the rest)" if inside else ""
            raise CommandError(describe(exc) + hint) from None
    content = index_buffer(index).content
    sidecar = (Checksum.of(content).hex() + "\n").encode()
    write_sealed(directory + ".INDEX", content, checksum_sidecar_path(directory), sidecar)
    sweep_once(os.path.dirname(os.path.abspath(directory)))
    return sorted(skipped, key=lambda error: os.fsdecode(error.filename or ""))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``seamless-checksum-index``; returns the exit status."""
    parser = make_parser(
        PROG,
        "Index each directory DIR: write DIR.INDEX, a JSON object that maps the path of\n"
        "every file below DIR (relative to DIR) to its Seamless checksum, and DIR.CHECKSUM,\n"
        "the checksum of that index: the checksum of the directory.",
        "DIR.INDEX is the 'plain' Seamless serialization of the mapping (sorted keys,\n"
        "2-space indentation). Files are hashed in parallel.\n"
        + COMPRESSION_NOTE
        + "\nBoth files are written only once the whole directory has been read, and\n"
        "atomically: after an error neither is changed. DIR.CHECKSUM is renamed in last,\n"
        "so a DIR.CHECKSUM on disk always matches the DIR.INDEX beside it; an index\n"
        "without a checksum is from an interrupted run.\n"
        "FIFOs, devices and sockets below DIR are refused (an error naming them).\n"
        "A file or subdirectory that cannot be read (a broken symbolic link, no\n"
        "permission) is an error that leaves both files unchanged, unless\n"
        "--skip-unreadable is given: then each is reported and left out of the index.\n"
        "Exit status: 0 if every directory was indexed, 1 otherwise.",
    )
    parser.add_argument("directories", nargs="+", metavar="DIR", help="directory to index")
    parser.add_argument(
        "--skip-unreadable",
        action="store_true",
        help="leave files and subdirectories that cannot be read out of the index "
        "(each is reported on stderr) instead of failing",
    )
    args = parser.parse_args(argv)

    def body() -> int:
        status = 0
        for argument in args.directories:
            try:
                skipped = index_directory(argument, args.skip_unreadable)
                for error in skipped:
                    report(PROG, f"{describe(error)} (skipped)")
            except CommandError as exc:
                report(PROG, str(exc))
                status = 1
            except (OSError, ValueError) as exc:
                report(PROG, describe(exc))
                status = 1
        return status

    return run(PROG, body)


if __name__ == "__main__":
    sys.exit(main())
