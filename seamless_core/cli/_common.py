"""What the command-line tools share: parsers, error reports, hashing files in parallel
with a progress bar, and the exit protocol (0 on success, 1 on errors, 2 on bad usage)."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable, Iterator, Sequence

from .. import __version__
from .._progress import ProgressBar
from ..checksum import Checksum
from ..files import default_workers, file_checksum, stream_checksum

STDIN = "-"

COMPRESSION_NOTE = (
    "Files named *.zst or *.gz are checksummed decompressed, and lose that suffix\n"
    "in the names written for them."
)


class CommandError(Exception):
    """An error reported as one line on stderr, with exit status 1."""


def describe(error: BaseException) -> str:
    """A one-line message for an error: ``path: reason`` for operating-system errors (a
    missing file that is a symbolic link is called a broken link, with its target)."""
    if isinstance(error, OSError) and error.strerror:
        if error.filename is None:
            return error.strerror
        path = os.fsdecode(error.filename)
        if error.errno == errno.ENOENT:
            try:
                return f"{path}: broken symbolic link (to {os.readlink(path)!r})"
            except OSError:
                pass  # not a link: the plain reason
        return f"{path}: {error.strerror}"
    return str(error) or type(error).__name__


def report(prog: str, message: str) -> None:
    """Print ``prog: message`` on stderr."""
    sys.stderr.write(f"{prog}: {message}\n")
    sys.stderr.flush()


def make_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """An argument parser with the tools' common options (``--version``)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s (seamless-core {__version__})"
    )
    return parser


def run(prog: str, body: Callable[[], int]) -> int:
    """Run a tool's body and turn what escapes it into an exit status."""
    try:
        return body()
    except CommandError as exc:
        report(prog, str(exc))
        return 1
    except KeyboardInterrupt:
        report(prog, "interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as other Unix tools do, and keep
        # Python from complaining when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _sizes(paths: Sequence[str]) -> int | None:
    total = 0
    for path in paths:
        if path == STDIN:
            return None
        try:
            total += os.stat(path).st_size
        except OSError:
            pass
    return total


def _checksum_or_error(path: str, progress: Callable[[int], None] | None) -> Checksum | Exception:
    try:
        if path == STDIN:
            return stream_checksum(sys.stdin.buffer, progress)
        return file_checksum(path, progress=progress)
    except (OSError, ValueError) as exc:  # a corrupt .gz/.zst is a ValueError
        return exc


def checksums(paths: Sequence[str]) -> Iterator[tuple[str, Checksum | Exception]]:
    """``(path, checksum or error)`` for each path, in order (``-`` is stdin). Several files
    are hashed in parallel; a progress bar shows on an interactive stderr for long runs."""
    with ProgressBar(None, "hashing", "B") as bar:
        progress = None
        if bar.enabled:  # sizing every file costs a stat each: only for a visible bar
            bar.total = _sizes(paths)
            progress = bar.advance
        if len(paths) == 1:
            result = _checksum_or_error(paths[0], progress)
            bar.close()  # finished: the result goes on the next line
            yield paths[0], result
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(len(paths), default_workers()), "seamless-hash") as pool:
            results = pool.map(lambda path: _checksum_or_error(path, progress), paths)
            for path, result in zip(paths, results):
                with bar.paused():  # the caller prints this result where the bar was
                    yield path, result


def write_stdout(data: bytes) -> None:
    """Write bytes to stdout (file names need not be valid text)."""
    sys.stdout.buffer.write(data)
