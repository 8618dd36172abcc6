"""Byte units, named once for the whole package."""

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30

__all__ = ["GIB", "KIB", "MIB"]
