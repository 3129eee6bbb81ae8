"""What the review app's tests share besides fixtures: the secrets the ``app`` fixture is made
with, a pasted application's text, and a browser's steps (sign in, add an application, decide)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # fastapi is the web extra's: imported where a test runs, after its importorskip
    from fastapi.testclient import TestClient

TEXT = ("Fiber till Soutujärvi\n\nProjektet bygger fiber och bredband till byarna. Hushållen får snabb "
        "uppkoppling och bättre mobiltäckning.")
SECRET = "test-secret-0123456789abcdef"
TOKEN = "shared-token-for-tests"
PASSWORD = "hemligt-lösen-1"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def login(app: Any, user: str = "alice") -> tuple[TestClient, str]:
    from fastapi.testclient import TestClient

    client = TestClient(app, follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": user, "password": PASSWORD, "csrf": token, "next": "/queue"})
    assert response.status_code == 303, response.text
    return client, csrf_of(client.get("/new").text)


def add(client: TestClient, csrf: str, text: str = TEXT, title: str = "") -> int:
    response = client.post("/applications", data={"text": text, "title": title, "csrf": csrf})
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def decide(client: TestClient, csrf: str, app_id: int, framework: str, action: str, goals: list[str] = (),
           version: int = 0, comment: str = "") -> Any:
    return client.post(f"/applications/{app_id}/decisions", data={
        "csrf": csrf, "framework_id": framework, "action": action, "goal_ids": list(goals),
        "version": str(version), "comment": comment})


def pdf_document(objects: list[bytes]) -> bytes:
    """A PDF file of these object bodies (object 1 the catalog), with its cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
