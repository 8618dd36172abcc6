"""Fixtures for the browser tests: Chromium, Playwright, a JupyterLab server.

What is missing is installed: Debian's ``chromium`` (``apt-get``, as root) and the
``playwright`` Python package (``pip``, into this interpreter; it is only used to drive
the system Chromium, never to download browsers). A test is skipped, with the reason,
only when Chromium truly cannot be had.

The server runs on 127.0.0.1 with a random token and port, a temporary root directory,
temporary Jupyter config/settings/workspace/runtime folders and every network feature
(news, update checks, extension manager) off; it is shut down at teardown, kernels
included.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]
SERVER_START_TIMEOUT = 120.0  # seconds
REPO = Path(__file__).resolve().parents[2]


def _log(message: str) -> None:
    sys.stderr.write(f"[browser tests] {message}\n")


# -- Chromium and Playwright ----------------------------------------------------------------------


def _chromium_version(path: str) -> str | None:
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _install_chromium() -> str:
    """Install Debian's chromium; returns what went wrong, or '' on success."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available"
    if os.geteuid() != 0:
        return "installing it needs root (apt-get install -y chromium)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "chromium"]
    _log("installing chromium with apt-get (once)")
    for attempt in (install, ["apt-get", "update"], install):
        try:
            result = subprocess.run(
                attempt, capture_output=True, text=True, timeout=900, env=env, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(attempt)} failed: {exc}"
        if attempt is install and result.returncode == 0:
            return ""
        last = result.stderr.strip().splitlines()[-3:]
    return "apt-get install chromium failed: " + " / ".join(last)


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    if not os.path.exists(CHROMIUM):
        problem = _install_chromium()
        if problem and not os.path.exists(CHROMIUM):
            pytest.skip(f"Chromium ({CHROMIUM}) is missing and cannot be installed: {problem}")
    version = _chromium_version(CHROMIUM)
    if version is None:
        pytest.skip(f"{CHROMIUM} is installed but does not run (`{CHROMIUM} --version` failed)")
    _log(version)
    return CHROMIUM


def _ensure_module(module: str, requirement: str) -> None:
    try:
        importlib.import_module(module)
        return
    except ImportError:
        pass
    _log(f"installing {requirement} with pip (once)")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", requirement],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    importlib.invalidate_caches()
    try:
        importlib.import_module(module)
    except ImportError:
        pytest.fail(
            f"{requirement} is missing and `pip install {requirement}` failed:\n"
            + result.stderr[-2000:],
            pytrace=False,
        )


@pytest.fixture(scope="module")
def browser(chromium_executable):
    """A headless Chromium driven by Playwright.

    Module-scoped: Playwright's sync API runs an event loop in this thread until it stops,
    which would break every later test that calls ``asyncio.run``.
    """
    _ensure_module("playwright.sync_api", "playwright")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


# -- JupyterLab -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_settings(settings_dir: Path, theme: str) -> None:
    """User settings: the theme, no news or update checks, no extension manager, and a
    notebook that renders every cell (no virtual scrolling)."""
    settings = {
        "@jupyterlab/apputils-extension/themes": {"theme": theme, "adaptive-theme": False},
        "@jupyterlab/apputils-extension/notification": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/announcements": {"fetchNews": "false"},
    }
    for name, values in settings.items():
        path = settings_dir / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2), "utf-8")


class JupyterLab:
    """A running JupyterLab server."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.home = home
        self.token = secrets.token_hex(16)
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log_path = home / "jupyterlab.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        separator = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{separator}token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def start(self) -> None:
        settings = self.home / "lab-settings"
        _write_settings(settings, "JupyterLab Light")
        env = dict(
            os.environ,
            JUPYTER_CONFIG_DIR=str(self.home / "config"),
            JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(self.home / "workspaces"),
            JUPYTER_PLATFORM_DIRS="1",
            PYTHONUNBUFFERED="1",
        )
        env.pop("JUPYTER_TOKEN", None)
        for attempt in range(3):
            self.port = _free_port()
            command = [
                sys.executable,
                "-m",
                "jupyterlab",
                "--no-browser",
                "--ServerApp.open_browser=False",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}",
                "--ServerApp.terminals_enabled=False",
                "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.expose_app_in_browser=True",
                "--LabApp.extension_manager=readonly",
                "--LanguageServerManager.autodetect=False",
            ]
            if os.geteuid() == 0:
                command.append("--ServerApp.allow_root=True")
            log = open(self.log_path, "ab")  # noqa: SIM115 - closed at stop
            self.process = subprocess.Popen(
                command,
                cwd=self.root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            log.close()
            if self._wait_ready():
                return
            self.stop()
            _log(f"JupyterLab did not start on port {self.port} (attempt {attempt + 1})")
        pytest.fail(
            "JupyterLab did not start; last lines of its log:\n" + self.log_tail(), pytrace=False
        )

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=5) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        return False

    def request(self, method: str, path: str, body: dict | None = None) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url(path),
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            # Ask politely first: the server shuts its kernels down.
            with contextlib.suppress(Exception):
                self.request("POST", "api/shutdown")
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(20)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if process.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        # Kernels left in the server's process group, if any.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory, chromium_executable):
    """A JupyterLab server whose root is a temporary folder."""
    _ensure_module("jupyterlab", "jupyterlab")
    _ensure_module("ipywidgets", "ipywidgets")
    home = tmp_path_factory.mktemp("jupyter-home")
    root = tmp_path_factory.mktemp("jupyter-root")
    lab = JupyterLab(root, home)
    lab.start()
    try:
        yield lab
    finally:
        lab.stop()


# -- the documentation site -------------------------------------------------------------------

DOCS_BUILD_TIMEOUT = 1200  # seconds: Sphinx, and the tutorials run once on a loaded machine
# The `docs` extra of pyproject.toml (installed when missing, as Playwright is).
DOCS_REQUIREMENTS = {"sphinx": "sphinx>=7.2", "myst_nb": "myst-nb>=1.1", "furo": "furo>=2024.1"}


@pytest.fixture(scope="session")
def docs_site(tmp_path_factory) -> Path:
    """The documentation site as ``make docs`` builds it, into a temporary folder; returns
    the folder of its HTML.

    The tutorials run once at build time (``nb_execution_mode=force``) instead of rendering
    their stored outputs, so that the pages show the views as this checkout renders them
    (stored outputs are only refreshed by ``make notebooks``). The build works on a copy of
    ``docs/`` and ``notebooks/``: the working tree stays as it was.
    """
    for module, requirement in DOCS_REQUIREMENTS.items():
        _ensure_module(module, requirement)
    root = tmp_path_factory.mktemp("docs-site")
    shutil.copytree(
        REPO / "docs", root / "docs", ignore=shutil.ignore_patterns("_build", "tutorials")
    )
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    html = root / "html"
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-q",
        "-b",
        "html",
        "-D",
        "nb_execution_mode=force",
        "-D",
        "nb_execution_raise_on_error=1",
        "-d",
        str(root / "doctrees"),
        str(root / "docs"),
        str(html),
    ]
    _log("building the documentation site (the tutorials run once)")
    result = subprocess.run(
        command,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=DOCS_BUILD_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0 or not (html / "index.html").exists():
        pytest.fail(
            f"the documentation build failed ({result.returncode}):\n" + result.stderr[-3000:],
            pytrace=False,
        )
    return html
