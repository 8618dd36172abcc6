"""0.1.4's ``seamless.util.mount_directory``, from seamless_core."""

from seamless_core.legacy import write_to_directory

__all__ = ["write_to_directory"]
