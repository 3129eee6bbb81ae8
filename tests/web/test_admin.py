"""Administrators in the review app: the 403 for others, invitations, deactivation, per-user history, migration 7."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
pytest.importorskip("httpx")

import sqlalchemy as sa
from fastapi.testclient import TestClient

from goalmatch.web.database import utcnow
from goalmatch.web.schema import invitations
from goalmatch.web.store import Store
from tests.web.helpers import PASSWORD, add, csrf_of, decide, login

ADMIN_PAGES = ("/admin/users", "/admin/model", "/admin/users/alice/history")


def _admin(app: Any) -> tuple[TestClient, str]:
    app.state.review.store.set_admin("alice")
    return login(app, "alice")


def _invite(client: TestClient, csrf: str, name: str) -> str:
    page = client.post("/admin/users/invite", data={"username": name, "csrf": csrf})
    assert page.status_code == 200, page.text
    found = re.search(r'value="http://testserver/invite/([A-Za-z0-9_-]+)"', page.text)
    assert found, page.text
    return found.group(1)


def test_admin_pages_are_403_in_swedish_for_a_reviewer(app: Any) -> None:
    client, csrf = login(app, "bob")
    for path in ADMIN_PAGES:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "bara för administratörer" in response.text
    for path in ("/admin/users/invite", "/admin/users/alice/deactivate", "/admin/model/retrain"):
        assert client.post(path, data={"csrf": csrf, "username": "x"}).status_code == 403, path
    assert app.state.review.store.user_active("alice")
    assert "Användare</a>" not in client.get("/queue").text  # no admin links for a reviewer


def test_is_admin_and_the_admin_links(app: Any) -> None:
    store = app.state.review.store
    assert not store.is_admin("alice") and not store.is_admin("nobody") and not store.is_admin(None)
    client, _ = _admin(app)
    assert store.is_admin("alice") and not store.is_admin("bob")
    page = client.get("/queue").text
    assert 'href="/admin/users">Användare' in page and 'href="/admin/model">Modell' in page
    assert 'href="/history">Min historik' in page
    store.deactivate_user("alice")
    assert not store.is_admin("alice")  # a deactivated admin is no admin


def test_users_page_lists_decisions_sessions_and_swedish_times(app: Any) -> None:
    bob, bob_csrf = login(app, "bob")
    app_id = add(bob, bob_csrf)
    assert decide(bob, bob_csrf, app_id, "test", "reject").status_code == 303
    client, _ = _admin(app)
    page = client.get("/admin/users").text
    bob_row = page[page.index("/admin/users/bob/history"):].split("</tr>")[0]
    cells = re.findall(r"<td>([^<]*)</td>", bob_row)
    assert cells[:4] == ["ja", "nej", "1", cells[3]] and re.search(r"\d{4} kl\. \d\d\.\d\d", cells[3]), cells
    assert cells[4] == "1"  # bob's live session
    assert "T" not in cells[3] and "+00:00" not in page  # no ISO times


def test_invite_accept_and_sign_in(app: Any) -> None:
    client, csrf = _admin(app)
    token = _invite(client, csrf, "cecilia")
    stored = app.state.review.store.engine.connect().execute(sa.select(invitations.c.token_hash)).scalar_one()
    assert token not in stored and len(stored) == 64  # only the hash is kept
    guest = TestClient(app, follow_redirects=False)
    page = guest.get(f"/invite/{token}")
    assert page.status_code == 200 and "cecilia" in page.text
    short = guest.post(f"/invite/{token}", data={"csrf": csrf_of(page.text), "password": "kort", "again": "kort"})
    assert short.status_code == 400 and "minst 8 tecken" in short.text
    differ = guest.post(f"/invite/{token}", data={"csrf": csrf_of(page.text), "password": PASSWORD, "again": "x"})
    assert differ.status_code == 400 and "inte lika" in differ.text
    done = guest.post(f"/invite/{token}", data={"csrf": csrf_of(page.text), "password": PASSWORD,
                                                 "again": PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/queue"
    assert "Inloggad som cecilia" in guest.get("/queue").text  # signed in at once
    assert app.state.review.store.authenticate("cecilia", PASSWORD)
    assert not app.state.review.store.is_admin("cecilia")
    # the link works once
    again = TestClient(app, follow_redirects=False)
    page = again.get(f"/invite/{token}")
    assert page.status_code == 410 and "gäller inte längre" in page.text
    reuse = again.post(f"/invite/{token}", data={"csrf": csrf_of(again.get("/login").text), "password": "annat-losen-2",
                                                  "again": "annat-losen-2"})
    assert reuse.status_code == 410 and not app.state.review.store.authenticate("cecilia", "annat-losen-2")


def test_invitation_refused_after_seven_days_and_for_a_taken_name(app: Any) -> None:
    client, csrf = _admin(app)
    token = _invite(client, csrf, "david")
    store = app.state.review.store
    with store.engine.begin() as conn:
        conn.execute(sa.update(invitations).values(expires_at=utcnow() - timedelta(seconds=1)))
    guest = TestClient(app, follow_redirects=False)
    page = guest.get(f"/invite/{token}")
    assert page.status_code == 410
    late = guest.post(f"/invite/{token}", data={"csrf": csrf_of(guest.get("/login").text), "password": PASSWORD,
                                                 "again": PASSWORD})
    assert late.status_code == 410 and not store.user_active("david")
    taken = client.post("/admin/users/invite", data={"username": "bob", "csrf": csrf})
    assert taken.status_code == 400 and "finns redan" in taken.text
    assert client.get("/invite/not-a-token").status_code == 410


def test_deactivate_ends_sessions_at_once_and_reactivate(app: Any) -> None:
    bob, _ = login(app, "bob")
    assert bob.get("/queue").status_code == 200
    client, csrf = _admin(app)
    assert client.post("/admin/users/bob/deactivate", data={"csrf": csrf}).status_code == 303
    assert bob.get("/queue").status_code == 303  # sent to the login page
    assert app.state.review.store.live_sessions("bob") == 0
    assert "<td>nej</td>" in client.get("/admin/users").text
    assert client.post("/admin/users/bob/reactivate", data={"csrf": csrf}).status_code == 303
    assert app.state.review.store.authenticate("bob", PASSWORD)
    own = client.post("/admin/users/alice/deactivate", data={"csrf": csrf})
    assert own.status_code == 400 and "inte inaktivera dig själv" in own.text
    assert app.state.review.store.user_active("alice")
    assert client.post("/admin/users/bob/deactivate", data={}).status_code == 403  # no CSRF token
    assert client.post("/admin/users/nobody/deactivate", data={"csrf": csrf}).status_code == 404


def test_make_admin_in_the_app(app: Any) -> None:
    client, csrf = _admin(app)
    assert client.post("/admin/users/bob/admin", data={"csrf": csrf}).status_code == 303
    assert app.state.review.store.is_admin("bob")
    assert client.post("/admin/users/bob/not-admin", data={"csrf": csrf}).status_code == 303
    assert not app.state.review.store.is_admin("bob")


def test_history_lists_only_that_users_decisions_newest_first(app: Any) -> None:
    bob, bob_csrf = login(app, "bob")
    first, second = add(bob, bob_csrf, title="Första ansökan"), add(bob, bob_csrf, title="Andra ansökan")
    assert decide(bob, bob_csrf, first, "test", "correct", ["t-bredband"], comment="byarna").status_code == 303
    assert decide(bob, bob_csrf, second, "test", "reject").status_code == 303
    client, csrf = _admin(app)
    assert decide(client, csrf, first, "test-multi", "reject", version=0).status_code == 303
    page = bob.get("/history").text
    assert "Min historik" in page and "2 beslut" in page
    assert page.index("Andra ansökan") < page.index("Första ansökan")
    assert "Rättad" in page and "Avvisad" in page and "Test multi" not in page  # alice's decision is not his
    assert "Bredband" in page and "(t-bredband)" in page and "byarna" in page
    assert re.search(r"\d{4} kl\. \d\d\.\d\d", page) and "correct" not in page
    assert f'href="/applications/{first}"' in page
    theirs = client.get("/admin/users/bob/history").text
    assert "Historik för bob" in theirs and "2 beslut" in theirs
    assert "1 beslut" in client.get("/history").text


def test_migration_7_adds_is_admin_to_an_old_database(tmp_path: Any) -> None:
    from goalmatch.web import schema

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    store = Store(url)
    store.create_user("eva", PASSWORD)
    with store.engine.begin() as conn:  # back to version 4: users without is_admin, no new tables
        conn.execute(sa.text("ALTER TABLE users DROP COLUMN is_admin"))
        conn.execute(sa.text("DROP TABLE invitations"))
        conn.execute(sa.text("DROP TABLE model_versions"))
        conn.execute(sa.delete(schema.schema_version).where(schema.schema_version.c.version == 7))
    store.engine.dispose()
    store = Store(url)
    assert store.schema_version() >= 7
    assert not store.is_admin("eva") and store.set_admin("eva") and store.is_admin("eva")
    assert store.authenticate("eva", PASSWORD)
    store.engine.dispose()
