"""The screenshot of the review app in docs/review-app.md: the shipped model on examples/ansokan-bredband.txt.

    bash scripts/install-browser.sh            # Debian's chromium + chromium-driver, once
    python scripts/screenshot_review.py        # writes docs/review-app.png

Starts the app under uvicorn on a free port of 127.0.0.1 (SQLite in a temporary folder),
stores the example application with the real model's suggestions (``goalmatch.load()``),
signs in with headless Chromium (Selenium, no Selenium Manager downloads) and saves the
application page, with its highlighted evidence, as a PNG.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--lang=sv-SE", "--hide-scrollbars")
USER, PASSWORD = "anna", "skarmbild-0123456789"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", type=Path, default=REPO / "examples" / "ansokan-bredband.txt")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "review-app.png")
    parser.add_argument("--size", default="1200,1500", help="window width,height in CSS pixels (default 1200,1500)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args(argv)

    import uvicorn
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    import goalmatch
    from goalmatch.web.app import create_app

    text = args.text.read_text(encoding="utf-8")
    title = text.strip().splitlines()[0]
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(matcher=goalmatch.load(), database_url=f"sqlite:///{Path(folder) / 'review.sqlite3'}",
                         secret="screenshot-secret-0123456789")
        app.state.review.store.create_user(USER, PASSWORD)
        app_id = app.state.review.import_text(title, text, "Dnr 2026-00123", USER)

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise SystemExit("the app did not start")
            time.sleep(0.05)

        os.environ.setdefault("SE_OFFLINE", "true")  # this process only: never fetch a browser or driver
        options = Options()
        options.binary_location = args.chromium
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--window-size={args.size}")
        options.add_argument(f"--user-data-dir={Path(folder) / 'profile'}")
        driver = webdriver.Chrome(service=Service(executable_path=args.chromedriver), options=options)
        try:
            wait = WebDriverWait(driver, 30)
            driver.get(f"{base}/login?next=/applications/{app_id}")
            driver.find_element(By.NAME, "username").send_keys(USER)
            driver.find_element(By.NAME, "password").send_keys(PASSWORD)
            driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".doc mark")))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            if not driver.save_screenshot(str(args.out)):
                raise SystemExit("Chromium took no screenshot")
        finally:
            driver.quit()
            server.should_exit = True
            thread.join(10)
            sock.close()
            app.state.review.store.engine.dispose()
    print(f"{args.out} ({args.out.stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
