"""The review web app: sign-in, CSRF, escaping, decisions with their audit trail, conflicts, export, API.

FakeEncoder matcher on two synthetic frameworks, SQLite in a temporary file; the same
tests run against PostgreSQL too when ``GOALMATCH_TEST_POSTGRES_URL`` is set (see
``scripts/start-postgres.sh``).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
pytest.importorskip("httpx")

import itsdangerous
import sqlalchemy as sa
from fastapi.testclient import TestClient

from goalmatch.data.corpus import load_corpus
from goalmatch.data.frameworks import Framework
from goalmatch.model.matcher import Matcher
from goalmatch.web.app import create_app
from goalmatch.web.pages import safe_next
from goalmatch.web.schema import MIGRATIONS
from goalmatch.web.store import Store
from tests.web.helpers import PASSWORD, SECRET, TEXT, TOKEN, add, csrf_of, decide, login, pdf_document


def pdf_bytes(lines: list[str]) -> bytes:
    """A one-page PDF with ``lines`` in Helvetica (WinAnsi), written by hand: no PDF writer needed."""
    def literal(line: str) -> bytes:
        return b"(" + line.encode("cp1252").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"

    content = b"BT /F1 12 Tf 72 760 Td 16 TL " + b" ".join(literal(line) + b" Tj T*" for line in lines) + b" ET"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
               b"/Contents 4 0 R >>",
               b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"]
    return pdf_document(objects)


# ------------------------------------------------------------------ sign-in and CSRF


def test_everything_but_login_and_static_needs_a_session(app: Any) -> None:
    client = TestClient(app, follow_redirects=False)
    for path in ("/", "/queue", "/new", "/dashboard", "/applications/1", "/export.jsonl"):
        response = client.get(path)
        assert response.status_code in (303, 401), path
        if response.status_code == 303 and path != "/":
            assert response.headers["location"].startswith("/login")
    for path in ("/api/applications", "/api/openapi.json", "/api/docs", "/api/frameworks"):
        assert client.get(path).status_code == 401, path
    assert client.post("/api/suggest", json={"text": TEXT}).status_code == 401
    assert client.get("/docs").status_code == 404 and client.get("/openapi.json").status_code == 404
    assert client.get("/login").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_login_with_wrong_password_fails_and_right_one_works(app: Any) -> None:
    client = TestClient(app, follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    wrong = client.post("/login", data={"username": "alice", "password": "nej", "csrf": token})
    assert wrong.status_code == 401 and "Fel användarnamn" in wrong.text
    client, _ = login(app)
    page = client.get("/queue")
    assert page.status_code == 200 and "Inloggad som alice" in page.text


def test_passwords_are_stored_hashed(app: Any) -> None:
    with app.state.review.store.engine.connect() as conn:
        hashes = [row[0] for row in conn.execute(sa.text("SELECT password_hash FROM users"))]
    assert len(hashes) == 2 and all(h.startswith("scrypt$") and PASSWORD not in h for h in hashes)
    assert len(set(hashes)) == 2  # salted


def test_sessions_expire(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = login(app)
    assert client.get("/queue").status_code == 200
    real = itsdangerous.timed.TimestampSigner.get_timestamp
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: real(self) + 9 * 3600)
    assert client.get("/queue").status_code == 303


def test_logout_ends_the_session(app: Any) -> None:
    client, csrf = login(app)
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    assert client.get("/queue").status_code == 303


def test_logout_revokes_the_session_on_the_server(app: Any) -> None:
    client, csrf = login(app)
    copied = TestClient(app, follow_redirects=False, cookies=dict(client.cookies))  # a stolen copy of the cookie
    assert copied.get("/queue").status_code == 200
    assert app.state.review.store.live_sessions("alice") == 1
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    assert copied.get("/queue").status_code == 303
    assert copied.get("/api/applications", headers={"X-CSRF-Token": csrf}).status_code == 401
    assert app.state.review.store.live_sessions("alice") == 0


def test_expired_session_rows_are_refused(app: Any) -> None:
    from goalmatch.web.schema import sessions

    client, _ = login(app)
    with app.state.review.store.engine.begin() as conn:
        conn.execute(sa.update(sessions).values(expires_at=sessions.c.created_at))
    assert client.get("/queue").status_code == 303


def test_admin_revokes_a_users_sessions_and_a_new_password_does_too(app: Any, database_url: str) -> None:
    from goalmatch.cli.serve import revoke_sessions

    alice, _ = login(app, "alice")
    alice_again, _ = login(app, "alice")
    bob, _ = login(app, "bob")
    assert revoke_sessions(database_url, "alice") == "avslutade 2 sessioner för granskaren 'alice'"
    assert alice.get("/queue").status_code == 303 and alice_again.get("/queue").status_code == 303
    assert bob.get("/queue").status_code == 200
    app.state.review.store.create_user("bob", "ett-nytt-losenord")
    assert bob.get("/queue").status_code == 303
    alice, _ = login(app, "alice")
    assert revoke_sessions(database_url, "alice", deactivate=True).endswith("och stängde av kontot")
    assert alice.get("/queue").status_code == 303
    client = TestClient(app, follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    assert client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf": token}).status_code == 401


def test_forged_and_old_style_cookies_are_refused(app: Any) -> None:
    from goalmatch.web.auth import COOKIE

    login(app)  # a live session exists; none of the cookies below names it
    right = itsdangerous.URLSafeTimedSerializer(SECRET, salt="goalmatch-web-session")
    wrong = itsdangerous.URLSafeTimedSerializer("another-secret-0123456789", salt="goalmatch-web-session")
    for cookie in (wrong.dumps({"u": "alice", "c": "x"}), right.dumps({"u": "alice", "c": "x"}),
                   right.dumps({"s": "guessed-session-id", "c": "x"}), "garbage"):
        client = TestClient(app, follow_redirects=False, cookies={COOKIE: cookie})
        assert client.get("/queue").status_code == 303
        assert client.get("/api/applications").status_code == 401


def test_posts_without_the_csrf_token_are_refused(app: Any) -> None:
    anonymous = TestClient(app, follow_redirects=False)
    assert anonymous.post("/login", data={"username": "alice", "password": PASSWORD}).status_code == 403
    client, csrf = login(app)
    assert client.post("/applications", data={"text": TEXT}).status_code == 403
    assert client.post("/applications", data={"text": TEXT, "csrf": "forged"}).status_code == 403
    app_id = add(client, csrf)
    assert decide(client, "", app_id, "test", "accept").status_code == 403
    assert client.post("/logout").status_code == 403
    # the JSON API with a session cookie needs the token as a header; with the bearer token it does not
    assert client.post("/api/suggest", json={"text": TEXT}).status_code == 403
    assert client.post("/api/suggest", json={"text": TEXT}, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert app.state.review.store.decisions() == []


def test_shared_token_signs_in_and_authorises_the_api(app: Any) -> None:
    client = TestClient(app, follow_redirects=False)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/applications", headers=headers).status_code == 200
    assert client.get("/api/applications", headers={"Authorization": "Bearer wrong"}).status_code == 401
    token = csrf_of(client.get("/login").text)
    assert client.post("/login", data={"username": "kim", "password": TOKEN, "csrf": token}).status_code == 303


def _try(client: TestClient, user: str, password: str) -> Any:
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": user, "password": password, "csrf": token, "next": "/queue"})


@pytest.fixture
def strict_app(web_matcher: Matcher, database_url: str) -> Any:
    from goalmatch.web.store import LoginLimits

    app = create_app(matcher=web_matcher, database_url=database_url, secret=SECRET, token=TOKEN,
                     login_limits=LoginLimits(per_account=3, per_client=5, window=60))
    for user in ("alice", "bob"):
        app.state.review.store.create_user(user, PASSWORD)
    yield app
    app.state.review.store.engine.dispose()


def test_guessing_passwords_is_throttled_per_account_and_per_client(strict_app: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import goalmatch.web.accounts as accounts_module

    store = strict_app.state.review.store
    here = TestClient(strict_app, follow_redirects=False)
    elsewhere = TestClient(strict_app, follow_redirects=False, client=("10.0.0.2", 4711))
    assert [_try(here, "alice", f"gissning-{i}").status_code for i in range(3)] == [401, 401, 401]
    blocked = _try(here, "alice", PASSWORD)  # the right password, but after three wrong ones
    assert blocked.status_code == 429 and "För många misslyckade inloggningar" in blocked.text
    assert 50 <= int(blocked.headers["retry-after"]) <= 60 and "csrf" in blocked.text  # the form is still there
    assert here.get("/queue").status_code == 303  # not signed in
    checked: list[str] = []
    monkeypatch.setattr(store, "authenticate", lambda user, password: checked.append(user) or False)
    assert _try(here, "alice", PASSWORD).status_code == 429 and checked == []  # no password check while blocked
    monkeypatch.undo()
    assert _try(elsewhere, "alice", PASSWORD).status_code == 303  # another client is not blocked
    assert _try(here, "bob", PASSWORD).status_code == 303  # nor another account from this client
    assert [_try(here, name, "fel").status_code for name in ("x", "y")] == [401, 401]
    assert _try(TestClient(strict_app, follow_redirects=False), "bob", PASSWORD).status_code == 429  # 5 in all
    later = accounts_module.utcnow() + accounts_module.timedelta(seconds=61)
    monkeypatch.setattr(accounts_module, "utcnow", lambda: later)
    assert _try(here, "alice", PASSWORD).status_code == 303  # the window has passed


def test_a_successful_sign_in_forgets_that_accounts_failures(strict_app: Any) -> None:
    client = TestClient(strict_app, follow_redirects=False)
    assert [_try(client, "alice", "fel").status_code for _ in range(2)] == [401, 401]
    assert _try(client, "alice", PASSWORD).status_code == 303
    fresh = TestClient(strict_app, follow_redirects=False)
    assert [_try(fresh, "alice", "fel").status_code for _ in range(2)] == [401, 401]
    assert _try(fresh, "alice", PASSWORD).status_code == 303  # 4 failures in all, but 2 since the success


def test_guessing_the_bearer_token_is_throttled(strict_app: Any) -> None:
    client = TestClient(strict_app)
    wrong = [client.get("/api/applications", headers={"Authorization": f"Bearer gissning-{i}"}).status_code
             for i in range(3)]
    assert wrong == [401, 401, 401]
    blocked = client.get("/api/applications", headers={"Authorization": f"Bearer {TOKEN}"})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert "För många" in blocked.json()["detail"]
    other = TestClient(strict_app, client=("10.0.0.3", 80))
    assert other.get("/api/applications", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_login_limits_must_be_positive() -> None:
    from goalmatch.web.store import LoginLimits

    with pytest.raises(ValueError, match="positive"):
        LoginLimits(per_account=0)


def test_what_a_reviewer_can_fix_is_a_goalmatch_error_and_control_flow_is_not() -> None:
    from goalmatch.errors import GoalmatchError
    from goalmatch.web.auth import CSRFError, NeedLogin, TooManyAttempts
    from goalmatch.web.services import UploadError
    from goalmatch.web.store import Conflict, StoreError

    for kind in (StoreError, Conflict, UploadError):
        assert issubclass(kind, GoalmatchError) and issubclass(kind, ValueError), kind
    for kind in (NeedLogin, CSRFError, TooManyAttempts):
        assert not issubclass(kind, GoalmatchError), kind


def test_login_redirects_only_to_local_paths() -> None:
    assert safe_next("/queue?framework=test") == "/queue?framework=test"
    assert safe_next("//evil.example/") == "/" and safe_next("https://evil.example/") == "/"


# ------------------------------------------------------------------ pages


def test_application_text_is_escaped(app: Any) -> None:
    client, csrf = login(app)
    evil = "<script>alert(1)</script> Projektet bygger fiber och bredband till byarna. <b onmouseover=x>hej</b>"
    app_id = add(client, csrf, evil, title="<img src=x onerror=alert(2)>")
    page = client.get(f"/applications/{app_id}").text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "<b onmouseover" not in page
    queue = client.get("/queue").text
    assert "<img src=x" not in queue and "&lt;img src=x onerror=alert(2)&gt;" in queue
    assert "default-src 'self'" in client.get(f"/applications/{app_id}").headers["content-security-policy"]


def test_application_page_shows_suggestions_evidence_and_highlights(app: Any) -> None:
    client, csrf = login(app)
    app_id = add(client, csrf)
    page = client.get(f"/applications/{app_id}").text
    assert "Bredband och digital infrastruktur" in page and "<meter" in page
    assert "<mark title=" in page and 'class="legend"' in page
    assert "Liknande projekt" not in page  # the toy's similar projects sit close together: none stands out
    assert page.count('name="csrf"') == 4  # logout, the one decision form for every framework, archive, delete
    assert 'name="action-test"' in page and 'name="action-test-multi"' in page


def test_an_abstaining_framework_says_why_in_swedish(app: Any) -> None:
    client, csrf = login(app)
    app_id = add(client, csrf, "Pannkakor med sylt.")  # too short to judge: every framework abstains
    page = client.get(f"/applications/{app_id}").text
    assert "Ingen säker träff</strong>: Texten är för kort" in page  # model/render.reason_sv
    for english in ("the text", "support", "threshold", "reaches", "probability"):
        assert english not in page.lower(), english


def test_upload_txt_and_docx_and_refuse_other_types(app: Any) -> None:
    client, csrf = login(app)
    response = client.post("/applications", data={"csrf": csrf},
                           files={"file": ("ansokan.txt", TEXT.encode("utf-8"), "text/plain")})
    assert response.status_code == 303
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", (
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
            "<w:p><w:r><w:t>Fiber till byn</w:t></w:r></w:p><w:p><w:r><w:t>Vi bygger bredband.</w:t></w:r></w:p>"
            "</w:body></w:document>"))
    response = client.post("/applications", data={"csrf": csrf},
                           files={"file": ("ansokan.docx", buffer.getvalue(), "application/octet-stream")})
    assert response.status_code == 303
    app_id = int(response.headers["location"].rsplit("/", 1)[1])
    assert app.state.review.store.application(app_id)["text"] == "Fiber till byn\nVi bygger bredband."
    refused = client.post("/applications", data={"csrf": csrf}, files={"file": ("x.exe", b"MZ", "application/x")})
    assert refused.status_code == 400 and "Bara .txt" in refused.text


def test_upload_pdf_goes_through_the_text_pipeline(app: Any) -> None:
    pytest.importorskip("pypdf")
    client, csrf = login(app)
    lines = ["Fiber till Soutujärvi (etapp 2)", "Projektet bygger fiber och bredband till byarna.",
             "Hushållen och företagen får snabb uppkoppling och bättre mobiltäckning."]
    response = client.post("/applications", data={"csrf": csrf},
                           files={"file": ("Ansökan fiber.pdf", pdf_bytes(lines), "application/pdf")})
    assert response.status_code == 303, response.text
    app_id = int(response.headers["location"].rsplit("/", 1)[1])
    stored = app.state.review.store.application(app_id)
    assert stored["title"] == "Ansökan fiber" and stored["text"].split("\n") == lines
    page = client.get(f"/applications/{app_id}").text
    assert "Bredband och digital infrastruktur" in page and "<mark title=" in page
    for name, data, message in [("trasig.pdf", b"%PDF-1.4 inget mer", "går inte att läsa som en PDF"),
                                ("fel.pdf", b"PK\x03\x04 en zip", "går inte att läsa som en PDF"),
                                ("tom.pdf", pdf_bytes([]), "ingen text")]:
        refused = client.post("/applications", data={"csrf": csrf}, files={"file": (name, data, "application/pdf")})
        assert refused.status_code == 400 and message in refused.text, name
    # text copied out of a PDF with its Swedish letters broken is repaired by the text pipeline
    broken = ["Projektet ska o ka kompetensfo rso rjningen i la net genom samverkan mellan fo retag,",
              "kommuner och Årbetsfo rmedlingen. Insatserna ska bidra till en ha llbar omsta llning."]
    response = client.post("/applications", data={"csrf": csrf},
                           files={"file": ("kopierad.pdf", pdf_bytes(broken), "application/pdf")})
    assert response.status_code == 303, response.text
    repaired_id = int(response.headers["location"].rsplit("/", 1)[1])
    assert app.state.review.store.application(repaired_id)["suggestions"]["flags"]["repaired"]
    assert "Texten har reparerats" in client.get(f"/applications/{repaired_id}").text
    assert len(app.state.review.store.applications()) == 2


def test_errors_show_a_generic_page_without_details(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = login(app)
    client = TestClient(app, follow_redirects=False, raise_server_exceptions=False, cookies=client.cookies)

    def broken() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(app.state.review.store, "applications", broken)
    monkeypatch.setattr(app.state.review.store, "queue", broken)
    page = client.get("/queue")
    assert page.status_code == 500 and "Internt fel" in page.text
    assert "secret internals" not in page.text and "Traceback" not in page.text
    api = client.get("/api/applications")
    assert api.status_code == 500 and "secret" not in api.text
    missing = client.get("/applications/999")
    assert missing.status_code == 404 and "finns inte" in missing.text
    garbled = client.get("/applications/abc")
    assert garbled.status_code == 422 and "<html" in garbled.text


# ------------------------------------------------------------------ decisions


def test_decision_and_audit_trail(app: Any) -> None:
    client, csrf = login(app)
    app_id = add(client, csrf)
    assert decide(client, csrf, app_id, "test", "accept", comment="ser bra ut").status_code == 303
    assert decide(client, csrf, app_id, "test", "correct", ["t-kultur"], version=1).status_code == 303
    assert decide(client, csrf, app_id, "test-multi", "correct", ["t-bredband", "t-foretag"]).status_code == 303
    trail = app.state.review.store.decisions(app_id)
    assert [(d.framework_id, d.action, d.version) for d in trail] == [
        ("test", "accept", 1), ("test", "correct", 2), ("test-multi", "correct", 1)]
    assert trail[0].reviewer == "alice" and trail[0].comment == "ser bra ut" and trail[0].previous is None
    assert trail[1].previous["action"] == "accept" and trail[1].previous["version"] == 1
    assert trail[1].goal_ids == ("t-kultur",)
    page = client.get(f"/applications/{app_id}").text
    assert "ser bra ut" in page and "Historik" in page
    api = client.get(f"/api/applications/{app_id}/decisions").json()
    assert [d["action"] for d in api] == ["accept", "correct", "correct"]
    # a single-label framework takes one goal; goals must belong to the framework
    assert decide(client, csrf, app_id, "test", "correct", ["t-kultur", "t-foretag"], version=2).status_code == 400
    assert decide(client, csrf, app_id, "test", "correct", ["sdg-1"], version=2).status_code == 400
    assert len(app.state.review.store.decisions(app_id)) == 3


def test_concurrent_decisions_conflict_instead_of_overwriting(app: Any) -> None:
    alice, alice_csrf = login(app, "alice")
    bob, bob_csrf = login(app, "bob")
    app_id = add(alice, alice_csrf)
    # both read version 0; alice saves first, bob's form is stale
    assert decide(alice, alice_csrf, app_id, "test", "accept").status_code == 303
    stale = decide(bob, bob_csrf, app_id, "test", "correct", ["t-kultur"], version=0)
    assert stale.status_code == 409 and "Någon annan har redan beslutat" in stale.text and "alice" in stale.text
    state = app.state.review.store.review_state(app_id, "test")
    assert state["action"] == "accept" and state["reviewer"] == "alice" and state["version"] == 1
    # the JSON API answers 409 too, with the current state; with the fresh version it goes through
    body = {"framework_id": "test", "action": "reject", "version": 0}
    conflict = bob.post(f"/api/applications/{app_id}/decisions", json=body, headers={"X-CSRF-Token": bob_csrf})
    assert conflict.status_code == 409 and conflict.json()["current"]["reviewer"] == "alice"
    fresh = bob.post(f"/api/applications/{app_id}/decisions", json={**body, "version": 1},
                     headers={"X-CSRF-Token": bob_csrf})
    assert fresh.status_code == 201 and fresh.json()["previous"]["reviewer"] == "alice"
    assert len(app.state.review.store.decisions(app_id)) == 2


def test_queue_filters_and_dashboard(app: Any) -> None:
    client, csrf = login(app)
    first, second = add(client, csrf, title="Första"), add(client, csrf, "Teater och musik för unga i byn.", "Andra")
    decide(client, csrf, first, "test", "correct", ["t-kultur"])
    assert "Första" not in client.get("/queue", params={"framework": "test", "reviewed": "no"}).text
    assert "Första" in client.get("/queue", params={"framework": "test", "reviewed": "yes"}).text
    rows = client.get("/queue", params={"framework": "test", "disagreement": "1"}).text
    assert "Första" in rows and "Andra" not in rows
    assert "Inga ansökningar passar filtret" in client.get("/queue", params={"max_confidence": "0"}).text
    assert client.get("/queue", params={"goal": "t-kultur"}).status_code == 200
    dashboard = client.get("/dashboard").text
    assert "0 av 1 granskningar överens" in dashboard and "t-kultur" in dashboard
    assert second


def test_dashboard_draws_agreement_per_framework_as_inline_svg(app: Any) -> None:
    client, csrf = login(app)
    assert "<svg" not in client.get("/dashboard").text  # nothing reviewed: no chart
    first, second = add(client, csrf, title="Första"), add(client, csrf, title="Andra")
    decide(client, csrf, first, "test", "correct", ["t-kultur"])
    decide(client, csrf, second, "test", "accept")
    decide(client, csrf, first, "test-multi", "accept")
    page = client.get("/dashboard").text
    svg = page[page.index("<svg"):page.index("</svg>") + 6]
    assert svg.count("<g>") == 2 and "50 % (1/2)" in svg and "100 % (1/1)" in svg
    assert ">Test<" in svg and ">Test multi<" in svg and "<script" not in svg and "style=" not in svg


def test_chart_labels_are_escaped() -> None:
    from goalmatch.web.charts import agreement_bars

    svg = agreement_bars([{"name": '<script>alert(1)</script> & "x"', "agreed": 0, "reviewed": 3, "rate": 0.0},
                          {"name": "ingen", "agreed": 0, "reviewed": 0, "rate": None}])
    assert "<script>" not in svg and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;" in svg
    assert svg.count("<g>") == 1 and "0 % (0/3)" in svg
    assert agreement_bars([]) == ""


def test_no_page_loads_scripts_or_styles_from_another_host(app: Any) -> None:
    client, csrf = login(app)
    app_id = add(client, csrf)
    decide(client, csrf, app_id, "test", "accept")
    paths = ["/login", "/queue", "/new", "/dashboard", f"/applications/{app_id}", "/api/docs"]
    pattern = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", re.I)
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        assert not pattern.search(response.text), path
        assert "cdn." not in response.text.lower(), path
        assert "default-src 'self'" in response.headers["content-security-policy"], path
    docs = client.get("/api/docs").text
    assert "/api/openapi.json" in docs
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', docs):
        assert client.get(asset).status_code == 200, asset
    schema = client.get("/api/openapi.json").json()
    assert schema["info"]["title"] == "goalmatch granskning"
    assert schema["paths"] and all(path.startswith("/api/") for path in schema["paths"])  # no HTML pages


def test_api_docs_without_swagger_ui_files_links_to_the_openapi_document(
        web_matcher: Matcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import goalmatch.web.api as api

    monkeypatch.setattr(api, "swagger_ui_assets", lambda: None)
    app = create_app(matcher=web_matcher, database_url=f"sqlite:///{tmp_path / 'r.sqlite3'}", secret=SECRET,
                     token=TOKEN)
    docs = TestClient(app).get("/api/docs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert docs.status_code == 200 and '<a href="/api/openapi.json">' in docs.text and "<script" not in docs.text
    app.state.review.store.engine.dispose()


# ------------------------------------------------------------------ export and API


def test_export_loads_as_a_corpus(app: Any, web_frameworks: dict[str, Framework], tmp_path: Path) -> None:
    client, csrf = login(app)
    app_id = add(client, csrf, title="Fiberprojektet")
    add(client, csrf, "Ett projekt utan beslut om kultur.")
    decide(client, csrf, app_id, "test", "correct", ["t-foretag"], comment="företag först")
    decide(client, csrf, app_id, "test-multi", "reject")
    response = client.get("/export.jsonl")
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    path = tmp_path / "export.jsonl"
    path.write_bytes(response.content)
    records = load_corpus(path, web_frameworks)
    assert len(records) == 1
    record = records[0]
    assert record.id == f"review/{app_id}" and record.text == TEXT and record.title == "Fiberprojektet"
    assert dict(record.labels) == {"test": ("t-foretag",)}
    assert dict(record.label_origin) == {"test": "reviewer:alice"}
    assert record.provenance["decisions"]["test-multi"]["action"] == "reject"
    assert record.provenance["decisions"]["test"]["comment"] == "företag först"


def test_api_suggest_one_and_batch(app: Any, web_matcher: Matcher) -> None:
    client = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})
    one = client.post("/api/suggest", json={"text": TEXT, "top_k": 2, "frameworks": ["test"]})
    assert one.status_code == 200
    assert one.json() == json.loads(json.dumps(web_matcher.suggest(TEXT, top_k=2, frameworks=["test"]).to_dict()))
    batch = client.post("/api/suggest/batch", json={"texts": [TEXT, "Teater för unga."]})
    assert batch.status_code == 200 and len(batch.json()["results"]) == 2
    assert client.post("/api/suggest", json={"text": ""}).status_code == 422
    assert client.post("/api/suggest", json={"text": TEXT, "frameworks": ["nope"]}).status_code == 400
    created = client.post("/api/applications", json={"text": TEXT, "title": "Via API"})
    assert created.status_code == 201
    stored = client.get(f"/api/applications/{created.json()['id']}").json()
    assert stored["title"] == "Via API" and stored["reviews"] == {} and stored["created_by"] == "token"
    schema = client.get("/api/openapi.json").json()
    assert {"/api/suggest", "/api/suggest/batch", "/api/applications/{application_id}/decisions"} <= set(
        schema["paths"])


def test_api_refuses_lone_surrogates_by_field_not_500(app: Any) -> None:
    # issue 16, item 8: a "\udcff" in a JSON body was 500 on all three; pydantic refuses it
    # (422 naming the field) and the 422 quoting it back must itself encode as UTF-8
    client = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}, raise_server_exceptions=False)
    bad = TEXT + " \udcff i byn"
    for path, body, loc in [("/api/suggest", {"text": bad}, ["body", "text"]),
                            ("/api/suggest/batch", {"texts": [TEXT, "Teater \ud800 för unga."]}, ["body", "texts", 1]),
                            ("/api/applications", {"text": bad, "title": "Fiber"}, ["body", "text"])]:
        sent = client.post(path, content=json.dumps(body).encode("ascii"), headers={"Content-Type": "application/json"})
        assert sent.status_code == 422, (path, sent.status_code, sent.text[:200])
        assert [error["loc"] for error in sent.json()["detail"]] == [loc]
    assert client.post("/api/suggest", json={"text": TEXT + " \ufffd i byn"}).status_code == 200


# ------------------------------------------------------------------ store


def test_migrations_are_recorded_and_idempotent(database_url: str) -> None:
    latest = max(version for version, _, _ in MIGRATIONS)
    store = Store(database_url)
    assert store.schema_version() == latest
    assert store.migrate() == []
    again = Store(database_url)
    assert again.schema_version() == latest
    if database_url.startswith("sqlite"):
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.engine.dispose()
    again.engine.dispose()


def test_migrations_upgrade_a_version_1_database(tmp_path: Path, web_matcher: Matcher,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import goalmatch.web.store as store_module

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
    old = Store(url)
    old.create_user("alice", PASSWORD)
    assert old.schema_version() == 1
    suggestions = web_matcher.suggest(TEXT).to_dict()
    with old.engine.begin() as conn:  # what version 1 stored: an application and a decision
        conn.execute(sa.insert(store_module.applications).values(
            id=7, title="Gammal", text=TEXT, source="web", suggestions=json.dumps(suggestions),
            created_at=store_module.utcnow()))
        conn.execute(sa.insert(store_module.reviews).values(
            application_id=7, framework_id="test", version=1, action="correct", goal_ids='["t-kultur"]',
            reviewer="alice", decided_at=store_module.utcnow()))
    old.engine.dispose()
    monkeypatch.undo()
    new = Store(url)
    assert new.schema_version() == store_module.MIGRATIONS[-1][0] >= 5 and new.authenticate("alice", PASSWORD)
    assert new.revoke_sessions("alice") == 0
    rows, total = new.queue()
    assert total == 1 and rows[0]["id"] == 7 and rows[0]["reviewed"] == 1 and rows[0]["frameworks"] == 2
    assert new.queue(disagreement=True)[1] == 1 and new.queue(goal="t-kultur")[1] == 1
    new.engine.dispose()


def test_queue_is_paged_and_filtered_in_sql(app: Any, web_matcher: Matcher, monkeypatch: pytest.MonkeyPatch) -> None:
    store = app.state.review.store
    base = web_matcher.suggest(TEXT).to_dict()
    for i in range(120):  # confidences 0.005 ... 0.6, stored in a shuffled order
        suggestions = json.loads(json.dumps(base))
        for fw in suggestions["frameworks"]:
            for s in fw["suggestions"]:
                s["probability"] = ((i * 37) % 120 + 1) / 200
        store.add_application(f"Ansökan {i}", TEXT, "test", suggestions)

    def everything() -> None:
        raise AssertionError("the queue must not read every application")

    monkeypatch.setattr(store, "applications", everything)
    client, _ = login(app)
    first = client.get("/queue").text
    assert "120 ansökningar; visar 1–50 (sida 1 av 3)" in first and 'rel="next"' in first
    third = client.get("/queue", params={"page": 3}).text
    assert "visar 101–120" in third and 'rel="prev"' in third and 'rel="next"' not in third
    rows, total = store.queue(limit=50, offset=0)
    assert total == 120 and len(rows) == 50
    confidences = [r["confidence"] for r in rows + store.queue(limit=50, offset=50)[0]]
    assert confidences == sorted(confidences) and confidences[0] == 0.005
    newest, _ = store.queue(order="newest", limit=3)
    assert [r["id"] for r in newest] == sorted((r["id"] for r in newest), reverse=True)
    assert store.queue(max_confidence=0.1)[1] == 20
    assert store.queue(goal="100%_\\")[1] == 0  # LIKE wildcards in a goal id match nothing
    assert client.get("/queue", params={"page": 0}).status_code == 422
    refused = client.get("/queue", params={"max_confidence": "nan"})  # named on the page, not silently ignored
    assert refused.status_code == 400 and "är inget tal" in refused.text and "120 ansökningar" in refused.text


def test_pasted_text_with_an_empty_file_field_and_imported_suggestions(app: Any, web_matcher: Matcher) -> None:
    client, csrf = login(app)
    response = client.post("/applications", data={"csrf": csrf, "text": TEXT, "title": "Inklistrad"},
                           files={"file": ("", b"", "application/octet-stream")})
    assert response.status_code == 303
    empty = client.post("/applications", data={"csrf": csrf, "text": "   "})
    assert empty.status_code == 400 and "tom" in empty.text
    # suggestions scored elsewhere (batch scoring) are stored as given
    given = web_matcher.suggest(TEXT, top_k=1).to_dict()
    api = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})
    created = api.post("/api/applications", json={"text": TEXT, "source": "batch", "suggestions": given})
    assert created.status_code == 201
    assert api.get(f"/api/applications/{created.json()['id']}").json()["suggestions"] == json.loads(json.dumps(given))
    assert api.post("/api/applications", json={"text": TEXT, "suggestions": {"x": 1}}).status_code == 422


def test_api_refuses_unknown_fields_and_ids_and_stores_minimal_suggestions_safely(app: Any) -> None:
    api = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})
    assert api.post("/api/suggest", json={"text": TEXT, "top-k": 2}).status_code == 422  # misspelt field
    assert api.post("/api/suggest", json={"text": "   "}).status_code == 422
    assert api.get(f"/api/applications/{2**31}").status_code == 422  # beyond PostgreSQL's integer
    schema = api.get("/api/openapi.json").json()
    decision_in = schema["components"]["schemas"]["DecisionIn"]["properties"]
    assert sorted(decision_in["framework_id"]["enum"]) == ["test", "test-multi"]  # the model's ids, in the schema
    assert decision_in["action"]["enum"] == ["accept", "reject", "correct"]
    minimal = {"frameworks": [{"framework_id": "test", "suggestions": [{"goal_id": "t-kultur", "probability": 0.4}]}]}
    created = api.post("/api/applications", json={"text": TEXT, "suggestions": minimal})
    assert created.status_code == 201
    client, _ = login(app)
    page = client.get(f"/applications/{created.json()['id']}")
    assert page.status_code == 200 and "t-kultur" in page.text
    new_id = created.json()["id"]
    assert f'href="/applications/{new_id}"' in client.get("/queue").text
    junk = {"text": TEXT, "suggestions": {"frameworks": [{"x": 1}]}}
    assert api.post("/api/applications", json=junk).status_code == 422


def test_stored_suggestions_in_the_api_follow_the_suggestion_types(app: Any) -> None:
    import dataclasses
    import typing

    from goalmatch.model import suggestions as types
    from goalmatch.web.payloads import BOUNDS, REQUIRED

    api = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}, raise_server_exceptions=False)
    components = api.get("/api/openapi.json").json()["components"]["schemas"]
    for kind in (types.Suggestions, types.FrameworkSuggestions, types.Suggestion, types.Evidence,
                 types.SentenceEvidence, types.PassageEvidence, types.ProjectEvidence):  # every field, by name
        schema = components[f"{kind.__name__}In"]
        assert list(schema["properties"]) == [f.name for f in dataclasses.fields(kind)], kind
        assert schema["additionalProperties"] is False, kind
    for name in REQUIRED | set(BOUNDS):  # a type or field renamed in goalmatch.model is caught here
        kind_name, field = name.split(".")
        assert field in components[f"{kind_name}In"]["properties"], name
        assert (field in components[f"{kind_name}In"].get("required", [])) == (name in REQUIRED), name
    assert typing.get_type_hints(types.Suggestion)["probability"] is float

    def stored(suggestions: str) -> Any:
        return api.post("/api/applications", content=f'{{"text": {json.dumps(TEXT)}, "suggestions": {suggestions}}}',
                        headers={"content-type": "application/json"})

    goal = '{"goal_id": "t-kultur", "probability": %s}'
    for bad in (goal % "NaN", goal % "Infinity", goal % "1.5", goal % "null"):
        refused = stored(f'{{"frameworks": [{{"framework_id": "test", "suggestions": [{bad}]}}]}}')
        assert refused.status_code == 422, (bad, refused.text)  # a 422 that quotes NaN back, not a 500
        assert refused.json()["detail"][0]["loc"][-1] == "probability", refused.text
    assert stored('{"frameworks": [{"framework_id": "test", "support": -Infinity}]}').status_code == 422
    assert stored('{"frameworks": [{"framework_id": "test", "misspelt": 1}]}').status_code == 422
    assert stored('{"frameworks": [], "similar_projects": [{"title": "no id"}]}').status_code == 422
    # to_dict() writes an infinity as null: taken, and the page shows no figure for it
    created = stored('{"frameworks": [{"framework_id": "test", "min_similarity": null}], '
                     '"similar_projects": [{"id": "p/1", "title": "Fiber", "similarity": null}]}')
    assert created.status_code == 201, created.text
    client, _ = login(app)
    page = client.get(f"/applications/{created.json()['id']}")
    assert page.status_code == 200 and "p/1" not in page.text  # one project without a figure: nothing stands out


def test_a_nul_character_is_refused_by_name_never_a_500(app: Any) -> None:
    api = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}, raise_server_exceptions=False)
    nested = {"frameworks": [{"framework_id": "test"}, {"framework_id": "te\x00st"}]}
    refused = api.post("/api/applications", json={"text": TEXT, "suggestions": nested})
    assert refused.status_code == 422
    assert "suggestions.frameworks[1].framework_id: contains a NUL character (U+0000)" in refused.text
    assert api.post("/api/suggest", json={"text": "Fiber\x00 till byn"}).status_code == 422
    client, csrf = login(app)
    page = client.post("/applications", data={"text": "Fiber till\x00 byn", "title": "", "csrf": csrf})
    assert page.status_code == 400 and "NUL-tecken (U+0000)" in page.text
    app_id = add(client, csrf)
    tolerant = TestClient(app, follow_redirects=False, raise_server_exceptions=False, cookies=dict(client.cookies))
    decided = decide(tolerant, csrf, app_id, "test", "accept", comment="ok\x00")
    assert decided.status_code in (303, 422), decided.text  # SQLite stores it; PostgreSQL cannot: a clear 422
    if decided.status_code == 422:
        assert "NUL, U+0000" in decided.text


def test_simultaneous_decisions_one_wins_one_conflicts(app: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from goalmatch.web.store import Conflict

    store = app.state.review.store
    app_id = store.add_application("Samtidigt", TEXT, "test", {"frameworks": []})

    def attempt(who: str) -> str:
        try:
            store.decide(app_id, "test", "correct", ["t-kultur"], reviewer=who, expected_version=0)
            return "ok"
        except Conflict:
            return "conflict"

    for _ in range(3):
        with ThreadPoolExecutor(4) as pool:
            outcomes = list(pool.map(attempt, ["alice", "bob", "carl", "dina"]))
        assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
        app_id = store.add_application("Samtidigt", TEXT, "test", {"frameworks": []})
