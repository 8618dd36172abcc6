"""Optional dependencies: import them on first use, and say which extra brings them.

A missing optional package is one of the commonest first-run problems; the bare
``ModuleNotFoundError: No module named 'ipywidgets'`` does not say that seamless-core has an
extra for it. :func:`require` raises :class:`MissingDependency` instead, whose one-line
message names the feature, the package and the ``pip install`` command.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependency


def install_hint(extra: str) -> str:
    """The command that installs seamless-core with ``extra``."""
    return f'pip install "seamless-core[{extra}]"'


def missing_message(module: str, extra: str, feature: str) -> str:
    """``<feature> needs <package>, which is not installed: pip install "seamless-core[x]"``"""
    package = module.split(".", 1)[0]
    return f"{feature} needs {package}, which is not installed: {install_hint(extra)}"


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` and return it, or raise :class:`MissingDependency` naming
    ``feature`` (what needs it, e.g. ``"seamless_core.dashboard()"``) and the ``extra`` of
    seamless-core that installs it.

    Only a missing ``module`` (or a missing package it needs) becomes MissingDependency;
    any other error while importing it propagates unchanged, as it is a real bug to see.
    """
    try:
        return importlib.import_module(module)
    except MissingDependency:
        raise
    except ModuleNotFoundError as exc:
        error = MissingDependency(missing_message(exc.name or module, extra, feature))
        error.name = exc.name or module
        raise error from exc


__all__ = ["MissingDependency", "install_hint", "missing_message", "require"]
