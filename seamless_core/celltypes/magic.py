"""The first bytes that tell what a binary or mixed buffer holds (no NumPy needed to check)."""

MAGIC_NUMPY = b"\x93NUMPY"  # a .npy array
MAGIC_MIXED = b"\x94SEAMLESS-MIXED"  # the Seamless-mixed container
MAGIC_STREAM = b"\x93SEAMLESS"  # the stream section inside a container
