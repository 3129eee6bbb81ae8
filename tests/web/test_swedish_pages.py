"""Issue 15, item 1 (the web part): no English word or internal reaches a page a case officer reads.

Every page the review app has is rendered with the test client (sign-in, the queue with
rows and empty, a new application, an application that is confident, one that abstains, one
decided on, one in English, the dashboard, the workspace page and the 404 and 409 error
pages); its visible text (tags, scripts and styles stripped) is searched for the words that
leaked before. :func:`assert_swedish` is the helper other pages' tests call.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

import pytest

pytest.importorskip("fastapi")

from tests.cli.test_swedish_output import LEAKS, RAW_FIGURE
from tests.web.helpers import add, decide, login

WEB_LEAKS = re.compile(
    r"\b(?:accept\w*|correct\w*|reject\w*|abstain\w*|cosine|confidence|probability|evidence|none|true|false|"
    r"the text is)\b|\b\d{4}-\d{2}-\d{2}T\d|\bUTC\b|\[\d+:\d+\]",
    re.IGNORECASE)
"""Besides the command line's list: the actions, raw field names, ISO timestamps and UTC."""
ENGLISH = ("The project builds fibre broadband to the villages, so that households get a fast connection and "
           "better mobile coverage. We will also support local companies with their digital services.")


def visible_text(page: str) -> str:
    """What a reader sees of an HTML page: no tags, scripts or styles; entities decoded."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.DOTALL | re.IGNORECASE)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def leaks(text: str) -> list[str]:
    found = {m.group() for pattern in (LEAKS, RAW_FIGURE, WEB_LEAKS) for m in pattern.finditer(text)}
    return sorted(found)


def assert_swedish(client: Any, path: str, *, status: int = 200, user_content: Sequence[str] = (),
                   method: str = "get", data: dict[str, Any] | None = None) -> str:
    """Render ``path`` (GET, or POST with ``data``) and fail on any leaked word in its visible text.

    ``user_content`` is text people typed (an application in English) and is not searched.
    Returns the page's HTML for further checks.
    """
    response = client.get(path) if method == "get" else client.post(path, data=data or {})
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    text = " ".join(visible_text(response.text).split())
    for own in user_content:  # whole, and sentence by sentence (the evidence quotes single sentences)
        for piece in [own, *re.split(r"(?<=[.!?])\s+", own)]:
            text = text.replace(" ".join(piece.split()), " ")
    found = leaks(text)
    assert not found, f"{path}: English or internals on the page: {found}"
    return str(response.text)


def test_the_leak_list_catches_what_leaked_before() -> None:
    before = visible_text("<p>Nuvarande: <strong>correct</strong></p><td>2026-12-06T01:02:03+00:00</td>"
                          "<div>Text [516:599]: (the text is less related… support 0.838 &lt; 0.848)</div>")
    assert {"correct", "2026-12-06T0", "[516:599]", "the text is", "support", "0.8"} <= set(leaks(before))
    assert not leaks(visible_text('<mark title="accept">Godkänd</mark> <b>Rättad</b> 73 % 0,73'))


def test_every_page_reads_swedish(app: Any) -> None:
    from fastapi.testclient import TestClient

    anonymous = TestClient(app, follow_redirects=False)
    assert_swedish(anonymous, "/login")
    client, csrf = login(app)
    assert_swedish(client, "/queue")  # empty
    assert_swedish(client, "/new")
    assert_swedish(client, "/arbetsyta")  # no workspace yet
    assert_swedish(client, "/dashboard")  # no reviews yet
    confident = add(client, csrf, title="Fiber till byarna")
    abstained = add(client, csrf, "Pannkakor med sylt.", title="Pannkakor")
    english = add(client, csrf, ENGLISH, title="Fibre to the villages")
    assert_swedish(client, f"/applications/{confident}")
    assert_swedish(client, f"/applications/{abstained}")
    page = assert_swedish(client, f"/applications/{english}", user_content=[ENGLISH, "Fibre to the villages"])
    assert "Texten verkar vara på engelska" in page
    assert decide(client, csrf, confident, "test", "accept").status_code == 303
    assert decide(client, csrf, confident, "test-multi", "correct", ["t-kultur"], comment="Musik").status_code == 303
    assert_swedish(client, f"/applications/{confident}")  # decided: the state and the history
    assert_swedish(client, "/queue", user_content=["Fibre to the villages"])
    assert_swedish(client, "/queue?max_confidence=abc", status=400, user_content=["Fibre to the villages"])
    assert_swedish(client, "/dashboard")
    assert_swedish(client, "/applications/999999", status=404)
    stale = {"csrf": csrf, "action-test": "reject", "version-test": "0"}
    assert_swedish(client, f"/applications/{confident}/beslut", status=409, method="post", data=stale)
    stale_one = {"csrf": csrf, "framework_id": "test", "action": "reject", "version": "0"}
    assert_swedish(client, f"/applications/{confident}/decisions", status=409, method="post", data=stale_one)
    app.state.review.store.set_admin("alice")
    created = client.post("/arbetsyta", data={"csrf": csrf, "name": "Leader Test", "frameworks": ["test"]})
    assert created.status_code == 303
    assert "Leader Test" in assert_swedish(client, "/arbetsyta?sparat=1")
    assert_swedish(client, "/queue", user_content=["Fibre to the villages"])
    assert_swedish(client, f"/applications/{confident}")


def test_the_backlog_pages_read_swedish(app: Any) -> None:
    """The import (upload, preview with bad rows and duplicates, result), export and archive pages."""
    from tests.web.test_backlog import backlog_rows, csv_cp1252, upload

    client, csrf = login(app)
    assert_swedish(client, "/import")
    preview = upload(client, csrf, "backlog.csv", csv_cp1252(backlog_rows())).headers["location"]
    rows = [cell for row in backlog_rows() for cell in row]  # the file's own words are the user's
    assert_swedish(client, preview, user_content=rows)
    assert_swedish(client, preview, method="post", user_content=rows,
                   data={"csrf": csrf, "id_column": "Diarienummer", "title_column": "Projektnamn",
                         "text": ["Beskrivning"]})
    assert_swedish(client, "/import", status=400, method="post", data={"csrf": csrf})  # no file chosen
    assert_swedish(client, "/export")
    first = add(client, csrf, title="Fiber till byarna")
    assert_swedish(client, f"/applications/{first}/archive", status=400, method="post", data={"csrf": csrf})
    assert client.post(f"/applications/{first}/archive", data={"csrf": csrf, "confirm": "ja"}).status_code == 303
    assert_swedish(client, "/archived", user_content=["Fiber till byarna"])
    assert_swedish(client, f"/applications/{first}")  # archived: says so, offers to restore
    decided = add(client, csrf, title="Teater")
    decide(client, csrf, decided, "test", "reject")
    assert_swedish(client, f"/applications/{decided}/delete", status=409, method="post",
                   data={"csrf": csrf, "confirm": "ja"})  # decided: archive it instead
    assert_swedish(client, f"/applications/{first}/delete", method="post", data={"csrf": csrf, "confirm": "ja"})
