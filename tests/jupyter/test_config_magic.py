"""``%config SeamlessCache``: the cache's knobs from a real IPython shell, and from an
``ipython_config.py`` in a fresh IPython process."""

from __future__ import annotations

import os
import textwrap

import pytest
from IPython.utils.capture import capture_output

from seamless_core.cache import get_buffer_cache

GIB, MIB = 1024**3, 1024**2


@pytest.fixture
def configurable(shell):
    """The shell's SeamlessCache, with its traits back at "unset" afterwards."""
    from seamless_core.jupyter.config import SeamlessCache

    (found,) = [c for c in shell.configurables if isinstance(c, SeamlessCache)]
    yield found
    for name in found.trait_names(config=True):
        found.set_trait(name, None)


def config(shell, line):
    """Run ``%config line`` as a cell; returns what the shell printed (errors included)."""
    with capture_output() as captured:
        shell.run_cell(f"%config {line}")
    return captured.stdout + captured.stderr


def test_config_changes_the_live_cache(shell, configurable):
    cache = get_buffer_cache()
    config(shell, 'SeamlessCache.soft_cap = "1GiB"')
    assert cache.soft_cap == GIB
    config(shell, "SeamlessCache.hard_cap = 2 * 1024**3")
    assert cache.hard_cap == 2 * GIB
    config(shell, "SeamlessCache.benefit_per_gb = 7.5")
    assert cache.benefit_per_gb == 7.5
    config(shell, "SeamlessCache.eviction_interval = 0.25")
    assert cache.eviction_interval == 0.25


def test_config_refuses_bad_values_and_changes_nothing(shell, configurable, caplog):
    cache = get_buffer_cache()
    config(shell, 'SeamlessCache.soft_cap = "512MiB"')
    with caplog.at_level("ERROR"):
        config(shell, 'SeamlessCache.soft_cap = "lots"')
        config(shell, 'SeamlessCache.hard_cap = "100 MiB"')  # below the soft cap
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "SeamlessCache.soft_cap" in messages and "'lots'" in messages
    assert "must not exceed the hard cap" in messages
    assert (cache.soft_cap, configurable.soft_cap) == (512 * MIB, 512 * MIB)
    assert configurable.hard_cap is None


def test_config_spill_folder(shell, configurable, tmp_path):
    config(shell, f"SeamlessCache.spill_folder = {str(tmp_path / 'spill')!r}")
    assert get_buffer_cache().spill_path == str(tmp_path / "spill")
    config(shell, 'SeamlessCache.spill_folder = "off"')
    assert get_buffer_cache().spill_path is None


def test_config_lists_the_knobs(shell, configurable):
    shown = config(shell, "SeamlessCache")
    for name in ("soft_cap", "hard_cap", "benefit_per_gb", "eviction_interval", "spill_folder"):
        assert f"SeamlessCache.{name}" in shown


def test_ipython_config_file(fresh_python, tmp_path):
    profile = tmp_path / "profile_test"
    profile.mkdir()
    (profile / "ipython_config.py").write_text(
        textwrap.dedent(
            """
            c.InteractiveShellApp.extensions = ["seamless_core"]
            c.SeamlessCache.hard_cap = "3GiB"
            c.SeamlessCache.soft_cap = "2GiB"
            c.SeamlessCache.benefit_per_gb = 4.0
            """
        )
    )
    cell = (
        "from seamless_core.cache import get_buffer_cache as g; c = g(); "
        "print('caps', c.soft_cap, c.hard_cap, c.benefit_per_gb)"
    )
    code = (
        "from IPython import start_ipython\n"
        f"start_ipython(argv=['--profile-dir', {str(profile)!r}, '--no-banner', '-c', {cell!r}])\n"
    )
    env = dict(os.environ, IPYTHONDIR=str(tmp_path / "ipythondir"))
    done = fresh_python(code, env=env)
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("caps")]
    assert line.split()[1:] == [str(2 * GIB), str(3 * GIB), "4.0"]
