"""The store list: add/remove/list, and configuration by environment variables."""

from __future__ import annotations

import os

import pytest
from helpers.cache import DictStore

from seamless_core import stores
from seamless_core.stores import BufferFolder, HashServer
from seamless_core.stores.environment import folder_paths, stores_from_environment


@pytest.fixture
def environment(monkeypatch):
    """Set store variables for one test; the environment's stores are re-read after it."""
    monkeypatch.delenv("SEAMLESS_BUFFER_FOLDERS", raising=False)
    monkeypatch.delenv("SEAMLESS_HASHSERVER_URLS", raising=False)
    monkeypatch.delenv("SEAMLESS_BUFFER_STORE_URLS", raising=False)
    yield monkeypatch
    monkeypatch.undo()
    stores.reload_environment()


def test_folder_paths_split_on_pathsep_or_whitespace():
    sep = os.pathsep
    assert folder_paths(f"/a{sep}/b c{sep}{sep}") == ["/a", "/b c"]
    assert folder_paths("/a /b\t/c") == ["/a", "/b", "/c"]
    assert folder_paths("~/x") == [os.path.expanduser("~/x")]
    assert folder_paths("  ") == []


def test_environment_stores(tmp_path, environment):
    environment.setenv("SEAMLESS_BUFFER_FOLDERS", f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}")
    environment.setenv("SEAMLESS_HASHSERVER_URLS", "http://127.0.0.1:5813 https://example.org/hs")
    found = stores_from_environment()
    assert [type(s) for s in found] == [BufferFolder, BufferFolder, HashServer, HashServer]
    assert [s.writable for s in found] == [False, False, True, True]
    assert found[0].path == str(tmp_path / "a") and found[3].url == "https://example.org/hs"
    assert not (tmp_path / "a").exists()  # read-only folders are not created


def test_reload_environment_replaces_only_environment_stores(tmp_path, environment):
    mine = stores.add(DictStore())
    environment.setenv("SEAMLESS_HASHSERVER_URLS", "http://127.0.0.1:1")
    first = stores.reload_environment()
    assert [s.url for s in first] == ["http://127.0.0.1:1"]
    assert stores.list()[0] is first[0] and mine in stores.list()
    environment.setenv("SEAMLESS_HASHSERVER_URLS", "http://127.0.0.1:2")
    environment.setenv("SEAMLESS_BUFFER_FOLDERS", str(tmp_path))
    second = stores.reload_environment()
    listed = stores.list()
    assert listed[:2] == second and first[0] not in listed and mine in listed
    assert isinstance(listed[0], BufferFolder) and listed[1].url == "http://127.0.0.1:2"


def test_bad_url_in_the_environment_is_skipped_with_a_warning(environment):
    environment.setenv("SEAMLESS_HASHSERVER_URLS", "nonsense http://127.0.0.1:3")
    with pytest.warns(UserWarning, match="nonsense"):
        found = stores.reload_environment()
    assert [s.url for s in found] == ["http://127.0.0.1:3"]


def test_add_accepts_urls_and_paths(tmp_path):
    server = stores.add("http://127.0.0.1:4/")
    assert isinstance(server, HashServer) and server.writable
    folder = stores.add(tmp_path / "ro")
    assert isinstance(folder, BufferFolder) and not folder.writable
    writable = stores.add(str(tmp_path / "rw"), writable=True)
    assert writable.writable and (tmp_path / "rw").is_dir()
    assert stores.list()[-3:] == [server, folder, writable]
    stores.remove("http://127.0.0.1:4")
    stores.remove(tmp_path / "ro")
    assert stores.list()[-1:] == [writable]
    with pytest.raises(ValueError):
        stores.remove("http://127.0.0.1:4")
    with pytest.raises(TypeError):
        stores.add(DictStore(), writable=True)


def test_upload_targets_exclude_read_only_stores_and_the_spill_folder():
    from seamless_core.cache import get_buffer_cache

    writable, read_only = stores.add(DictStore()), stores.add(DictStore(writable=False))
    spill = stores.add(get_buffer_cache().spill_folder)
    targets = stores.upload_targets()
    assert writable in targets and read_only not in targets and spill not in targets


# -- object stores (fsspec) ------------------------------------------------------------------


def test_object_store_urls_from_the_environment(environment):
    pytest.importorskip("fsspec")
    from seamless_core.stores import FsspecStore

    environment.setenv("SEAMLESS_HASHSERVER_URLS", "http://127.0.0.1:5813")
    environment.setenv("SEAMLESS_BUFFER_STORE_URLS", "memory://env-a  memory://env-b/sub/")
    found = stores.reload_environment()
    assert [type(s) for s in found] == [HashServer, FsspecStore, FsspecStore]
    assert [s.url for s in found[1:]] == ["memory://env-a", "memory://env-b/sub"]
    assert all(s.writable for s in found)
    assert stores.list()[:3] == found


def test_unknown_object_store_protocol_is_skipped_with_a_warning(environment):
    pytest.importorskip("fsspec")
    environment.setenv("SEAMLESS_BUFFER_STORE_URLS", "nosuchprotocol://x memory://env-c")
    with pytest.warns(UserWarning, match="nosuchprotocol"):
        found = stores.reload_environment()
    assert [s.url for s in found] == ["memory://env-c"]


def test_add_accepts_object_store_urls():
    pytest.importorskip("fsspec")
    from seamless_core.stores import FsspecStore

    store = stores.add("memory://added/")
    assert isinstance(store, FsspecStore) and store.writable
    reader = stores.add("memory://added-ro", writable=False)
    assert not reader.writable and reader in stores.list()
    stores.remove("memory://added")
    stores.remove(reader)
    assert store not in stores.list() and reader not in stores.list()


def test_fsspec_is_imported_only_when_an_object_store_is_made(fresh_python):
    code = (
        "import sys, seamless_core\n"
        "from seamless_core import stores\n"
        "stores.list()\n"
        "assert 'fsspec' not in sys.modules, 'imported by the package'\n"
        "stores.FsspecStore('memory://x')\n"
        "assert 'fsspec' in sys.modules\n"
    )
    fresh_python(code)


def test_missing_fsspec_is_one_clear_line(fresh_python):
    code = (
        "import sys, warnings\n"
        "sys.modules['fsspec'] = None  # as if not installed\n"
        "from seamless_core import stores\n"
        "try:\n"
        "    stores.FsspecStore('s3://bucket')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
        "import os\n"
        "os.environ['SEAMLESS_BUFFER_STORE_URLS'] = 'memory://x'\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    assert stores.reload_environment() == []\n"
        "print(caught[0].message)\n"
    )
    lines = fresh_python(code).stdout.splitlines()
    assert lines[0] == "FsspecStore needs fsspec: pip install 'seamless-core[fsspec]'"
    assert "SEAMLESS_BUFFER_STORE_URLS" in lines[1] and "seamless-core[fsspec]" in lines[1]


def test_missing_backend_names_the_extra(fresh_python):
    code = (
        "import sys\n"
        "sys.modules['s3fs'] = None  # fsspec here, s3fs not\n"
        "from seamless_core import stores\n"
        "try:\n"
        "    stores.FsspecStore('s3://bucket')\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert "pip install 'seamless-core[s3]'" in fresh_python(code).stdout


def test_a_folder_that_declines_uploads_is_no_upload_target(tmp_path):
    declining = stores.add(BufferFolder(tmp_path / "d", writable=True, upload_target=False))
    accepting = stores.add(BufferFolder(tmp_path / "a", writable=True))
    assert not stores.is_upload_target(declining) and stores.is_upload_target(accepting)
    targets = stores.upload_targets()
    assert declining not in targets and accepting in targets


def test_a_folder_given_as_spill_folder_is_no_upload_target(tmp_path):
    from seamless_core.cache import BufferCache

    folder = BufferFolder(tmp_path / "spill", writable=True)
    BufferCache(spill_folder=folder)
    assert folder.upload_target is False
    assert folder not in stores.upload_targets()


def test_the_registry_names_the_remote_module_the_bridge_reads():
    # the registry checks for it without importing the bridge
    from seamless_core.stores import registry, remote

    assert registry._REMOTE_MODULE == remote.BUFFER_REMOTE_MODULE
