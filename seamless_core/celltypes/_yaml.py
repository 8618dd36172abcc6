"""Reading YAML safely: a safe loader only, and a bound on what aliases expand to.

A YAML alias (``*name``) makes a second reference to an already built value, so a few hundred
bytes can describe a value of billions of nodes ("billion laughs"). Loading stays small (the
references are shared), but anything that walks the value as a tree (JSON, a copy) expands it.
:func:`load_yaml` measures the expanded size without expanding (each shared node is sized once)
and refuses values that would expand far beyond the document, or that contain themselves.
"""

from __future__ import annotations

from typing import Any

#: The expanded value may be this many times larger than the document, with a floor that lets
#: small documents use aliases freely. Sizes are in JSON-ish bytes.
EXPANSION_FACTOR = 16
EXPANSION_FLOOR = 16 << 20


class YAMLExpansionError(ValueError):
    """A YAML document whose aliases expand to a value far larger than itself."""


def safe_loader() -> type:
    """PyYAML's C safe loader when it is built, else the pure-Python one (same values)."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _scalar_size(value: Any) -> int:
    if isinstance(value, (str, bytes)):
        return len(value) + 2
    return 8


def expanded_size(value: Any, limit: int) -> int:
    """The size ``value`` has when written out as a tree, stopping once past ``limit``.

    Raises YAMLExpansionError for a value that contains itself.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    # Iterative post-order walk: (node, children visited?)
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        node, done = stack.pop()
        if not isinstance(node, (list, dict)):
            continue
        key = id(node)
        if done:
            children = node.items() if isinstance(node, dict) else ((None, v) for v in node)
            total = 2
            for k, child in children:
                if k is not None:
                    total += _scalar_size(k) + 2
                total += (
                    sizes[id(child)] if isinstance(child, (list, dict)) else _scalar_size(child)
                )
                if total > limit:
                    raise YAMLExpansionError(f"aliases expand to more than {limit:,} bytes")
            sizes[key] = total
            active.discard(key)
            continue
        if key in sizes:
            continue
        if key in active:
            raise YAMLExpansionError("the value contains itself (a recursive alias)")
        active.add(key)
        stack.append((node, True))
        items = node.values() if isinstance(node, dict) else node
        for child in items:
            if isinstance(child, (list, dict)):
                if id(child) in active:
                    raise YAMLExpansionError("the value contains itself (a recursive alias)")
                if id(child) not in sizes:
                    stack.append((child, False))
    return sizes.get(id(value), _scalar_size(value))


def load_yaml(text: str, *, bounded: bool = True) -> Any:
    """The value of a YAML document, with a safe loader.

    ``bounded`` refuses alias bombs and cycles; validation alone does not need it (the loaded
    value shares its repeated parts, it is only walking it as a tree that expands them).
    """
    import yaml

    # CSafeLoader or SafeLoader: neither builds arbitrary objects
    value = yaml.load(text, Loader=safe_loader())  # noqa: S506  # safe: a safe loader only
    if not bounded:
        return value
    limit = max(EXPANSION_FLOOR, EXPANSION_FACTOR * len(text))
    expanded_size(value, limit)
    return value


__all__ = ["EXPANSION_FACTOR", "EXPANSION_FLOOR", "YAMLExpansionError", "load_yaml", "safe_loader"]
