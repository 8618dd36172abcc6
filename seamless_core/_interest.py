"""A tempref's defaults, named once: ``Buffer.tempref``, ``Checksum.tempref`` and the buffer
cache take them (this module sits below all three, so their signatures can name them).

128 units of interest, halving every 2 seconds: gone after 28 s.
"""

DEFAULT_TEMPREF_INTEREST = 128.0
DEFAULT_FADE_FACTOR = 2.0
DEFAULT_FADE_INTERVAL = 2.0

__all__ = ["DEFAULT_FADE_FACTOR", "DEFAULT_FADE_INTERVAL", "DEFAULT_TEMPREF_INTEREST"]
