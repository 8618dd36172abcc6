"""``%config SeamlessCache``: the process-wide buffer cache's knobs as IPython configuration.

``%load_ext seamless_core`` registers a :class:`SeamlessCache` with the shell, so that

    %config SeamlessCache.soft_cap = "8GiB"

changes the live cache, and ``ipython_config.py`` can set the same traits (with the
extension loaded there too)::

    c.InteractiveShellApp.extensions = ["seamless_core"]
    c.SeamlessCache.soft_cap = "8GiB"
    c.SeamlessCache.hard_cap = "16GiB"

A trait left at ``None`` leaves the cache's own value (its default, or the environment's)
alone. Values are checked when set: a bad size or a soft cap above the hard cap is an error
and changes nothing. Setting the two caps in one configuration file applies them together.
"""

from __future__ import annotations

from typing import Any

from traitlets import Float, Int, TraitError, Unicode, Union, observe, validate
from traitlets.config import Configurable

from ..cache import get_buffer_cache, parse_size
from ..cache.settings import check_caps


class SeamlessCache(Configurable):
    """The knobs of the process-wide :class:`~seamless_core.cache.BufferCache`."""

    soft_cap = Union(
        [Int(), Unicode()],
        allow_none=True,
        default_value=None,
        help="Bytes of strong buffers at or below which nothing is evicted ('8GiB', '512 MB').",
    ).tag(config=True)
    hard_cap = Union(
        [Int(), Unicode()],
        allow_none=True,
        default_value=None,
        help="Bytes of strong buffers above which eviction is mandatory ('16GiB').",
    ).tag(config=True)
    benefit_per_gb = Float(
        None, allow_none=True, help="Units gained per GiB freed between the caps."
    ).tag(config=True)
    eviction_interval = Float(
        None, allow_none=True, help="Seconds between background passes above the soft cap."
    ).tag(config=True)
    spill_folder = Unicode(
        None,
        allow_none=True,
        help="Where buffers nothing else could bring back are written before eviction "
        "('off' disables spilling).",
    ).tag(config=True)

    # Values are checked before they are taken (a refused one leaves the trait as it was);
    # in a configuration file both caps are set first and then checked together.

    @validate("soft_cap", "hard_cap")
    def _valid_cap(self, proposal: Any) -> int | None:
        value, name = proposal["value"], proposal["trait"].name
        if value is None:
            return None
        try:
            size = parse_size(value, f"SeamlessCache.{name}")
        except (TypeError, ValueError) as exc:
            raise TraitError(str(exc)) from None
        cache = get_buffer_cache()
        soft = size if name == "soft_cap" else _given(self.soft_cap, cache.soft_cap)
        hard = size if name == "hard_cap" else _given(self.hard_cap, cache.hard_cap)
        try:
            check_caps(soft, hard)
        except ValueError as exc:
            raise TraitError(f"SeamlessCache.{name}: {exc}") from None
        return size

    @validate("benefit_per_gb", "eviction_interval")
    def _valid_number(self, proposal: Any) -> float | None:
        value, name = proposal["value"], proposal["trait"].name
        if value is not None and not (value > 0 or (value == 0 and name == "benefit_per_gb")):
            raise TraitError(f"SeamlessCache.{name} must be a positive number, got {value!r}")
        return value

    @observe("soft_cap", "hard_cap")
    def _caps_changed(self, change: Any) -> None:
        get_buffer_cache().set_caps(soft_cap=self.soft_cap, hard_cap=self.hard_cap)

    @observe("benefit_per_gb", "eviction_interval")
    def _number_changed(self, change: Any) -> None:
        if change["new"] is not None:
            setattr(get_buffer_cache(), change["name"], change["new"])

    @observe("spill_folder")
    def _spill_folder_changed(self, change: Any) -> None:
        value = change["new"]
        if value is None or self._reverting:
            return
        off = value.strip().lower() in ("", "0", "off", "none", "no", "false", "disabled")
        try:
            get_buffer_cache().spill_folder = None if off else value
        except (OSError, ValueError) as exc:
            # The cache refused it (see BufferCache.spill_folder): show what is in effect.
            self._reverting = True
            try:
                self.set_trait("spill_folder", change["old"])
            finally:
                self._reverting = False
            raise TraitError(f"SeamlessCache.spill_folder: {exc}") from None

    _reverting = False


def _given(value: int | None, current: int) -> int:
    return current if value is None else value


def register(ipython: Any) -> SeamlessCache | None:
    """Make ``%config SeamlessCache`` reach the process-wide cache in ``ipython``, applying
    what the shell's configuration (``ipython_config.py``) says. Once per shell; ``None``
    for a shell without configurables (no ``%config`` there)."""
    configurables = getattr(ipython, "configurables", None)
    if configurables is None:
        return None
    for configurable in configurables:
        if isinstance(configurable, SeamlessCache):
            return configurable
    configurable = SeamlessCache(parent=ipython)
    configurables.append(configurable)
    return configurable
