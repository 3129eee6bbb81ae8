"""What the review app's browser tests share: the app under uvicorn, headless Chromium, screenshots, axe.

Nothing is downloaded: the browser and the driver are the system's and axe-core is the
copy ``scripts/install-browser.sh`` keeps in the user cache (checked against its sha256
there). Without them a test is skipped on a developer's machine and fails under CI
(``CI`` set), where the script has run.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("GOALMATCH_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("GOALMATCH_CHROMEDRIVER", "/usr/bin/chromedriver"))
AXE_VERSION = "4.10.3"  # scripts/install-browser.sh's AXE_VERSION
AXE_DIR = Path(os.environ.get("GOALMATCH_AXE_DIR") or Path(
    os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "goalmatch" / f"axe-core-{AXE_VERSION}")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--lang=sv-SE")
WAIT_S = 20


def missing(what: str) -> None:
    """Skip on a developer's machine; under CI a missing browser is a failure, not a skip."""
    message = f"{what}; install it with: bash scripts/install-browser.sh"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on a free port of 127.0.0.1, in a background thread; yields its base URL."""
    uvicorn = pytest.importorskip("uvicorn")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # a free port, held from here on: no race with another process
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off",
                                           access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-e2e", daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the app did not start under uvicorn")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def chromium(profile: Path, downloads: Path, *, width: int = 1280, height: int = 1400) -> Iterator[Any]:
    """Headless Chromium through Selenium, offline, downloading into ``downloads``."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        missing(f"headless Chromium needs {CHROMIUM} and {CHROMEDRIVER}")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("the browser test needs the Python package selenium")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a browser or a driver
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_S)
    downloads.mkdir(parents=True, exist_ok=True)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, folder: Path, name: str) -> Path:
    """A PNG of the page in ``folder`` and, when ``GOALMATCH_SCREENSHOT_DIR`` is set, there too."""
    path = folder / name
    assert driver.save_screenshot(str(path)), "Chromium took no screenshot"
    extra = os.environ.get("GOALMATCH_SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / name)
    return path


def wait_for_file(path: Path) -> Path:
    deadline = time.monotonic() + WAIT_S
    while not path.is_file():
        assert time.monotonic() < deadline, f"no download {path.name} in {path.parent}: {os.listdir(path.parent)}"
        time.sleep(0.1)
    return path


def axe_violations(driver: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of the page shown, of the given impacts, one line each (rule: targets)."""
    source = AXE_DIR / "axe.min.js"
    if not source.is_file():
        missing(f"the accessibility check needs axe-core {AXE_VERSION} in {AXE_DIR}")
    driver.execute_script(source.read_text(encoding="utf-8"))  # through the driver: the page's CSP does not apply
    driver.set_script_timeout(WAIT_S)
    result = driver.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(function (r) { done(r.violations); },"
        " function (e) { done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]); });")
    return [f"{v['id']} ({v['impact']}): {v.get('help', '')}: "
            + ", ".join(str(n.get("target")) for n in v.get("nodes", [])[:5])
            for v in result if v.get("impact") in impacts]
