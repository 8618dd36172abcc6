"""seamless_core.errors: every public exception in one module, exported from the package,
and reachable by the import paths it had before (0.1.4 code and the facade use them)."""

from __future__ import annotations

import pickle

import pytest

import seamless_core
from seamless_core import Checksum, errors

PUBLIC = sorted(errors.__all__)

OLD_PATHS = [
    ("seamless_core._errors", "CacheMissError"),
    ("seamless_core._errors", "CelltypeValueError"),
    ("seamless_core._errors", "CelltypeTypeError"),
    ("seamless_core.conversion", "SeamlessConversionError"),
    ("seamless_core.conversion.engine", "SeamlessConversionError"),
    ("seamless_core.stores", "CorruptBufferError"),
    ("seamless_core.stores", "BufferTooLargeError"),
    ("seamless_core.stores", "StoreNotWritableError"),
    ("seamless_core.stores", "StoreUnavailableError"),
    ("seamless_core.stores", "UploadFailedWarning"),
    ("seamless_core.stores.base", "CorruptBufferError"),
    ("seamless_core.stores.base", "BufferTooLargeError"),
    ("seamless_core.stores.upload", "UploadFailedWarning"),
    ("seamless_core.celltypes", "LossyCoercionWarning"),
    ("seamless_core._compression", "DecompressionError"),
    ("seamless_core._compression", "NotRegularFileError"),
    ("seamless_core._compression", "TooLargeError"),
    ("seamless", "CacheMissError"),
]


@pytest.mark.parametrize("name", PUBLIC)
def test_every_error_is_exported_from_the_package(name):
    cls = getattr(errors, name)
    assert issubclass(cls, (Exception, Warning))
    assert getattr(seamless_core, name) is cls
    assert name in seamless_core.__all__


@pytest.mark.parametrize("module, name", OLD_PATHS)
def test_old_import_paths_give_the_same_class(module, name):
    imported = __import__(module, fromlist=[name])
    assert getattr(imported, name) is getattr(errors, name)


def test_no_exception_class_is_defined_outside_errors_unless_private():
    # private ones (a leading underscore) and these internal ones are caught before they
    # reach a user
    internal = {
        "CommandError",
        "MalformedContainer",
        "NotPureJSON",
        "NeedsStandardJSON",
        "YAMLExpansionError",
        "LossyCoercion",
    }
    import importlib
    import pkgutil

    found = set()
    for info in pkgutil.walk_packages(seamless_core.__path__, "seamless_core."):
        if info.name == "seamless_core.errors" or info.name.startswith(
            ("seamless_core.jupyter", "seamless_core.cli")
        ):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
                and not value.__name__.startswith("_")
            ):
                found.add(value.__name__)
    assert found <= internal, found - internal


def test_cache_miss_keeps_its_checksum_through_pickle():
    checksum = Checksum.of(b"x")
    miss = pickle.loads(pickle.dumps(seamless_core.CacheMissError(checksum)))
    assert type(miss) is errors.CacheMissError
    assert miss.checksum == checksum and checksum.hex() in str(miss)
