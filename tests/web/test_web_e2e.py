"""End to end in a real browser: headless Chromium (Debian's chromium + chromium-driver) via Selenium.

The app runs under uvicorn in a background thread on a free port of 127.0.0.1 (FakeEncoder
matcher, SQLite in a temporary folder). In the browser a reviewer signs in, pastes an
application, sees the highlighted evidence, corrects the goal of one framework and
downloads the export, which must carry the correction. A screenshot goes to pytest's
temporary folder and, when ``GOALMATCH_SCREENSHOT_DIR`` is set, there too.

Nothing is downloaded: the browser and the driver are the system's (``scripts/install-browser.sh``
installs them), Selenium Manager is told to stay offline. Without them the test is
skipped, except under CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from goalmatch.data.frameworks import load_frameworks
from goalmatch.embed.encoder import FakeEncoder
from goalmatch.model.matcher import Matcher
from tests.web.browser import WAIT_S, axe_violations, chromium, screenshot, serving, wait_for_file

pytestmark = pytest.mark.e2e

USER, PASSWORD = "anna", "e2e-lösenord-7"
TEXT = ("Fiber till Soutujärvi\n\nProjektet bygger fiber och bredband till byarna. Hushållen får snabb "
        "uppkoppling och bättre mobiltäckning. Föreningen ordnar också en musikkväll i bygdegården.")


# its own matcher, not the web_matcher fixture: the review app's toy with the framework test only,
# as the browser checks that every highlighted sentence backs a "Test: …" suggestion
@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import yaml

    from goalmatch.web.app import create_app
    from tests.toys import WEB_GOALS, WEB_RECORDS  # the review app's toy goals and projects

    folder = tmp_path_factory.mktemp("e2e")
    data = {"id": "test", "name": "Test", "language": "sv", "multi_label": False,
            "source": {"document": "synthetic"}, "goals": WEB_GOALS}
    (folder / "test.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    matcher = Matcher.train(load_frameworks(folder), WEB_RECORDS, encoder=FakeEncoder())
    app = create_app(matcher=matcher, database_url=f"sqlite:///{folder / 'review.sqlite3'}",
                     secret="e2e-secret-0123456789abcdef")
    app.state.review.store.create_user(USER, PASSWORD)
    app.state.review.store.set_admin(USER)  # the phone-width check visits the administrator's pages too
    with serving(app) as url:
        try:
            yield url
        finally:
            app.state.review.store.engine.dispose()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    with chromium(tmp_path / "chromium-profile", tmp_path / "downloads") as driver:
        driver.downloads = tmp_path / "downloads"
        yield driver


def test_sign_in_paste_see_evidence_correct_and_export(base_url: str, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT_S)

    # sign in: the queue sends an anonymous visitor to the login page and back
    browser.get(f"{base_url}/queue")
    wait.until(ec.url_contains("/login"))
    browser.find_element(By.NAME, "username").send_keys(USER)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "header"), f"Inloggad som {USER}"))
    assert browser.current_url.endswith("/queue")

    # paste an application
    browser.find_element(By.CSS_SELECTOR, "a[href='/new']").click()
    wait.until(ec.presence_of_element_located((By.NAME, "text")))
    browser.find_element(By.NAME, "title").send_keys("Fiber till Soutujärvi")
    browser.find_element(By.NAME, "text").send_keys(TEXT)
    browser.find_element(By.CSS_SELECTOR, "form[action='/applications'] button[type=submit]").click()
    wait.until(ec.url_matches(r"/applications/\d+$"))
    app_id = int(browser.current_url.rsplit("/", 1)[1])

    # the evidence: a sentence of the text highlighted, naming the suggestion it backs
    marks = browser.find_elements(By.CSS_SELECTOR, ".doc mark")
    assert marks, "no highlighted sentence"
    assert any("bredband" in m.text or "uppkoppling" in m.text for m in marks), [m.text for m in marks]
    assert all(m.get_attribute("title").startswith("Test: ") for m in marks)
    background = marks[0].value_of_css_property("background-color")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent"), "the highlight is not visible"
    assert "Bredband och digital infrastruktur" in browser.find_element(By.ID, "fw-test").text
    screenshot(browser, tmp_path, "e2e-application.png")

    # correct the goal of the framework: culture instead of broadband
    form = browser.find_element(By.CSS_SELECTOR, "form.decision")  # one form, one "Spara" for every framework
    section = form.find_element(By.ID, "fw-test")
    section.find_element(By.CSS_SELECTOR, "input[name='action-test'][value=correct]").click()
    section.find_element(By.CSS_SELECTOR, "input[name='goal_ids-test'][value=t-kultur]").click()
    section.find_element(By.NAME, "comment-test").send_keys("Musikkvällen är huvudsaken.")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "fw-test"), "Nuvarande: Rättad — Kultur och fritid"))
    assert f"av {USER}" in browser.find_element(By.ID, "fw-test").text
    screenshot(browser, tmp_path, "e2e-corrected.png")

    # the dashboard draws the agreement as an inline SVG bar
    browser.find_element(By.CSS_SELECTOR, "a[href='/dashboard']").click()
    bars = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "figure.chart svg")))
    assert bars.size["width"] > 100 and "0 % (0/1)" in bars.text
    screenshot(browser, tmp_path, "e2e-dashboard.png")

    # export: the browser downloads the file with its session, and the correction is in it
    browser.get(f"{base_url}/export")  # the export page links the three formats
    browser.find_element(By.CSS_SELECTOR, "a[href='/export.jsonl']").click()
    exported = wait_for_file(browser.downloads / "goalmatch-granskning.jsonl")
    records = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines() if line.strip()]
    mine = [r for r in records if r["id"] == f"review/{app_id}"]
    assert len(mine) == 1, records
    assert mine[0]["labels"] == {"test": ["t-kultur"]}
    decision = mine[0]["provenance"]["decisions"]["test"]
    assert decision["action"] == "correct" and decision["reviewer"] == USER
    assert decision["comment"] == "Musikkvällen är huvudsaken."


def test_api_docs_render_from_local_files(base_url: str, browser: Any, tmp_path: Path) -> None:
    """Swagger UI comes from the fastapi-offline package's files, under the page's CSP, with no CDN."""
    pytest.importorskip("fastapi_offline")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{base_url}/login?next=/api/docs")
    browser.find_element(By.NAME, "username").send_keys(USER)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    WebDriverWait(browser, WAIT_S).until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".swagger-ui .info"), "goalmatch granskning"))
    assert browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")  # the operations are listed
    sources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; });")
    assert sources and all(s.startswith(base_url) for s in sources), sources
    screenshot(browser, tmp_path, "e2e-api-docs.png")


def test_no_page_scrolls_sideways_at_phone_width(base_url: str, browser: Any, tmp_path: Path) -> None:
    """Issue 15, item 7: at 390 px wide no page is wider than the screen (tables scroll in their own box)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT_S)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    wide = "return [document.documentElement.scrollWidth, window.innerWidth];"
    browser.get(f"{base_url}/login")
    assert browser.execute_script(wide)[0] <= 390
    browser.find_element(By.NAME, "username").send_keys(USER)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    wait.until(ec.url_contains("/queue"))
    browser.get(f"{base_url}/new")
    browser.find_element(By.NAME, "text").send_keys(TEXT + " https://example.se/" + "ett-mycket-långt-ord" * 8)
    browser.find_element(By.CSS_SELECTOR, "form[action='/applications']").submit()
    wait.until(ec.url_matches(r"/applications/\d+$"))
    application = browser.current_url
    pages = ("/queue", "/new", "/dashboard", "/arbetsyta", "/queue?max_confidence=abc", "/import", "/export",
             "/archived", "/history", "/admin/users", "/admin/model")
    for url in (application, *(base_url + page for page in pages)):
        browser.get(url)
        width, viewport = browser.execute_script(wide)
        assert width <= viewport == 390, (url, width)
        assert not axe_violations(browser), url  # and nothing serious for axe-core at phone width either
    browser.get(application)
    screenshot(browser, tmp_path, "e2e-phone-application.png")
