"""Issue 16, round two: the attacks on the review app, each reproduced (small, bounded) and refused.

Sign-in throttling under parallel guesses (item 10), bodies without a Content-Length
(item 11), what a JSON body's NaN, infinities and lone surrogates do (item 14), stored
suggestions that the pages cannot render (item 15), the time a sign-in takes telling
account status (item 16), and the security headers of every response. The upload bombs
(items 12, 13) are in ``test_web_uploads.py``, the database-file faults (17, 18) in
``test_web_faults.py``. SQLite, and PostgreSQL when ``GOALMATCH_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from goalmatch.model.matcher import Matcher
from goalmatch.web.app import create_app
from tests.web.helpers import PASSWORD, SECRET, TOKEN, csrf_of

# ------------------------------------------------------------------ item 10: parallel guesses


@pytest.fixture
def limited_app(web_matcher: Matcher, database_url: str) -> Any:
    from goalmatch.web.store import LoginLimits

    app = create_app(matcher=web_matcher, database_url=database_url, secret=SECRET, token=TOKEN,
                     login_limits=LoginLimits(per_account=3, per_client=30, window=60))
    app.state.review.store.create_user("alice", PASSWORD)
    yield app
    app.state.review.store.engine.dispose()


def _all_at_once(count: int, attempt: Any) -> list[int]:
    """Run ``attempt(i)`` in ``count`` threads released together; their status codes."""
    barrier = threading.Barrier(count)
    codes: list[int] = [0] * count

    def run(i: int) -> None:
        barrier.wait()
        codes[i] = attempt(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return codes


def test_parallel_wrong_passwords_are_checked_no_more_than_the_limit(limited_app: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # issue 16, item 10: 40 wrong passwords at once for one name from one address were all checked
    # (40 x 401); the check ran before any failure was counted. Now checking and counting are one
    # transaction: 3 are checked (401), 37 wait (429).
    store = limited_app.state.review.store
    checked: list[str] = []
    lock = threading.Lock()

    def slow_wrong(user: str, password: str) -> bool:
        with lock:
            checked.append(password)
        threading.Event().wait(0.05)  # a password check takes a while: the window the race needs
        return False

    monkeypatch.setattr(store, "authenticate", slow_wrong)
    clients = [TestClient(limited_app, follow_redirects=False) for _ in range(40)]
    tokens = [csrf_of(client.get("/login").text) for client in clients]
    codes = _all_at_once(40, lambda i: clients[i].post("/login", data={
        "username": "alice", "password": f"gissning-{i}", "csrf": tokens[i]}).status_code)
    assert Counter(codes) == {401: 3, 429: 37}
    assert len(checked) == 3


def test_parallel_wrong_bearer_tokens_are_refused_after_the_limit(limited_app: Any) -> None:
    client = TestClient(limited_app)
    codes = _all_at_once(40, lambda i: client.get(
        "/api/applications", headers={"Authorization": f"Bearer gissning-{i}"}).status_code)
    assert Counter(codes) == {401: 3, 429: 37}  # wrong tokens are all counted under one name
    assert client.get("/api/applications", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 429


def test_claiming_an_attempt_counts_it_and_a_success_forgets_it(limited_app: Any) -> None:
    from goalmatch.web.store import LoginLimits

    store = limited_app.state.review.store
    limits = LoginLimits(per_account=2, per_client=10, window=60)
    assert [store.claim_login_attempt("alice", "10.0.0.9", limits) for _ in range(2)] == [0, 0]
    assert store.claim_login_attempt("alice", "10.0.0.9", limits) > 0  # blocked: nothing counted
    assert store.claim_login_attempt("bob", "10.0.0.9", limits) == 0
    store.clear_login_failures("alice", "10.0.0.9")
    assert store.login_wait("alice", "10.0.0.9", limits) == 0


# ------------------------------------------------------------------ item 11: a body without a Content-Length


def _endless_post(app: Any, path: str, content_type: str, head: bytes,
                  headers: list[tuple[bytes, bytes]] = ()) -> tuple[int, int, bytes]:
    """POST an endless chunked body (no Content-Length) straight to the ASGI app.

    The body is ``head`` and then 64 KiB chunks for ever (1 GiB and more if read); returns
    the status, how many bytes the app pulled, and the response body.
    """
    import anyio

    chunk = b"A" * 65536
    pulled = 0
    sent: list[dict[str, Any]] = []
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), (b"content-type", content_type.encode()),
                         (b"transfer-encoding", b"chunked"), *headers],
             "client": ("203.0.113.7", 4242), "server": ("testserver", 80)}

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        body = head if pulled == 0 else chunk
        pulled += len(body)
        assert pulled < 64 * 1024 * 1024, "the app kept reading past 64 MiB"
        return {"type": "http.request", "body": body, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], pulled, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_an_endless_chunked_upload_is_refused_as_it_streams(app: Any) -> None:
    # issue 16, item 11: a chunked 1 GiB multipart POST to /login was spooled to /tmp before the
    # 403 (with a Content-Length it was 413). Now the body is counted as it arrives: 413 at the limit.
    from goalmatch.web.services import MAX_BODY_BYTES

    boundary = "gr\u00e4ns"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.txt\"\r\n"
            "Content-Type: text/plain\r\n\r\n").encode()
    status, pulled, body = _endless_post(app, "/login", f"multipart/form-data; boundary={boundary}", head)
    assert status == 413 and "för stor" in body.decode()
    assert MAX_BODY_BYTES < pulled <= MAX_BODY_BYTES + 65536 + len(head)
    status, pulled, body = _endless_post(app, "/api/suggest", "application/json", b'{"text": "',
                                         [(b"authorization", f"Bearer {TOKEN}".encode())])
    assert status == 413 and pulled <= MAX_BODY_BYTES + 65536 and "för stor" in body.decode()


def test_a_declared_oversize_body_is_refused_before_it_is_read(app: Any) -> None:
    from goalmatch.web.services import MAX_BODY_BYTES

    client = TestClient(app)
    response = client.post("/login", content=b"x" * (MAX_BODY_BYTES + 1), headers={"Content-Type": "text/plain"})
    assert response.status_code == 413


# ------------------------------------------------------------------ item 14: NaN, infinities, lone surrogates


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999", '"\\udcff"', '"\\ud800x"'])
@pytest.mark.parametrize("place", ["top_k", "version", "probability"])
def test_nan_infinities_and_lone_surrogates_in_json_are_a_422_naming_the_field(app: Any, place: str,
                                                                                value: str) -> None:
    # issue 16, item 14: NaN, Infinity and 1e999 (top_k, version, a probability) gave 500: the 422
    # handler quoted the input back and could not serialise it; lone surrogates tripped it too.
    from tests.web.helpers import TEXT, add, login

    api = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
                     raise_server_exceptions=False)
    text = f'"text": {_json(TEXT)}'
    if place == "top_k":
        response = api.post("/api/suggest", content=f'{{{text}, "top_k": {value}}}')
    elif place == "version":
        client, csrf = login(app)
        app_id = add(client, csrf)
        response = api.post(f"/api/applications/{app_id}/decisions",
                            content=f'{{"framework_id": "test", "action": "accept", "version": {value}}}')
    else:
        goal = f'{{"goal_id": "t-kultur", "probability": {value}}}'
        response = api.post("/api/applications", content=f'{{{text}, "suggestions": {{"frameworks": '
                                                          f'[{{"framework_id": "test", "suggestions": [{goal}]}}]}}}}')
    assert response.status_code == 422, (place, value, response.status_code, response.text[:300])
    assert response.json()["detail"][0]["loc"][-1] == place
    assert "\ud800" not in response.text and "\udcff" not in response.text


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


# ------------------------------------------------------------------ item 15: stored suggestions the pages read


def test_a_stored_similarity_that_is_not_a_number_is_refused(app: Any) -> None:
    # issue 16, item 15: similar_projects [{"id": "p", "similarity": "abc"}] was accepted (201) and
    # GET /applications/{id} was 500 ever after. The stored suggestions' types refuse it now (422).
    from tests.web.helpers import TEXT

    api = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}, raise_server_exceptions=False)
    for bad in ({"frameworks": [], "similar_projects": [{"id": "p", "similarity": "abc"}]},
                {"frameworks": [{"framework_id": "test", "suggestions": [{"goal_id": "t-kultur", "probability": 0.5,
                                                                          "evidence": {"projects": [
                                                                              {"id": "p", "similarity": "abc"}]}}]}]},
                {"frameworks": [{"framework_id": "test", "support": "abc"}]},
                {"frameworks": [{"framework_id": "test", "suggestions": [{"goal_id": "t-kultur", "probability": 0.5,
                                                                          "evidence": {"sentences": [
                                                                              {"start": "a", "end": 3}]}}]}]}):
        response = api.post("/api/applications", json={"text": TEXT, "suggestions": bad})
        assert response.status_code == 422, (bad, response.text[:300])
    assert api.get("/api/applications").json() == []


ODD_BUT_VALID = [  # stored suggestions the API takes: each must render on every page that reads them
    {"frameworks": []},
    {"frameworks": [{"framework_id": "okänt-ramverk", "suggestions": [{"goal_id": "x", "probability": 1}]}]},
    {"frameworks": [{"framework_id": "test"}, {"framework_id": "test"}]},  # the same framework twice
    {"frameworks": [{"framework_id": "test", "abstained": True, "reason": None, "support": None,
                     "suggestions": [{"goal_id": "t-okänt", "probability": 0, "confident": True, "evidence": {
                         "sentences": [{"start": 2_000_000_000, "end": 5}, {"start": 9, "end": 3},
                                       {"start": 0, "end": 2_147_483_647, "similarity": None}],
                         "passage": {"text": "<script>x</script>" * 100, "similarity": None},
                         "projects": [{"id": "", "similarity": None, "title": None}]}}]}],
     "similar_projects": [{"id": "p/1", "similarity": None, "labels": ["<b>"]}],
     "flags": {"repaired": "ja", "too_short": [1], "x": {"y": None}}},
]


@pytest.mark.parametrize("given", ODD_BUT_VALID)
def test_any_stored_suggestions_the_api_accepts_render(app: Any, given: dict[str, Any]) -> None:
    from tests.web.helpers import TEXT, decide, login

    api = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}, raise_server_exceptions=False)
    created = api.post("/api/applications", json={"text": TEXT, "suggestions": given})
    assert created.status_code == 201, created.text[:300]
    app_id = created.json()["id"]
    client, csrf = login(app)
    tolerant = TestClient(app, follow_redirects=False, raise_server_exceptions=False, cookies=dict(client.cookies))
    assert decide(tolerant, csrf, app_id, "test", "accept").status_code in (303, 400)
    for path in (f"/applications/{app_id}", "/queue", "/dashboard", "/export.jsonl"):
        response = tolerant.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert "<script>" not in response.text
    assert api.get(f"/api/applications/{app_id}").status_code == 200


# ------------------------------------------------------------------ item 16: the time a sign-in takes


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_sign_in_costs_exactly_one_scrypt_whatever_the_account(app: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # issue 16, item 16: a wrong password for an existing user, an unknown user (the equaliser ran
    # scrypt twice) and a deactivated user (no scrypt at all) took different times. Counted, not timed.
    import hashlib

    store = app.state.review.store
    store.create_user("carl", PASSWORD)
    store.deactivate_user("carl")
    calls: list[int] = []
    real_scrypt = hashlib.scrypt
    monkeypatch.setattr(hashlib, "scrypt", lambda *args, **kwargs: calls.append(1) or real_scrypt(*args, **kwargs))
    for user, password, expected in [("alice", "fel-lösen", False), ("ingen-sådan", "fel-lösen", False),
                                     ("carl", PASSWORD, False), ("carl", "fel-lösen", False),
                                     ("alice", PASSWORD, True)]:
        calls.clear()
        assert store.authenticate(user, password) is expected, user
        assert len(calls) == 1, (user, len(calls))
    client = TestClient(app, follow_redirects=False)
    for user in ("alice", "ingen-sådan", "carl"):  # and so through the sign-in form
        calls.clear()
        token = csrf_of(client.get("/login").text)
        assert client.post("/login", data={"username": user, "password": "fel-lösen", "csrf": token}).status_code == 401
        assert len(calls) == 1, user


# ------------------------------------------------------------------ security headers on every response


def test_every_response_carries_nosniff_and_a_content_security_policy(app: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.web.helpers import login

    client, _ = login(app)
    api = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}, raise_server_exceptions=False)
    anonymous = TestClient(app, follow_redirects=False)
    responses = {
        "page": client.get("/queue"), "login page": anonymous.get("/login"), "redirect": anonymous.get("/queue"),
        "static": anonymous.get("/static/style.css"), "export": client.get("/export.jsonl"),
        "json": api.get("/api/frameworks"), "401": anonymous.get("/api/applications"),
        "404 page": client.get("/applications/999"), "422": api.post("/api/suggest", json={"text": ""}),
        "413": anonymous.post("/login", content=b"x" * (6 * 1024 * 1024), headers={"Content-Type": "text/plain"}),
        "docs": client.get("/api/docs"),
    }
    monkeypatch.setattr(app.state.review.store, "applications", lambda **kwargs: 1 / 0)
    responses["500"] = api.get("/api/applications")
    assert responses["500"].status_code == 500
    for what, response in responses.items():
        assert response.headers.get("x-content-type-options") == "nosniff", what
        policy = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, what
        assert "script-src" not in policy and ("unsafe-inline" not in policy or what == "docs"), what
