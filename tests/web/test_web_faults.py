"""Faults injected into the review app: the database connection dropped mid-request, disk full.

The promise: a clear answer (503 for the database, 507 for a full disk, a Swedish and
English message, never a stack trace), no half-written decision (the audit trail and the
review state agree) and the app works again on the next request.

SQLite: an ``OperationalError`` is injected at the commit of a decision. PostgreSQL (when
``GOALMATCH_TEST_POSTGRES_URL`` is set): a second connection terminates the app's server
process with ``pg_terminate_backend`` in the middle of a decision (before the audit row
is written, and at the commit).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import tempfile
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

import sqlalchemy as sa
from fastapi.testclient import TestClient

from goalmatch.web.schema import decisions, reviews
from tests.web.helpers import add, decide, login

POSTGRES = os.environ.get("GOALMATCH_TEST_POSTGRES_URL")


def consistent(store: Any) -> list[tuple[int, str, int]]:
    """The review states, checked against the audit trail: every state is the trail's last decision."""
    with store.engine.connect() as conn:
        states = {(r.application_id, r.framework_id): r for r in conn.execute(sa.select(reviews))}
        trail = conn.execute(sa.select(decisions).order_by(decisions.c.id)).all()
    last: dict[tuple[int, str], Any] = {}
    for d in trail:
        last[(d.application_id, d.framework_id)] = d
    assert set(states) == set(last), "a review state without its decision, or the reverse"
    for key, state in states.items():
        assert (state.version, state.action, state.goal_ids, state.reviewer) == (
            last[key].version, last[key].action, last[key].goal_ids, last[key].reviewer)
        assert [d.version for d in trail if (d.application_id, d.framework_id) == key] == list(
            range(1, state.version + 1))
    return sorted((a, f, s.version) for (a, f), s in states.items())


def tolerant(client: TestClient) -> TestClient:
    """The same browser, but 5xx come back as responses (as a real browser sees them)."""
    return TestClient(client.app, follow_redirects=False, raise_server_exceptions=False, cookies=dict(client.cookies))


def assert_clear_503(response: Any, *, api: bool) -> None:
    assert response.status_code == 503, response.text
    assert response.headers.get("retry-after") == "5"
    assert "Traceback" not in response.text and "sqlalchemy" not in response.text.lower()
    assert "Databasen gick inte att nå" in response.text and "The database could not be reached" in response.text
    if api:
        assert response.json()["detail"].startswith("Databasen gick inte att nå")
    else:
        assert "<html" in response.text


# ------------------------------------------------------------------ SQLite: a failure at the commit


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL: the server process is killed below
def test_sqlite_commit_failure_gives_503_and_no_half_decision(app: Any, database_url: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    client, csrf = login(app)
    app_id = add(client, csrf)
    store = app.state.review.store
    assert decide(client, csrf, app_id, "test", "accept").status_code == 303
    dialect = store.engine.dialect
    real_commit = dialect.do_commit
    failures: dict[str, Any] = {"left": 0, "message": "disk I/O error"}

    def failing_commit(dbapi_connection: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise sqlite3.OperationalError(failures["message"])
        real_commit(dbapi_connection)

    monkeypatch.setattr(dialect, "do_commit", failing_commit)
    browser = tolerant(client)
    failures["left"] = 1  # the page's second decision (version 1 -> 2)
    assert_clear_503(decide(browser, csrf, app_id, "test", "correct", ["t-kultur"], version=1), api=False)
    failures["left"] = 1  # the API's first decision on the other framework
    response = browser.post(f"/api/applications/{app_id}/decisions", headers={"X-CSRF-Token": csrf},
                            json={"framework_id": "test-multi", "action": "reject", "version": 0})
    assert_clear_503(response, api=True)
    failures.update(left=1, message="database or disk is full")  # SQLite's own words for a full disk
    assert_clear_503(decide(browser, csrf, app_id, "test", "reject", version=1), api=False)
    assert consistent(store) == [(app_id, "test", 1)]  # nothing half-written
    # the next requests work, and the same decisions go through once
    assert decide(client, csrf, app_id, "test", "correct", ["t-kultur"], version=1).status_code == 303
    assert client.post(f"/api/applications/{app_id}/decisions", headers={"X-CSRF-Token": csrf},
                       json={"framework_id": "test-multi", "action": "reject", "version": 0}).status_code == 201
    assert consistent(store) == [(app_id, "test", 2), (app_id, "test-multi", 1)]


def test_database_gone_while_reading_gives_503(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, csrf = login(app)
    add(client, csrf)
    store = app.state.review.store

    def gone(*args: Any, **kwargs: Any) -> Any:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(store, "applications", gone)
    monkeypatch.setattr(store, "queue", gone)
    browser = tolerant(client)
    assert_clear_503(browser.get("/queue"), api=False)
    assert_clear_503(browser.get("/api/applications"), api=True)
    monkeypatch.setattr(store, "session_user", gone)  # even the sign-in check: 503, not a redirect to login
    assert_clear_503(browser.get("/dashboard"), api=False)
    monkeypatch.undo()
    assert client.get("/queue").status_code == 200


# ------------------------------------------------------------------ PostgreSQL: the server process killed


@pytest.mark.skipif(not POSTGRES, reason="needs GOALMATCH_TEST_POSTGRES_URL (scripts/start-postgres.sh)")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite: the injected commit failure
@pytest.mark.parametrize("moment", ["before the audit row", "at the commit"])
def test_postgres_backend_terminated_mid_decision(app: Any, database_url: str, moment: str) -> None:
    client, csrf = login(app)
    app_id = add(client, csrf)
    store = app.state.review.store
    assert decide(client, csrf, app_id, "test", "accept").status_code == 303
    killer = sa.create_engine(database_url)
    armed = {"on": False, "killed": 0}

    def terminate(pid: int) -> None:
        with killer.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        armed["on"] = False
        armed["killed"] += 1

    def before_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if armed["on"] and statement.lstrip().upper().startswith("INSERT INTO DECISIONS"):
            terminate(cursor.connection.info.backend_pid)

    def before_commit(conn: Any) -> None:
        if armed["on"]:
            terminate(conn.connection.dbapi_connection.info.backend_pid)

    if moment == "before the audit row":
        sa.event.listen(store.engine, "before_cursor_execute", before_insert)
    else:
        sa.event.listen(store.engine, "commit", before_commit)
    try:
        browser = tolerant(client)
        armed["on"] = True
        assert_clear_503(decide(browser, csrf, app_id, "test", "correct", ["t-kultur"], version=1), api=False)
        armed["on"] = True
        response = browser.post(f"/api/applications/{app_id}/decisions", headers={"X-CSRF-Token": csrf},
                                json={"framework_id": "test-multi", "action": "reject", "version": 0})
        assert_clear_503(response, api=True)
        assert armed["killed"] == 2
    finally:
        killer.dispose()
    assert consistent(store) == [(app_id, "test", 1)]
    # the app recovers on the next request: a fresh connection, and the decisions go through once
    assert decide(client, csrf, app_id, "test", "correct", ["t-kultur"], version=1).status_code == 303
    assert client.post(f"/api/applications/{app_id}/decisions", headers={"X-CSRF-Token": csrf},
                       json={"framework_id": "test-multi", "action": "reject", "version": 0}).status_code == 201
    assert consistent(store) == [(app_id, "test", 2), (app_id, "test-multi", 1)]


@pytest.mark.skipif(not POSTGRES, reason="needs GOALMATCH_TEST_POSTGRES_URL (scripts/start-postgres.sh)")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgres_idle_connections_killed_between_requests_are_replaced(app: Any, database_url: str) -> None:
    client, csrf = login(app)
    app_id = add(client, csrf)
    killer = sa.create_engine(database_url)
    with killer.connect() as conn:  # every other connection of this database, i.e. the app's pool
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    killer.dispose()
    assert client.get("/queue").status_code == 200  # pool_pre_ping replaces the dead connections
    assert decide(client, csrf, app_id, "test", "accept").status_code == 303
    assert consistent(app.state.review.store) == [(app_id, "test", 1)]


# ------------------------------------------------------------------ disk full


def test_disk_full_while_spooling_an_upload_gives_507_and_stores_nothing(
        app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import starlette.formparsers

    class FullDisk(tempfile.SpooledTemporaryFile):  # type: ignore[type-arg]
        def rollover(self) -> None:  # the spooled upload outgrows memory and goes to disk
            raise OSError(errno.ENOSPC, "No space left on device")

    client, csrf = login(app)
    monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile", FullDisk)
    big = ("Projektet bygger fiber och bredband till byarna. " * 40_000).encode()[:2 * 1024 * 1024]
    response = tolerant(client).post("/applications", data={"csrf": csrf},
                                     files={"file": ("stor.txt", big, "text/plain")})
    assert response.status_code == 507 and "slut på diskutrymme" in response.text and "Traceback" not in response.text
    assert "out of disk space" in response.text
    assert app.state.review.store.applications() == []
    monkeypatch.undo()
    assert add(client, csrf) > 0  # and the next request works


def test_disk_full_during_the_export_gives_507(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The export is built in memory and sent as the response (no file on the server); a
    failing write underneath it (here: building the records) still answers clearly."""
    import goalmatch.web.review as review

    client, csrf = login(app)
    app_id = add(client, csrf)
    decide(client, csrf, app_id, "test", "accept")

    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(review, "export_records", full)
    response = tolerant(client).get("/export.jsonl")
    assert response.status_code == 507 and "slut på diskutrymme" in response.text
    assert "attachment" not in response.headers.get("content-disposition", "")
    monkeypatch.undo()
    assert client.get("/export.jsonl").status_code == 200


# ------------------------------------------------------------------ the SQLite file itself (issue 16, items 17, 18)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # a file on this machine
@pytest.mark.parametrize("fault", ["deleted", "replaced"])
def test_sqlite_file_deleted_or_replaced_under_the_server_gives_503(
        app: Any, database_url: str, fault: str, caplog: pytest.LogCaptureFixture) -> None:
    # issue 16, item 17: after the SQLite file was deleted under a running server, decisions still
    # got 201 (written to the unlinked file) and were lost. Now the file's identity is checked
    # before every transaction: 503, nothing written anywhere, the reason logged.
    client, csrf = login(app)
    app_id = add(client, csrf)
    path = database_url.removeprefix("sqlite:///")
    for name in (path, path + "-wal", path + "-shm"):
        if os.path.exists(name):
            os.remove(name)
    if fault == "replaced":
        sqlite3.connect(path).close()  # an empty database where the old one was
    api = TestClient(app, headers={"Authorization": "Bearer shared-token-for-tests"}, raise_server_exceptions=False)
    for response in (decide(tolerant(client), csrf, app_id, "test", "accept"),
                     api.post(f"/api/applications/{app_id}/decisions",
                              json={"framework_id": "test", "action": "accept", "version": 0})):
        assert_clear_503(response, api=response.request.url.path.startswith("/api/"))
    assert f"the database file {path} was {fault}" in caplog.text
    assert os.path.exists(path) == (fault == "replaced")  # not silently re-created either


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("side", ["-wal", "-shm"])
def test_a_wal_file_the_server_cannot_write_gives_503_and_recovers(
        app: Any, database_url: str, side: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # issue 16, item 18: a read-only -shm file killed the server ("Bus error"). The -wal and -shm
    # files are checked for writing before every connection and transaction: 503 with the reason
    # logged, and the app works again once they are writable. The check asks os.access, which is
    # simulated here, so the test also runs as root (for whom a chmod changes nothing).
    import goalmatch.web.database as database

    client, csrf = login(app)
    app_id = add(client, csrf)
    path = database_url.removeprefix("sqlite:///")
    assert os.path.exists(path + side)
    real_access = os.access
    monkeypatch.setattr(database.os, "access", lambda name, mode: not str(name).endswith(side) and real_access(
        name, mode))
    assert_clear_503(decide(tolerant(client), csrf, app_id, "test", "accept"), api=False)
    assert f"{path}{side} is not writable" in caplog.text
    monkeypatch.undo()
    assert decide(client, csrf, app_id, "test", "accept").status_code == 303
    assert consistent(app.state.review.store) == [(app_id, "test", 1)]
