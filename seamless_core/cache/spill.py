"""Where the buffer cache spills buffers that nothing else could bring back.

The spill folder is an ordinary writable :class:`~seamless_core.stores.BufferFolder`. Its
location comes from the ``spill_folder`` argument of ``BufferCache``, else from
``$SEAMLESS_SPILL_FOLDER`` (``off``, ``none``, ``0`` or empty disable spilling), else it is
``<system temp dir>/seamless-spill-<uid>``, created private to the user.

``$SEAMLESS_SPILL_SIZE_LIMIT`` (bytes, or a size such as ``20GiB``) bounds the folder the
cache opens: past it, the buffers the cache no longer references are removed, least valuable
first (the cache is the folder's retention advisor; referenced buffers are never removed).
"""

from __future__ import annotations

import getpass
import os
import tempfile
from typing import Any

from .._units import parse_size
from ..stores.folder import BufferFolder, RetentionAdvisor

SPILL_FOLDER_ENV = "SEAMLESS_SPILL_FOLDER"
SPILL_SIZE_LIMIT_ENV = "SEAMLESS_SPILL_SIZE_LIMIT"
_OFF_WORDS = frozenset({"", "0", "off", "none", "no", "false", "disabled"})


class _FromEnvironment:
    def __repr__(self) -> str:
        return "<$SEAMLESS_SPILL_FOLDER, else the system temp directory>"


FROM_ENVIRONMENT: Any = _FromEnvironment()


def default_spill_path() -> str:
    """``<system temp dir>/seamless-spill-<user id>``."""
    try:
        owner = str(os.getuid())
    except AttributeError:  # pragma: no cover - Windows
        owner = getpass.getuser()
    return os.path.join(tempfile.gettempdir(), f"seamless-spill-{owner}")


class SpillSetting:
    """What a cache spills to: ``path`` (``None`` when disabled) and, once opened,
    ``folder``. ``shared`` marks the default location in the shared temp directory."""

    def __init__(
        self, spill_folder: Any = FROM_ENVIRONMENT, advisor: RetentionAdvisor | None = None
    ) -> None:
        self.folder: BufferFolder | None = None
        self.advisor = advisor  # what a size-limited spill folder asks before removing
        self.path: str | None
        self.shared = False
        if spill_folder is FROM_ENVIRONMENT:
            value = os.environ.get(SPILL_FOLDER_ENV)
            if value is None:
                self.path, self.shared = default_spill_path(), True
            elif value.strip().lower() in _OFF_WORDS:
                self.path = None
            else:
                self.path = os.path.expanduser(value)
        elif spill_folder is None or spill_folder is False:
            self.path = None
        elif isinstance(spill_folder, BufferFolder):
            if not spill_folder.writable:
                raise ValueError(f"the spill folder must be writable: {spill_folder!r}")
            # what is spilled is kept there alone: uploads to every store skip it
            spill_folder.upload_target = False
            if advisor is not None:
                spill_folder.set_retention(advisor)
            self.folder, self.path = spill_folder, spill_folder.path
        else:
            self.path = os.fspath(spill_folder)

    def open(self) -> BufferFolder:
        """Create (if needed) and open the folder, with the size limit of the environment
        and the advisor (the cache) deciding what a size-limited folder may remove;
        ``OSError`` if it cannot be used, ``ValueError`` for a bad size limit."""
        if self.folder is None:
            if self.path is None:
                raise OSError("spilling is disabled")
            limit = os.environ.get(SPILL_SIZE_LIMIT_ENV, "").strip()
            size_limit = parse_size(limit, SPILL_SIZE_LIMIT_ENV) if limit else None
            if self.shared:
                _private_directory(self.path)
            self.folder = BufferFolder(
                self.path, writable=True, upload_target=False, size_limit=size_limit
            )
            if self.advisor is not None:
                self.folder.set_retention(self.advisor)
        return self.folder


def _private_directory(path: str) -> None:
    # Every user can write to the temp directory: make sure the folder is ours and closed
    # to others before putting anything in it.
    os.makedirs(path, mode=0o700, exist_ok=True)
    if hasattr(os, "getuid") and os.stat(path).st_uid != os.getuid():
        raise PermissionError(f"{path} belongs to another user")
