"""HTML for the conversion matrix: a pure function of the data, styled by ``static/seamless.css``
(its "conversion matrix" section).

No JavaScript: colours come from CSS classes, details from each cell's ``title`` tooltip. The
view carries a plain-text grid too, shown where the stylesheet is stripped (untrusted notebooks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from .frame import frame, stylesheet, token, view_css

_ARROW = "\u2192"


def _attr(text: str) -> str:
    return escape(text, quote=True)


def render_conversion_matrix(
    celltypes: Sequence[str],
    entries: Mapping[tuple[str, str], tuple[str, str | None]],
    legend: Sequence[tuple[str, str, str]],
    text: str | None = None,
) -> str:
    """A self-contained HTML table: rows are sources, columns targets.

    ``entries`` maps every ``(source, target)`` to ``(category, note)``; ``legend`` lists
    ``(category, code, description)``, and ``code`` is what a cell of that category shows.
    ``text`` is the plain-text fallback (by default a grid of the codes).
    """
    codes = {category: code for category, code, _ in legend}
    if text is None:
        text = text_grid(celltypes, entries, codes)
    out = [
        '<div class="sc-matrix">',
        '<table class="sc-matrix-table">',
        '<caption class="sc-matrix-caption">Celltype conversions '
        "(rows: source, columns: target; hover a cell for details)</caption>",
        "<thead><tr>",
        '<th class="sc-matrix-corner" scope="col">source \\ target</th>',
    ]
    for target in celltypes:
        out.append(f'<th class="sc-matrix-col" scope="col"><span>{escape(target)}</span></th>')
    out.append("</tr></thead><tbody>")
    for source in celltypes:
        out.append(f'<tr><th class="sc-matrix-row" scope="row">{escape(source)}</th>')
        for target in celltypes:
            category, note = entries[source, target]
            title = f"{source} {_ARROW} {target}: {category}" + (f" ({note})" if note else "")
            out.append(
                f'<td class="sc-cell sc-cat-{token(category)}" title="{_attr(title)}">'
                f"{escape(codes.get(category, '?'))}</td>"
            )
        out.append("</tr>")
    out.append("</tbody></table>")
    out.append('<ul class="sc-legend">')
    for category, code, description in legend:
        out.append(
            f'<li class="sc-legend-item" title="{_attr(description)}">'
            f'<span class="sc-swatch sc-cat-{token(category)}">{escape(code)}</span> '
            f'<span class="sc-legend-name">{escape(category)}</span>'
            f'<span class="sc-legend-text">: {escape(description)}</span></li>'
        )
    out.append("</ul></div>")
    return frame("".join(out), text, matrix_css())


def matrix_css() -> str:
    """The stylesheet the matrix view embeds."""
    return view_css("conversion matrix")


def text_grid(
    celltypes: Sequence[str],
    entries: Mapping[tuple[str, str], tuple[str, str | None]],
    codes: Mapping[str, str],
) -> str:
    """The matrix as a grid of one-character codes, with a legend line."""
    width = max([len(c) for c in celltypes] + [6]) + 1
    lines = [
        "Celltype conversions (rows: source, columns: target)",
        " " * width + " ".join(t[:3].ljust(3) for t in celltypes).rstrip(),
    ]
    for source in celltypes:
        cells = " ".join(codes.get(entries[source, t][0], "?").ljust(3) for t in celltypes)
        lines.append((source.ljust(width) + cells).rstrip())
    lines.append("  ".join(f"{code} {category}" for category, code in codes.items()))
    return "\n".join(lines)


__all__ = ["matrix_css", "render_conversion_matrix", "stylesheet", "text_grid"]
