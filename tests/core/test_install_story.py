"""How this package is installed: the README and docs say it, the license ships, `make test`
warns before it installs Chromium."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parent.parent.parent


def _extras() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return sorted(project["optional-dependencies"])


@pytest.mark.parametrize("page", ["README.md", "docs/index.md"])
def test_install_story_is_told(page):
    text = (ROOT / page).read_text()
    flat = " ".join(text.split())
    assert "0.1.4" in flat and "pip install seamless-core" in flat  # what PyPI gives
    assert "python -m build" in flat and 'pip install ".[jupyter]"' in flat
    assert "replaces the other" in flat and "import seamless" in flat
    for extra in _extras():
        assert f"`{extra}`" in text, f"{page} does not mention the {extra!r} extra"


def test_readme_starts_with_make_lab_and_make_test():
    head = (ROOT / "README.md").read_text().split("\n\n", 2)[1]
    assert "make lab" in head and "make test" in head


def test_license_metadata_is_spdx():
    text = (ROOT / "pyproject.toml").read_text()
    pyproject = tomllib.loads(text)
    assert pyproject["project"]["license"] == "MIT"
    assert pyproject["project"]["license-files"] == ["LICENSE"]
    assert "setuptools>=77" in pyproject["build-system"]["requires"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


@pytest.mark.slow
def test_wheel_and_sdist_ship_the_license_without_deprecation_warnings(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "build", "-o", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    output = build.stdout + build.stderr
    warned = [line for line in output.splitlines() if re.search(r"deprecat", line, re.I)]
    assert not [line for line in warned if "license" in line.lower()], warned
    assert "SetuptoolsDeprecationWarning" not in output, warned
    (wheel,) = tmp_path.glob("*.whl")
    (sdist,) = tmp_path.glob("*.tar.gz")
    license_text = (ROOT / "LICENSE").read_bytes()
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (shipped,) = [name for name in names if name.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(shipped) == license_text
        (metadata,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        headers = archive.read(metadata).decode()
    assert "License-Expression: MIT\n" in headers and "License-File: LICENSE\n" in headers
    with tarfile.open(sdist) as archive:
        (member,) = [m for m in archive.getmembers() if m.name.endswith("/LICENSE")]
        assert archive.extractfile(member).read() == license_text


def _make(*arguments: str) -> list[str]:
    done = subprocess.run(
        ["make", "-n", "-C", str(ROOT), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.splitlines()


@pytest.mark.parametrize("target", ["test", "test-browser"])
def test_make_says_before_it_installs_chromium(target):
    lines = _make(target, "CHROMIUM=/nonexistent/chromium", "STAMP=")
    (browser,) = [i for i, line in enumerate(lines) if re.search(r"pytest tests/browser\b", line)]
    note = lines[browser - 1]
    assert note.startswith("test -x /nonexistent/chromium || echo ")
    # the shell line, run: what the reader sees
    shown = subprocess.run(["sh", "-c", note], capture_output=True, text=True).stdout
    assert "/nonexistent/chromium is missing" in shown and "apt-get" in shown
    assert "make test SKIP_BROWSER=1" in shown


def test_make_test_can_skip_the_browser_tests():
    lines = _make("test", "SKIP_BROWSER=1", "STAMP=")
    assert not [line for line in lines if re.search(r"pytest tests/browser\b", line)]
    assert any("browser tests skipped" in line for line in lines)


def test_every_environment_variable_is_documented():
    root = Path(__file__).resolve().parent.parent.parent
    source = "\n".join(p.read_text() for p in (root / "seamless_core").rglob("*.py"))
    variables = set(re.findall(r'"(SEAMLESS_[A-Z_]+)"', source))
    documented = (root / "docs" / "configuration.md").read_text()
    assert variables, "no variables found: the pattern is wrong"
    assert sorted(v for v in variables if f"`{v}`" not in documented) == []
