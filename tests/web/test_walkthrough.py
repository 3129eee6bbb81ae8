"""A handläggare's whole day in a real browser (issue 15's walk-through), with an accessibility check per page.

The administrator Anna signs in, uploads a spreadsheet of 30 applications (one repeats a
diarienummer, one has no text), filters the queue by one framework, reviews an application
with the keyboard only (Tab to the marked evidence, arrow keys in the decision, Enter on
Spara), decides three more with the mouse, exports the decisions as XLSX, retrains the model
on them, switches the running app to the new model and sees a new application scored by it.
Every page passes axe-core with no serious or critical violation, and each step is saved as a
screenshot (pytest's temporary folder, and ``GOALMATCH_SCREENSHOT_DIR`` when set; the README
shows two of them, taken at 1280 px).

FakeEncoder matcher on the review app's toy frameworks (``test``, ``test-multi``), SQLite in a
temporary folder, uvicorn in a thread (:mod:`tests.web.browser`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
openpyxl = pytest.importorskip("openpyxl")

from goalmatch.data.frameworks import load_frameworks  # noqa: E402
from goalmatch.embed.encoder import FakeEncoder  # noqa: E402
from goalmatch.model.matcher import Matcher  # noqa: E402
from tests.toys import WEB_RECORDS, write_web_frameworks  # noqa: E402
from tests.web.browser import WAIT_S, axe_violations, chromium, screenshot, serving, wait_for_file  # noqa: E402

pytestmark = pytest.mark.e2e

USER, PASSWORD = "anna", "dagens-lösenord-7"
TOPICS = ["Fiber och bredband till byarna så att hushållen får snabb uppkoppling",
          "Teater och musik för barn och unga i bygdegården",
          "Nya företag och entreprenörer som vill börja exportera",
          "Mobiltäckning och digital uppkoppling längs vägarna",
          "Ett bibliotek och kulturhus med konst och dans",
          "Innovation och produktutveckling i små företag"]


def backlog(path: Path) -> Path:
    """30 applications as an Excel file: row 7 repeats row 3's diarienummer, row 20 has no text."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Diarienummer", "Projektnamn", "Sökande", "Beskrivning"])
    for n in range(1, 31):
        diarienummer = "2026-0003" if n == 7 else f"2026-{n:04d}"
        place = ("Övre byn", "Nedre byn", "Älvdalen")[n % 3]
        text = "" if n == 20 else f"{TOPICS[n % len(TOPICS)]}, etapp {n}, i {place}."
        sheet.append([diarienummer, f"Projekt {n}", f"Förening {n}", text])
    book.save(path)
    return path


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from goalmatch.web.app import create_app

    folder = tmp_path_factory.mktemp("walkthrough")
    (folder / "frameworks").mkdir()
    frameworks = load_frameworks(write_web_frameworks(folder / "frameworks"))
    matcher = Matcher.train(frameworks, WEB_RECORDS, encoder=FakeEncoder())
    app = create_app(matcher=matcher, database_url=f"sqlite:///{folder / 'review.sqlite3'}",
                     secret="walkthrough-secret-0123456789", models_dir=folder / "models")
    store = app.state.review.store
    store.create_user(USER, PASSWORD)
    store.set_admin(USER)
    with serving(app) as url:
        try:
            yield url
        finally:
            store.engine.dispose()


class Day:
    """The browser, the server's address, and a step counter for the screenshots."""

    def __init__(self, driver: Any, base_url: str, shots: Path) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.base_url, self.shots, self.step = driver, base_url, shots, 0
        self.wait = WebDriverWait(driver, WAIT_S)

    def check(self, name: str) -> None:
        """axe-core finds nothing serious on the page shown; then a screenshot of its top."""
        problems = axe_violations(self.driver)
        assert not problems, f"{name}: {problems}"
        self.driver.execute_script("window.scrollTo(0, 0);")
        self.step += 1
        screenshot(self.driver, self.shots, f"dag-{self.step:02d}-{name}.png")

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def click(self, css: str) -> None:
        """Click like a person: the element scrolled to the middle first, never under the sticky Spara bar."""
        element = self.find(css)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        element.click()

    def text(self) -> str:
        return str(self.find("main").text)

    def submit(self, form_css: str) -> None:
        self.find(f"{form_css} button[type=submit]").click()

    def tab_until(self, script: str, limit: int = 120) -> None:
        """Press Tab until ``script`` (JavaScript on ``document.activeElement`` as ``e``) holds."""
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        for _ in range(limit):
            ActionChains(self.driver).send_keys(Keys.TAB).perform()
            if self.driver.execute_script(f"var e = document.activeElement; return Boolean({script});"):
                return
        pytest.fail(f"Tab never reached an element where {script}")


def test_a_case_officers_day(base_url: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    with chromium(tmp_path / "profile", tmp_path / "downloads") as driver:
        day = Day(driver, base_url, tmp_path)

        # sign in
        driver.get(f"{base_url}/queue")
        day.wait.until(ec.url_contains("/login"))
        day.check("inloggning")
        day.find("input[name=username]").send_keys(USER)
        day.find("input[name=password]").send_keys(PASSWORD)
        day.submit("form[action='/login']")
        day.wait.until(ec.text_to_be_present_in_element(("tag name", "header"), f"Inloggad som {USER}"))

        # upload the spreadsheet: the preview shows the duplicate and the bad row, and imports the other 28
        day.find("a[href='/import']").click()
        day.find("input[type=file]").send_keys(str(backlog(tmp_path / "ansokningar-hosten.xlsx")))
        day.submit("form[action='/import']")
        day.wait.until(ec.url_matches(r"/import/[^/]+$"))
        preview = day.text()
        assert "samma diarienummer som rad 3" in preview and "ingen text" in preview, preview
        day.check("forhandsvisning")
        day.submit("form[method=post][action^='/import/']")
        day.wait.until(ec.text_to_be_present_in_element(("tag name", "main"), "28 importerade"))
        assert "1 hoppade över (dubbletter), 1 felaktiga rader" in day.text()
        day.check("importerat")

        # the queue filtered by one framework: its confidence column alone
        day.find("a[href='/queue']").click()
        Select(day.find("select[name=framework]")).select_by_visible_text("Test")
        day.submit("form.filters")
        day.wait.until(ec.url_contains("framework=test"))
        queue = day.text()
        assert "28 ansökningar" in queue and "Säkerhet: Test" in queue and "Säkerhet: Test multi" not in queue
        day.check("ko-ett-ramverk")

        # one application, with the keyboard only
        first = day.find("table a[href^='/applications/']")
        ActionChains(driver).move_to_element(first).perform()
        first.send_keys(Keys.ENTER)
        day.wait.until(ec.url_matches(r"/applications/\d+$"))
        assert re.search(r"diarienummer 2026-\d{4} · källa import:ansokningar-hosten.xlsx", day.text())
        day.tab_until("e.tagName === 'MARK' && e.getAttribute('aria-label').startsWith('Stöder ')")
        day.tab_until("e.name === 'action-test'")
        ActionChains(driver).send_keys(Keys.ARROW_DOWN).perform()  # from "Inget beslut nu" to "Godkänn"
        assert driver.execute_script("var e = document.activeElement; return e.value === 'accept' && e.checked;")
        day.tab_until("e.tagName === 'BUTTON' && e.textContent.trim().startsWith('Spara')")
        ActionChains(driver).send_keys(Keys.ENTER).perform()
        day.wait.until(ec.text_to_be_present_in_element(("css selector", "form.decision"), "Nuvarande: Godkänd"))
        day.check("granskad-med-tangentbordet")

        # three more decisions with the mouse, so the retraining has something to learn from
        for row in (2, 3, 4):
            driver.get(f"{base_url}/queue?framework=test&reviewed=no")
            driver.find_elements("css selector", "table a[href^='/applications/']")[0].click()
            day.wait.until(ec.url_matches(r"/applications/\d+$"))
            day.click(f"input[name=action-test][value={'correct' if row == 3 else 'accept'}]")
            if row == 3:
                day.click("input[name=goal_ids-test][value=t-kultur]")
            day.submit("form.decision")
            day.wait.until(ec.text_to_be_present_in_element(("css selector", "form.decision"), "Nuvarande: "))

        # export the decisions as XLSX
        driver.get(f"{base_url}/export")
        day.check("export")
        day.find("a[href='/export.xlsx']").click()
        exported = wait_for_file(tmp_path / "downloads" / "goalmatch-beslut.xlsx")
        time.sleep(0.5)  # Chromium renames the finished download into place; let it settle
        sheet = openpyxl.load_workbook(exported).worksheets[0]
        header = [c.value for c in sheet[1]]
        decided = [dict(zip(header, (c.value for c in row), strict=False)) for row in sheet.iter_rows(min_row=2)]
        assert {"Godkänd", "Rättad"} <= {r.get("Beslut") for r in decided}, decided
        assert sum(1 for r in decided if r.get("Ramverk") == "Test") == 4

        # retrain on the decisions, compare, switch without a restart
        day.find("a[href='/admin/model']").click()
        old_name = re.search(r"Namn\s+(\S+)", day.text())
        day.submit("form[action='/admin/model/retrain']")
        deadline = time.monotonic() + 120
        while not driver.find_elements("css selector", "form[action='/admin/model/switch']"):
            assert time.monotonic() < deadline, day.text()
            assert "class=\"error\"" not in driver.page_source, day.text()
            time.sleep(1)
            driver.get(f"{base_url}/admin/model")
        assert "bredvid den gamla" in day.text() and "korsvalidering" in day.text()
        day.check("ny-modell-bredvid-den-gamla")
        new_name = re.search(r"Den nya modellen \((\S+)\)", day.text())
        assert new_name and (old_name is None or new_name.group(1) != old_name.group(1))
        day.submit("form[action='/admin/model/switch']")
        day.wait.until(ec.text_to_be_present_in_element(("tag name", "main"), "Den nya modellen används"))

        # a new application is scored by the new model
        day.find("a[href='/new']").click()
        day.find("input[name=title]").send_keys("Bredband till Soutujärvi")
        day.find("textarea[name=text]").send_keys(TOPICS[0] + " Föreningen ordnar också en musikkväll.")
        day.submit("form[action='/applications']")
        day.wait.until(ec.url_matches(r"/applications/\d+$"))
        assert f"förslagen från modellen {new_name.group(1)}" in day.text()
        day.check("ny-ansokan-med-nya-modellen")


def test_the_accessibility_check_finds_what_it_should(tmp_path: Path) -> None:
    """The axe check can fail: an image without a text alternative and a nameless button are reported."""
    page = tmp_path / "bad.html"
    page.write_text('<!doctype html><html lang="sv"><head><title>x</title></head><body><main>'
                    '<img src="bild.png"><button></button></main></body></html>', encoding="utf-8")
    with chromium(tmp_path / "profile", tmp_path / "downloads") as driver:
        driver.get(page.as_uri())
        found = axe_violations(driver)
    assert any(v.startswith("image-alt") for v in found) and any(v.startswith("button-name") for v in found), found
