"""0.1.4's ``seamless.checksum.calculate_checksum``, from seamless_core."""

from seamless_core.legacy import (
    TRIVIAL_CHECKSUMS,
    calculate_checksum,
    calculate_dict_checksum,
    calculate_file_checksum,
)

__all__ = [
    "TRIVIAL_CHECKSUMS",
    "calculate_checksum",
    "calculate_dict_checksum",
    "calculate_file_checksum",
]
