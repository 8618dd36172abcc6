"""IPython cells to Python code, in time linear in the cell's length.

IPython's ``TransformerManager.transform_cell`` re-tokenizes the whole cell after each piece of
special syntax it rewrites (``%magic``, ``!cmd``, ``obj?``): quadratic in the number of magics.
Each rewrite only touches the lines of one logical line, so the cell can be cut at logical-line
boundaries that start in column 0 (where tokenizing a piece alone gives the same tokens as in
the whole cell) and the pieces transformed one by one: same output, linear time. IPython's own
limit on the number of rewrites in a cell is kept, so that a cell IPython refuses is refused.
"""

from __future__ import annotations

import tokenize
from typing import Any

# A piece is cut at the first safe boundary after this many physical lines.
_PIECE_LINES = 64


def _manager() -> Any:
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def _cut_points(lines: list[str]) -> list[int]:
    """Indices of the lines before which the cell can be cut into independent pieces."""
    from IPython.core.inputtransformer2 import make_tokens_by_line

    cuts = []
    last_cut = 0
    for group in make_tokens_by_line(lines):
        first = next((t for t in group if t.type not in (tokenize.INDENT, tokenize.DEDENT)), None)
        if first is None or first.type == tokenize.ENDMARKER:
            continue
        row, col = first.start
        index = row - 1
        if col != 0 or index - last_cut < _PIECE_LINES or index >= len(lines):
            continue
        previous = lines[index - 1]
        if previous.rstrip("\r\n").endswith("\\") or not lines[index][:1].strip():
            continue  # a continued line, or a line that does not start the statement
        cuts.append(index)
        last_cut = index
    return cuts


def transform_cell(cell: str) -> str:
    """Exactly what ``TransformerManager().transform_cell(cell)`` returns, in linear time."""
    from IPython.core.inputtransformer2 import TRANSFORM_LOOP_LIMIT

    manager = _manager()
    if not cell.endswith("\n"):
        cell += "\n"
    lines = cell.splitlines(keepends=True)
    for transform in manager.cleanup_transforms + manager.line_transforms:
        lines = transform(lines)
    bounds = [0, *_cut_points(lines), len(lines)]
    budget = TRANSFORM_LOOP_LIMIT - 1  # IPython gives up on the limit-th rewrite of a cell
    out: list[str] = []
    for start, end in zip(bounds, bounds[1:]):
        piece = lines[start:end]
        while True:
            changed, piece = manager.do_one_token_transform(piece)
            if not changed:
                break
            if budget == 0:
                raise RuntimeError(
                    f"Input transformation still changing after {TRANSFORM_LOOP_LIMIT} "
                    "iterations. Aborting."
                )
            budget -= 1
        out.extend(piece)
    return "".join(out)


def ipython_to_python(cell: str) -> str:
    """The Python code of an IPython cell, as seamless-core 0.1.4 writes it: each line that
    calls ``get_ipython().run_...`` at the start of a line gets ``_ = `` before it."""
    prefix = "get_ipython().run_"
    return "".join(
        "_ = " + line if line.startswith(prefix) else line
        for line in transform_cell(cell).splitlines(True)
    )


__all__ = ["ipython_to_python", "transform_cell"]
