"""The conversion matrix: the category of every ordered pair of celltypes, as data.

Six categories are primitive (executed directly); ``equivalent`` maps a pair onto another pair
and ``chain`` goes through a middle celltype. The table is the one the Seamless ecosystem uses
(pinned by the compatibility vectors); it is checked for completeness when this module loads.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..celltypes import CELLTYPES, normalize_celltype

Step = tuple[str, str, str]

#: Every category, in the order the matrix legend shows them (``identity`` is the diagonal).
CATEGORIES: tuple[str, ...] = (
    "identity",
    "trivial",
    "reinterpret",
    "reformat",
    "possible",
    "values",
    "equivalent",
    "chain",
    "forbidden",
)

#: One line per category, for legends and help texts.
CATEGORY_DESCRIPTIONS: dict[str, str] = {
    "identity": "same celltype: nothing to do",
    "trivial": "checksum kept, always valid; the buffer is not read",
    "reinterpret": "checksum kept once the buffer is validated as the target",
    "reformat": "new buffer; always succeeds on valid input",
    "possible": "new buffer; may fail, depending on the value",
    "values": "value-level conversion; may fail",
    "equivalent": "executed as another pair",
    "chain": "executed in two conversions, through a middle celltype",
    "forbidden": "not allowed",
}

# "source>target" pairs. The same facts as the ecosystem's table, written out pair by pair.
_PRIMITIVE = {
    "trivial": """
        text>bytes ipython>text python>text python>ipython yaml>text plain>yaml plain>bytes
        binary>mixed plain>mixed str>plain int>plain float>plain bool>plain
    """,
    "reinterpret": """
        bytes>text bytes>plain text>ipython text>python text>yaml mixed>binary mixed>plain
    """,
    "reformat": """
        bytes>binary bytes>mixed binary>bytes mixed>bytes plain>text text>plain text>str
        str>text yaml>plain ipython>python int>str float>str bool>str int>float bool>int
        float>int int>bool float>bool bool>float
    """,
    "possible": """
        binary>int binary>float binary>bool str>int str>float str>bool plain>str plain>int
        plain>float plain>bool mixed>str mixed>int mixed>float mixed>bool
    """,
    "values": """
        binary>plain plain>binary
        checksum>bytes checksum>mixed checksum>binary checksum>plain checksum>str
        checksum>int checksum>float checksum>bool checksum>text checksum>yaml
        checksum>python checksum>ipython
        bytes>checksum mixed>checksum binary>checksum plain>checksum str>checksum
        int>checksum float>checksum bool>checksum text>checksum yaml>checksum
        python>checksum ipython>checksum
    """,
    "forbidden": """
        python>yaml python>int python>float python>bool ipython>yaml ipython>int ipython>float
        ipython>bool yaml>python yaml>ipython int>python int>ipython float>python float>ipython
        bool>python bool>ipython
    """,
}

# pair -> the pair that does the work. Text-like sources go to str, not to plain: their text
# becomes a JSON string rather than being read as JSON.
_EQUIVALENT = {
    "yaml>str": "text>str",
    "python>str": "text>str",
    "ipython>str": "text>str",
    "text>mixed": "text>str",
    "yaml>mixed": "text>str",
    "python>mixed": "text>str",
    "ipython>mixed": "text>str",
    "python>plain": "text>str",
    "ipython>plain": "text>str",
    "str>yaml": "str>text",
    "str>python": "str>text",
    "str>ipython": "str>text",
    "python>bytes": "python>text",
    "ipython>bytes": "ipython>text",
    "yaml>bytes": "text>bytes",
    "str>mixed": "str>binary",
    "int>mixed": "int>plain",
    "float>mixed": "float>plain",
    "bool>mixed": "bool>plain",
    "str>binary": "plain>binary",
    "int>binary": "plain>binary",
    "float>binary": "plain>binary",
    "bool>binary": "plain>binary",
    "python>binary": "text>binary",
    "ipython>binary": "text>binary",
    "str>bytes": "plain>bytes",
    "int>bytes": "plain>bytes",
    "float>bytes": "plain>bytes",
    "bool>bytes": "plain>bytes",
    "int>text": "plain>text",
    "float>text": "plain>text",
    "bool>text": "plain>text",
}

# pair -> middle celltype. text>binary (and python/ipython>binary, mapped onto it) cannot
# succeed: text>mixed makes a JSON string, and mixed>binary only accepts arrays.
_CHAIN = {
    "mixed>text": "plain",
    "mixed>yaml": "text",
    "mixed>ipython": "text",
    "mixed>python": "text",
    "binary>text": "plain",
    "binary>yaml": "text",
    "binary>ipython": "text",
    "binary>python": "text",
    "binary>str": "bytes",
    "bytes>str": "plain",
    "bytes>float": "plain",
    "bytes>int": "plain",
    "bytes>bool": "plain",
    "bytes>yaml": "text",
    "bytes>ipython": "text",
    "bytes>python": "text",
    "plain>python": "text",
    "plain>ipython": "text",
    "text>binary": "mixed",
    "text>float": "plain",
    "text>int": "plain",
    "text>bool": "plain",
    "yaml>binary": "plain",
    "yaml>int": "plain",
    "yaml>float": "plain",
    "yaml>bool": "plain",
    "int>yaml": "plain",
    "float>yaml": "plain",
    "bool>yaml": "plain",
}


class _TableError(RuntimeError):
    pass


def _pair(text: str) -> tuple[str, str]:
    source, _, target = text.partition(">")
    if source not in CELLTYPES or target not in CELLTYPES or source == target:
        raise _TableError(f"conversion table: bad pair {text!r}")
    return source, target


def _build_table() -> dict[tuple[str, str], tuple[str, Any]]:
    table: dict[tuple[str, str], tuple[str, Any]] = {}

    def add(pair: tuple[str, str], category: str, via: Any = None) -> None:
        if pair in table:
            raise _TableError(f"conversion table: {pair} is both {table[pair][0]} and {category}")
        table[pair] = (category, via)

    for category, pairs in _PRIMITIVE.items():
        for text in pairs.split():
            add(_pair(text), category)
    for text, mapped in _EQUIVALENT.items():
        add(_pair(text), "equivalent", _pair(mapped))
    for text, middle in _CHAIN.items():
        source, target = _pair(text)
        if middle not in CELLTYPES or middle in (source, target):
            raise _TableError(f"conversion table: bad middle celltype {middle!r} for {text!r}")
        add((source, target), "chain", middle)
    missing = [(s, t) for s in CELLTYPES for t in CELLTYPES if s != t and (s, t) not in table]
    if missing:
        raise _TableError(f"conversion table: no category for {missing}")
    return table


_TABLE = _build_table()


def pairs_in(*categories: str) -> list[tuple[str, str]]:
    """The ``(source, target)`` pairs whose own table entry is one of ``categories``."""
    return [pair for pair, (category, _) in _TABLE.items() if category in categories]


def _keeps_checksum_path(source: str, target: str) -> list[Step]:
    """The shortest route from ``source`` to ``target`` over checksum-keeping pairs.

    An equivalent pair works on another pair; its source buffer is read as that pair's source
    and its result is read as the real target. Both moves must keep the buffer as it is.
    """
    if source == target:
        return []
    previous: dict[str, str] = {source: source}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for nxt in CELLTYPES:
            if nxt in previous or nxt == node:
                continue
            category = _TABLE[node, nxt][0]
            if category not in ("trivial", "reinterpret"):
                continue
            previous[nxt] = node
            if nxt == target:
                path = []
                while nxt != source:
                    path.append((previous[nxt], nxt, _TABLE[previous[nxt], nxt][0]))
                    nxt = previous[nxt]
                return path[::-1]
            queue.append(nxt)
    raise _TableError(f"conversion table: {source} buffers cannot be read as {target}")


def _resolve(source: str, target: str, seen: frozenset) -> list[Step]:
    if (source, target) in seen:
        raise _TableError(f"conversion table: circular mapping through {source}>{target}")
    seen = seen | {(source, target)}
    category, via = _TABLE[source, target]
    if category == "equivalent":
        mapped_source, mapped_target = via
        return (
            _keeps_checksum_path(source, mapped_source)
            + _resolve(mapped_source, mapped_target, seen)
            + _keeps_checksum_path(mapped_target, target)
        )
    if category == "chain":
        return _resolve(source, via, seen) + _resolve(via, target, seen)
    return [(source, target, category)]


# Resolving every pair now is the import-time check that no mapping loops (156 tiny walks).
_STEPS: dict[tuple[str, str], tuple[Step, ...]] = {
    pair: tuple(_resolve(*pair, frozenset())) for pair in _TABLE
}


def _normalize_pair(source: Any, target: Any) -> tuple[str, str]:
    return normalize_celltype(source), normalize_celltype(target)


def conversion_category(source: str, target: str) -> str:
    """The category of converting ``source`` to ``target`` (``identity`` when they are the same)."""
    source, target = _normalize_pair(source, target)
    if source == target:
        return "identity"
    return _TABLE[source, target][0]


def conversion_via(source: str, target: str) -> tuple[str, str] | str | None:
    """The mapped pair of an ``equivalent`` conversion, the middle celltype of a ``chain``, else None."""
    source, target = _normalize_pair(source, target)
    if source == target:
        return None
    return _TABLE[source, target][1]


def conversion_steps(source: str, target: str) -> list[tuple[str, str, str]]:
    """The primitive ``(source, target, category)`` steps that convert ``source`` to ``target``."""
    source, target = _normalize_pair(source, target)
    if source == target:
        return []
    return list(_STEPS[source, target])


def primitive_steps(source: str, target: str) -> tuple[Step, ...]:
    """Like :func:`conversion_steps` for already normalized celltypes, without copying."""
    return () if source == target else _STEPS[source, target]


class ConversionMatrix:
    """The 13x13 conversion matrix: ``.to_dict()``, a text grid as repr, an HTML grid in Jupyter."""

    celltypes: tuple[str, ...] = CELLTYPES

    def category(self, source: str, target: str) -> str:
        """The category of one pair (see :func:`conversion_category`)."""
        return conversion_category(source, target)

    def to_dict(self) -> dict[str, dict[str, str]]:
        """``{source: {target: category}}`` for every pair of distinct celltypes."""
        return {
            source: {target: _TABLE[source, target][0] for target in CELLTYPES if target != source}
            for source in CELLTYPES
        }

    def _entries(self) -> dict[tuple[str, str], tuple[str, str | None]]:
        entries: dict[tuple[str, str], tuple[str, str | None]] = {}
        for source in CELLTYPES:
            for target in CELLTYPES:
                if source == target:
                    entries[source, target] = ("identity", None)
                    continue
                category, via = _TABLE[source, target]
                note = None
                if category == "equivalent":
                    note = f"done as {via[0]} \u2192 {via[1]}"
                elif category == "chain":
                    note = f"via {via}"
                entries[source, target] = (category, note)
        return entries

    def __repr__(self) -> str:
        codes = {category: _CODES[category] for category in CATEGORIES}
        width = 4
        lines = ["ConversionMatrix (rows: source, columns: target)"]
        lines.append(" " * 9 + "".join(t[:3].ljust(width) for t in CELLTYPES).rstrip())
        entries = self._entries()
        for source in CELLTYPES:
            cells = "".join(codes[entries[source, t][0]].ljust(width) for t in CELLTYPES)
            lines.append(source.ljust(9) + cells.rstrip())
        lines.append("  ".join(f"{codes[c]} {c}" for c in CATEGORIES))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from ..jupyter.html_matrix import render_conversion_matrix

        legend = [(c, _CODES[c], CATEGORY_DESCRIPTIONS[c]) for c in CATEGORIES]
        return render_conversion_matrix(CELLTYPES, self._entries(), legend)


# One character per category, for the text grid and the HTML cells.
_CODES = {
    "identity": ".",
    "trivial": "T",
    "reinterpret": "R",
    "reformat": "F",
    "possible": "P",
    "values": "V",
    "equivalent": "E",
    "chain": "C",
    "forbidden": "X",
}

_MATRIX = ConversionMatrix()


def conversion_matrix() -> ConversionMatrix:
    """The conversion matrix of the 13 celltypes."""
    return _MATRIX


__all__ = [
    "CATEGORIES",
    "CATEGORY_DESCRIPTIONS",
    "ConversionMatrix",
    "conversion_category",
    "conversion_matrix",
    "conversion_steps",
    "conversion_via",
]
