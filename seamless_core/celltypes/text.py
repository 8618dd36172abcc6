"""Text celltypes: text, python, ipython, yaml.

The buffer is the text with trailing newlines replaced by exactly one. Code is only parsed,
never executed; YAML is read with ``safe_load``.
"""

from __future__ import annotations

import ast
from typing import Any

from .._errors import value_error
from ..checksum import Checksum


def _validate_python(text: str) -> None:
    ast.parse(text, filename="<seamless python cell>")


def _validate_ipython(text: str) -> None:
    from IPython.core.inputtransformer2 import TransformerManager

    python = TransformerManager().transform_cell(text)
    ast.parse(python, filename="<seamless ipython cell>")


def _validate_yaml(text: str) -> None:
    import yaml

    yaml.safe_load(text)


_VALIDATORS = {
    "python": _validate_python,
    "ipython": _validate_ipython,
    "yaml": _validate_yaml,
}


def validate(text: str, celltype: str, shown: Any) -> None:
    """Raise a ValueError naming ``celltype`` unless ``text`` is valid for it."""
    validator = _VALIDATORS.get(celltype)
    if validator is None:
        return
    try:
        validator(text)
    except Exception as exc:  # parsers raise many kinds (SyntaxError, YAMLError, ...)
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise value_error(celltype, f"invalid {celltype} ({first_line})", shown) from None


def serialize(value: Any, celltype: str) -> bytes:
    if isinstance(value, Checksum):
        value = value.hex()
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            value = bytes(value).decode()
        except UnicodeDecodeError:
            raise value_error(celltype, "bytes are not UTF-8 text", value) from None
    text = str(value).rstrip("\n")
    validate(text, celltype, value)
    try:
        return (text + "\n").encode()
    except UnicodeEncodeError:
        raise value_error(celltype, "text cannot be encoded as UTF-8", value) from None


def deserialize(content: bytes, celltype: str) -> str:
    try:
        text = content.decode().rstrip("\n")
    except UnicodeDecodeError:
        raise value_error(celltype, "buffer is not UTF-8 text", content) from None
    validate(text, celltype, content)
    return text


__all__ = ["deserialize", "serialize", "validate"]
