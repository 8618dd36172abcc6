"""Executing conversions: one small function per primitive pair, run step by step.

NumPy, PyYAML and IPython are imported by the steps that need them, never at module import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from ..buffer import Buffer
from ..celltypes import CELLTYPES, deserialize, normalize_celltype, serialize
from ..celltypes.magic import MAGIC_MIXED, MAGIC_NUMPY
from ..checksum import Checksum, as_checksum
from ..errors import CacheMissError, SeamlessConversionError
from .matrix import pairs_in, primitive_steps

_MAX_PROBLEM = 300


def _value(buffer: Buffer, celltype: str) -> Any:
    return deserialize(buffer.content, celltype)


def _serialized(value: Any, celltype: str) -> Buffer:
    return Buffer(serialize(value, celltype))


def _mixed_parse(content: bytes) -> tuple[Any, str]:
    from ..celltypes import mixed

    return mixed.parse(content)


# -- checksum-keeping steps ----------------------------------------------------------------------


def _trivial(buffer: Buffer, source: str, target: str) -> Buffer:
    return buffer


def _reinterpret(buffer: Buffer, source: str, target: str) -> Buffer:
    # A valid target buffer is always a valid source buffer, so one parse checks both.
    _value(buffer, target)
    return buffer


# -- reformat ------------------------------------------------------------------------------------


def _array_to_bytes(buffer: Buffer, source: str, target: str) -> Buffer:
    import numpy as np

    value = _value(buffer, source)
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.char == "S":
        return Buffer(value.tobytes())
    return buffer


def _bytes_array(content: bytes) -> Any:
    import numpy as np

    if not content:
        # NumPy has no zero-length "S" itemsize; an empty S1 array still gives back b"".
        return np.zeros(0, dtype="S1")
    return np.array(content)  # the itemsize is len(content): trailing NUL bytes are kept


def _bytes_to_binary(buffer: Buffer, source: str, target: str) -> Buffer:
    content = buffer.content
    if content.startswith(MAGIC_NUMPY):
        try:
            _value(buffer, "binary")
            return buffer
        except (ValueError, TypeError):
            pass  # not a real .npy after all: it is just bytes
    return _serialized(_bytes_array(content), "binary")


def _bytes_to_mixed(buffer: Buffer, source: str, target: str) -> Buffer:
    from ..celltypes.forms import PURE_PLAIN

    content = buffer.content
    try:
        _, storage = _mixed_parse(content)
    except (ValueError, TypeError):
        storage = None
    if storage == PURE_PLAIN or (
        storage is not None and content.startswith((MAGIC_NUMPY, MAGIC_MIXED))
    ):
        return buffer  # JSON, .npy or a container: already a mixed buffer
    try:
        text = content.decode()
    except UnicodeDecodeError:
        return _serialized(_bytes_array(content), "mixed")
    return _serialized(text.rstrip("\n"), "str")  # text that is not JSON: the same as text -> str


def _plain_to_text(buffer: Buffer, source: str, target: str) -> Buffer:
    value = _value(buffer, "plain")
    if isinstance(value, str):
        return _serialized(value, "text")
    return buffer  # the JSON is the text


def _text_to_plain(buffer: Buffer, source: str, target: str) -> Buffer:
    try:
        _value(buffer, "plain")
        return buffer  # the text is JSON
    except (ValueError, TypeError):
        pass
    return _serialized(_value(buffer, "text"), "plain")


def _text_like_to_text_like(buffer: Buffer, source: str, target: str) -> Buffer:
    return _serialized(_value(buffer, source), target)


def _yaml_to_plain(buffer: Buffer, source: str, target: str) -> Buffer:
    from .._errors import value_error
    from ..celltypes._yaml import YAMLExpansionError, load_yaml

    # Read as text and load once (reading as "yaml" would load it a second time).
    text = _value(buffer, "text")
    try:
        value = load_yaml(text)
    except YAMLExpansionError as exc:
        raise value_error("yaml", f"refused ({exc})", buffer.content) from None
    return _serialized(value, "plain")


def _ipython_to_python(buffer: Buffer, source: str, target: str) -> Buffer:
    from ..celltypes._ipython import ipython_to_python

    code = ipython_to_python(_value(buffer, "ipython"))
    return _serialized(code, "python")  # validates: an invalid cell gives invalid Python


def _to_scalar(value: Any, target: str) -> Buffer:
    # int/float/bool go through the celltypes' own conversions: exact ones pass, lossy ones
    # are refused (or warn where 0.1.4's recorded bytes must be kept)
    return _serialized(str(value) if target == "str" else value, target)


def _builtin(buffer: Buffer, source: str, target: str) -> Buffer:
    return _to_scalar(_value(buffer, source), target)


# -- possible ------------------------------------------------------------------------------------


def _scalar(buffer: Buffer, source: str, target: str) -> Buffer:
    import numpy as np

    if source == "mixed":
        from ..celltypes.forms import PURE_PLAIN

        value, storage = _mixed_parse(buffer.content)
        if target == "str" and storage != PURE_PLAIN:
            raise TypeError("only JSON data converts to str, not arrays")
    else:
        value = _value(buffer, source)
    if isinstance(value, (dict, list, tuple)):
        raise TypeError(f"a {type(value).__name__} has no {target} value")
    if isinstance(value, (np.ndarray, np.generic)) and (value.ndim or value.dtype.fields):
        # bool() would accept any non-empty array; only a single number is one value
        raise TypeError(
            f"an array of dtype {value.dtype} and shape {value.shape} has no {target} value"
        )
    return _to_scalar(value, target)


# -- values --------------------------------------------------------------------------------------


def _json_dtype(dtype: Any) -> bool:
    if dtype.fields is not None:
        return all(_json_dtype(field[0]) for field in dtype.fields.values())
    if dtype.subdtype is not None:
        return _json_dtype(dtype.subdtype[0])
    return dtype.kind in "biufU"


def _binary_to_plain(buffer: Buffer, source: str, target: str) -> Buffer:
    value = _value(buffer, "binary")
    if not _json_dtype(value.dtype):
        raise TypeError(f"arrays of dtype {value.dtype} have no JSON form")
    return _serialized(value.tolist(), "plain")


def _only_strings(value: Any) -> bool:
    if isinstance(value, list):
        return all(_only_strings(item) for item in value)
    return isinstance(value, str)


def _plain_to_binary(buffer: Buffer, source: str, target: str) -> Buffer:
    import numpy as np

    value = _value(buffer, "plain")
    array = np.array(value)
    if array.dtype.hasobject:
        raise TypeError("the value does not form an array of one fixed dtype")
    if array.dtype.kind == "U" and not _only_strings(value):
        # NumPy would silently turn the numbers into strings
        raise TypeError("the value mixes strings with other items")
    return _serialized(array, "binary")


def _to_checksum(buffer: Buffer, source: str, target: str) -> Buffer:
    _value(buffer, source)  # only a valid source has a meaningful checksum to point to
    # get_checksum() registers the buffer, so the new checksum cell can be followed while it lives
    return _serialized(buffer.get_checksum().hex(), "checksum")


def _from_checksum(buffer: Buffer, source: str, target: str) -> Buffer:
    value = _value(buffer, "checksum")
    if isinstance(value, str):
        referenced = Checksum(value).resolve()  # CacheMissError escapes as it is
        _value(referenced, target)
        return referenced
    if target in ("plain", "mixed"):
        # A dict/list of checksums is taken as the JSON it is: no references are followed.
        _value(buffer, target)
        return buffer
    raise TypeError(f"a {type(value).__name__} of checksums converts only to plain or mixed")


def _forbidden(buffer: Buffer, source: str, target: str) -> Buffer:
    raise TypeError("this conversion is forbidden")


_BY_CATEGORY: dict[str, Callable[[Buffer, str, str], Buffer]] = {
    "trivial": _trivial,
    "reinterpret": _reinterpret,
    "possible": _scalar,
    "forbidden": _forbidden,
}

_BY_PAIR: dict[tuple[str, str], Callable[[Buffer, str, str], Buffer]] = {
    ("binary", "bytes"): _array_to_bytes,
    ("mixed", "bytes"): _array_to_bytes,
    ("bytes", "binary"): _bytes_to_binary,
    ("bytes", "mixed"): _bytes_to_mixed,
    ("plain", "text"): _plain_to_text,
    ("text", "plain"): _text_to_plain,
    ("text", "str"): _text_like_to_text_like,
    ("str", "text"): _text_like_to_text_like,
    ("yaml", "plain"): _yaml_to_plain,
    ("ipython", "python"): _ipython_to_python,
    ("binary", "plain"): _binary_to_plain,
    ("plain", "binary"): _plain_to_binary,
}
for _pair in (
    "int>str",
    "float>str",
    "bool>str",
    "int>float",
    "bool>int",
    "float>int",
    "int>bool",
    "float>bool",
    "bool>float",
):
    _source, _, _target = _pair.partition(">")
    _BY_PAIR[_source, _target] = _builtin
for _other in set(CELLTYPES) - {"checksum"}:
    _BY_PAIR[_other, "checksum"] = _to_checksum
    _BY_PAIR["checksum", _other] = _from_checksum


def _runner(source: str, target: str, category: str) -> Callable[[Buffer, str, str], Buffer]:
    return _BY_PAIR.get((source, target)) or _BY_CATEGORY[category]


_unhandled = [pair for pair in pairs_in("reformat", "values") if pair not in _BY_PAIR]
if _unhandled:
    raise RuntimeError(f"conversion engine: no step for {_unhandled}")


# -- the public entry point ----------------------------------------------------------------------


def _checksum_of(buffer: Buffer) -> Checksum:
    try:
        return buffer.checksum
    except AttributeError:
        return Checksum.of(buffer.content)


def _problem(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= _MAX_PROBLEM else text[:_MAX_PROBLEM] + "..."


def _failure(
    checksum: Checksum,
    source: str,
    target: str,
    steps: Sequence[tuple[str, str, str]],
    step_source: str,
    step_target: str,
    problem: str,
    named: tuple[str, str] | None = None,
) -> SeamlessConversionError:
    via = "" if len(steps) == 1 else f" (step {step_source} -> {step_target})"
    shown_source, shown_target = named or (source, target)
    return SeamlessConversionError(
        f"cannot convert {checksum.hex()} from {shown_source!r} to {shown_target!r}{via}: "
        f"{problem}",
        checksum=checksum,
        source=source,
        target=target,
    )


def convert(buffer_or_checksum: Buffer | Checksum | bytes, source: str, target: str) -> Buffer:
    """Convert a buffer (or the buffer of a checksum) from celltype ``source`` to ``target``.

    A Checksum is resolved first (``CacheMissError`` if no buffer is found), even for a trivial
    conversion, which needs the buffer only to return it; a forbidden conversion fails before
    that. Trivial steps do not read the buffer, reinterpret steps parse it once as the target
    and keep it. A conversion that cannot be done raises ``SeamlessConversionError``, with the
    cause chained.
    """
    named = (source, target)  # the names the caller used (aliases included), for messages
    source = normalize_celltype(source)
    target = normalize_celltype(target)
    if isinstance(buffer_or_checksum, Checksum):
        buffer, checksum = None, buffer_or_checksum
    elif isinstance(buffer_or_checksum, Buffer):
        buffer, checksum = buffer_or_checksum, None
    elif isinstance(buffer_or_checksum, (bytes, bytearray, memoryview)):
        buffer, checksum = Buffer(buffer_or_checksum), None
    else:
        raise TypeError(
            "convert() takes a Buffer, a Checksum or bytes, "
            f"not {type(buffer_or_checksum).__name__}"
        )
    steps = primitive_steps(source, target)
    for step_source, step_target, category in steps:
        if category == "forbidden":
            # Known from the celltypes alone: no need to fetch the buffer.
            raise _failure(
                checksum or _checksum_of(cast(Buffer, buffer)),  # one of the two is given
                source,
                target,
                steps,
                step_source,
                step_target,
                "the conversion is forbidden",
                named,
            )
    if buffer is None:
        buffer = cast(Checksum, checksum).resolve()
    original = buffer
    for step_source, step_target, category in steps:
        try:
            buffer = _runner(step_source, step_target, category)(buffer, step_source, step_target)
        except CacheMissError:
            raise
        except Exception as exc:
            raise _failure(
                checksum or _checksum_of(original),
                source,
                target,
                steps,
                step_source,
                step_target,
                _problem(exc),
                named,
            ) from exc
    return buffer


def convert_checksum(checksum: Checksum | str | bytes, source: str, target: str) -> Checksum:
    """The checksum of the conversion of ``checksum``'s buffer from ``source`` to ``target``.

    Identity and trivial conversions keep the checksum and fetch nothing (the buffer need
    not be anywhere); a forbidden one fails at once; every other conversion resolves the
    buffer and runs :func:`convert`.
    """
    checksum = as_checksum(checksum)
    steps = primitive_steps(normalize_celltype(source), normalize_celltype(target))
    if all(category == "trivial" for _, _, category in steps):
        return checksum
    return convert(checksum, source, target).get_checksum()


__all__ = ["SeamlessConversionError", "convert", "convert_checksum"]
