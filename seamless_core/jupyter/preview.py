"""What a buffer holds, guessed from its bytes, and a short preview of it.

Pure functions of the content: no cache, no HTML. :func:`describe_content` never raises and
never loads pickles. NumPy is imported only for content that starts like an array or a
mixed container.
"""

from __future__ import annotations

import codecs
import json
import pprint
from typing import Any

from ..celltypes import deserialize
from .frame import count, format_bytes

__all__ = ["BADGES", "describe_content"]

#: How much of a buffer a preview shows.
PREVIEW_CHARS = 1500
PREVIEW_LINES = 30
HEXDUMP_BYTES = 256
#: Buffers up to this size are parsed for their preview; larger ones are only peeked at.
PARSE_LIMIT = 1 << 20
#: A preview starts collapsed when the buffer is larger than this, holds more items than
#: this (keys of an object, items of an array), or the preview runs to more lines.
COLLAPSE_BYTES = 8 * 1024
COLLAPSE_ITEMS = 50
COLLAPSE_LINES = 20

_MAGIC_NUMPY = b"\x93NUMPY"
_MAGIC_MIXED = b"\x94SEAMLESS-MIXED"

#: What the format badge says for each kind of content. The words are the formats' own,
#: never a celltype name in another sense ("binary" is the celltype of NumPy arrays, so raw
#: bytes are "raw bytes").
BADGES = {
    "empty": "empty",
    "npy": ".npy",
    "mixed": "mixed container",
    "json": "JSON",
    "text": "text",
    "binary": "raw bytes",
}


def describe_content(content: bytes) -> dict[str, Any]:
    """Guess what a buffer holds and make a short preview of it.

    Returns ``{"kind", "badge", "format", "preview", "preview_kind", "note", "items",
    "collapsed"}``: ``kind`` is one of ``empty``, ``npy``, ``mixed``, ``json``, ``text``,
    ``binary`` (raw bytes) and ``badge`` says it in words; ``format`` is a one-line
    description; ``preview`` a string (``preview_kind`` says how to show it: ``json``,
    ``array``, ``text``, ``hex`` or ``none``); ``note`` says what the preview left out;
    ``items`` counts the keys or items of JSON and containers (else ``None``);
    ``collapsed`` says whether a view should start with the preview folded.
    Never raises on any content: a preview that fails shows the bytes instead.
    """
    try:
        described = _describe(content)
    except Exception as exc:  # a crafted buffer must not break the view
        note = f"no preview ({type(exc).__name__})"
        described = _described("binary", "raw bytes", _hexdump(content), "hex", note)
    described["badge"] = BADGES.get(str(described["kind"]), str(described["kind"]))
    described["collapsed"] = _collapsed(len(content), described)
    return described


def _collapsed(size: int, described: dict[str, Any]) -> bool:
    items = described.get("items")
    lines = str(described["preview"]).count("\n") + 1
    return (
        size > COLLAPSE_BYTES
        or (isinstance(items, int) and items > COLLAPSE_ITEMS)
        or lines > COLLAPSE_LINES
    )


def _described(
    kind: str,
    description: str,
    preview: str,
    preview_kind: str,
    note: str | None = None,
    items: int | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "format": description,
        "preview": preview,
        "preview_kind": preview_kind,
        "note": note,
        "items": items,
    }


def _describe(content: bytes) -> dict[str, Any]:
    size = len(content)
    if size == 0:
        return _described("empty", "empty buffer", "", "none")
    if content.startswith(_MAGIC_NUMPY):
        described = _describe_npy(content)
        if described is not None:
            return described
    elif content.startswith(_MAGIC_MIXED):
        described = _describe_container(content)
        if described is not None:
            return described
    small = size <= PARSE_LIMIT
    text = _head_text(content, size if small else 64 * 1024)
    if text is None:
        note = f"\u2026 first {HEXDUMP_BYTES} of {size:,} bytes" if size > HEXDUMP_BYTES else None
        return _described("binary", "raw bytes", _hexdump(content), "hex", note)
    if small and text.strip():
        described = _describe_json(text)
        if described is not None:
            return described
    line_count = text.count("\n") + (0 if text.endswith("\n") else 1)
    description = f"UTF-8 text, {count(line_count, 'line')}" if small else "UTF-8 text"
    preview, note = _truncate(text, None if small else size)
    return _described("text", description, preview, "text", note)


def _describe_json(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    try:
        pretty = json.dumps(value, indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        pretty = text
    preview, note = _truncate(pretty)
    items = len(value) if isinstance(value, (dict, list)) else None
    return _described("json", _json_summary(value), preview, "json", note, items)


def _head_text(content: bytes, limit: int) -> str | None:
    """The start of ``content`` as UTF-8 text (a character cut at the end is dropped), or
    ``None`` if it is not UTF-8 or holds NUL bytes."""
    head = content[:limit]
    if b"\x00" in head:
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        return decoder.decode(head, final=len(content) <= limit)
    except UnicodeDecodeError:
        return None


def _truncate(text: str, total: int | None = None) -> tuple[str, str | None]:
    """``text`` cut to the preview limits, and a note saying what was left out."""
    lines = text.splitlines(keepends=True)
    cut = "".join(lines[:PREVIEW_LINES])
    if len(cut) > PREVIEW_CHARS:
        cut = cut[:PREVIEW_CHARS]
    if len(cut) == len(text) and total is None:
        return text, None
    shown = len(cut)
    if total is not None:
        return cut, f"\u2026 preview of the first {shown:,} characters of {total:,} bytes"
    return cut, f"\u2026 {len(text) - shown:,} more characters"


def _json_summary(value: Any) -> str:
    if isinstance(value, dict):
        return f"JSON object, {count(len(value), 'key')}"
    if isinstance(value, list):
        return f"JSON array, {count(len(value), 'item')}"
    if isinstance(value, str):
        return "JSON string"
    if isinstance(value, bool) or value is None:
        return "JSON " + json.dumps(value)
    return "JSON number"


def _hexdump(content: bytes) -> str:
    rows = []
    for offset in range(0, min(len(content), HEXDUMP_BYTES), 16):
        chunk = content[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        rows.append(f"{offset:08x}  {hexes:<47}  {text}")
    return "\n".join(rows)


def _array_preview(array: Any) -> str:
    import numpy as np

    with np.printoptions(threshold=60, edgeitems=3, linewidth=88):
        return np.array2string(np.asarray(array), separator=", ")


def _count_arrays(value: Any, limit: int = 10_000) -> int:
    import numpy as np

    stack, found, seen = [value], 0, 0
    while stack and seen < limit:
        item = stack.pop()
        seen += 1
        if isinstance(item, np.ndarray):
            found += 1
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _describe_npy(content: bytes) -> dict[str, Any] | None:
    try:
        array = deserialize(content, "binary")
    except (ValueError, TypeError):
        return None
    import numpy as np

    array = np.asarray(array)
    dtype = array.dtype
    shape = f"shape {tuple(array.shape)}" if array.ndim else "0-d"
    dtype_text = str(dtype) if dtype.fields or dtype.subdtype else f"{dtype.name} ({dtype.str})"
    description = f".npy array, dtype {dtype_text}, {shape}"
    preview, note = _truncate(_array_preview(array))
    return _described("npy", description, preview, "array", note)


def _describe_container(content: bytes) -> dict[str, Any] | None:
    if len(content) > PARSE_LIMIT:
        return _described(
            "mixed",
            "Seamless-mixed container (JSON with arrays)",
            "",
            "none",
            f"\u2026 no preview: larger than {format_bytes(PARSE_LIMIT)}",
        )
    try:
        import numpy as np

        value = deserialize(content, "mixed")
        with np.printoptions(threshold=20, edgeitems=2, linewidth=88):
            pretty = pprint.pformat(value, width=88, sort_dicts=False)
    except (ValueError, TypeError, RecursionError):
        return None
    arrays = _count_arrays(value)
    description = f"Seamless-mixed container, {count(arrays, 'array')} inside JSON"
    preview, note = _truncate(pretty)
    items = len(value) if isinstance(value, (dict, list)) else None
    return _described("mixed", description, preview, "text", note, items)
