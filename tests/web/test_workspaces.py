"""Issue 15, item 3: workspaces choose the frameworks a user sees; the queue's confidence is per framework.

A user in a workspace sees only its frameworks on the application page, in the queue (its
filter, columns, ordering and "Säkerhet högst") and on the dashboard; a user without one sees
every framework, as before. The workspace page creates and edits a workspace.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

pytest.importorskip("fastapi")

from goalmatch.errors import StoreError
from goalmatch.web import workspaces as ws
from tests.web.helpers import TEXT, add, login


def _suggestions(web_matcher: Any, test: float, multi: float, *, multi_abstains: bool) -> dict[str, Any]:
    """The toy's suggestions with the top probability set per framework; test-multi abstaining or not."""
    data = copy.deepcopy(web_matcher.suggest(TEXT).to_dict())
    for fw in data["frameworks"]:
        top = test if fw["framework_id"] == "test" else multi
        for s in fw["suggestions"]:
            s["probability"] = min(s["probability"], top)
        fw["suggestions"][0]["probability"] = top
        if fw["framework_id"] == "test-multi":
            fw["abstained"] = multi_abstains
            for s in fw["suggestions"]:
                s["confident"] = s["confident"] and not multi_abstains
    return data


def test_workspaces_are_created_assigned_and_checked(app: Any) -> None:
    store, known = app.state.review.store, app.state.review.frameworks
    leader = ws.create(store, "Leader Test", ["test", "test"], known)
    assert leader.frameworks == ("test",) and ws.workspace_of(store, "alice") is None
    assert ws.assign(store, "alice", "Leader Test") == leader and ws.workspace_of(store, "alice") == leader
    assert ws.set_frameworks(store, leader.id, ["test", "test-multi"], known).frameworks == tuple(
        f for f in known if f in ("test", "test-multi"))  # in the model's order
    for bad_name, bad_frameworks, message in (("Leader Test", ["test"], "finns redan"), ("", ["test"], "namn"),
                                               ("Region", [], "minst ett ramverk"), ("Region", ["sdg"], "okänt")):
        with pytest.raises(StoreError, match=message):
            ws.create(store, bad_name, bad_frameworks, known)
    with pytest.raises(StoreError, match="ingen arbetsyta"):
        ws.assign(store, "bob", "Finns inte")
    assert [w.name for w in ws.list_all(store)] == ["Leader Test"]


def test_a_workspace_user_sees_only_its_frameworks(app: Any) -> None:
    client, csrf = login(app)
    app_id = add(client, csrf)
    everything = client.get(f"/applications/{app_id}").text
    assert 'id="fw-test"' in everything and 'id="fw-test-multi"' in everything
    store = app.state.review.store
    ws.create(store, "Leader Multi", ["test-multi"], app.state.review.frameworks)
    ws.assign(store, "alice", "Leader Multi")
    page = client.get(f"/applications/{app_id}").text
    assert 'id="fw-test-multi"' in page and 'id="fw-test"' not in page and 'name="action-test"' not in page
    queue = client.get("/queue").text
    assert '<option value="test-multi"' in queue and '<option value="test"' not in queue
    assert "Säkerhet: Test multi" in queue and "Säkerhet: Test<" not in queue
    outside = client.get("/queue", params={"framework": "test"})
    assert outside.status_code == 400 and "finns inte bland arbetsytans ramverk" in outside.text
    # the one Spara only saves the workspace's frameworks, whatever else the form carries
    saved = client.post(f"/applications/{app_id}/beslut", data={
        "csrf": csrf, "action-test": "reject", "version-test": "0", "action-test-multi": "reject",
        "version-test-multi": "0"})
    assert saved.status_code == 303
    assert [d.framework_id for d in store.decisions(app_id)] == ["test-multi"]
    bob, _ = login(app, "bob")  # no workspace: every framework, as before
    assert 'id="fw-test"' in bob.get(f"/applications/{app_id}").text


def test_the_queue_confidence_is_per_framework_of_the_workspace(app: Any, web_matcher: Any) -> None:
    store = app.state.review.store
    shop = store.add_application("Byabutik", TEXT, "t", _suggestions(web_matcher, 0.9, 0.2, multi_abstains=True))
    unsure = store.add_application("Osäker", TEXT, "t", _suggestions(web_matcher, 0.4, 0.95, multi_abstains=False))
    client, _ = login(app)
    # no workspace: the lowest over every framework orders the queue (the shop's abstained 0.2 first)
    assert [r["id"] for r in store.queue()[0]] == [shop, unsure]
    everything = client.get("/queue").text
    assert "ingen säker träff" in everything and "Säkerhet: Test<" in everything
    ws.create(store, "Leader Test", ["test"], app.state.review.frameworks)
    ws.assign(store, "alice", "Leader Test")
    assert [r["id"] for r in store.queue(frameworks=["test"])[0]] == [unsure, shop]
    page = client.get("/queue").text
    rows = re.findall(r'<a href="/applications/(\d+)">', page)
    assert rows == [str(unsure), str(shop)]  # least sure first, in the workspace's framework only
    assert "90 %" in page and "40 %" in page and "ingen säker träff" not in page  # test-multi is nobody's here
    assert "Säkerhet: Test multi" not in page
    for ceiling in ("0,5", "50 %", "0.5", "50"):
        filtered = client.get("/queue", params={"max_confidence": ceiling})
        assert filtered.status_code == 200 and re.findall(r'<a href="/applications/(\d+)">', filtered.text) == [
            str(unsure)], ceiling
    for bad in ("abc", "150 %"):
        refused = client.get("/queue", params={"max_confidence": bad})
        assert refused.status_code == 400 and 'class="error"' in refused.text and "Säkerhet högst" in refused.text
        assert f'value="{bad}"' in refused.text  # what was typed stays in the field


def test_the_workspace_page_creates_and_edits_the_workspace(app: Any) -> None:
    client, csrf = login(app)
    assert 'name="name"' not in client.get("/arbetsyta").text  # a reviewer sees it read-only
    refused = client.post("/arbetsyta", data={"csrf": csrf, "name": "Leader Test", "frameworks": ["test"]})
    assert refused.status_code == 403 and ws.workspace_of(app.state.review.store, "alice") is None
    app.state.review.store.set_admin("alice")  # the organisation's choice: an administrator's to make
    page = client.get("/arbetsyta").text
    assert "Du hör inte till någon arbetsyta" in page and 'name="name"' in page
    refused = client.post("/arbetsyta", data={"csrf": csrf, "name": "Leader Test"})
    assert refused.status_code == 400 and "minst ett ramverk" in refused.text and 'value="Leader Test"' in refused.text
    created = client.post("/arbetsyta", data={"csrf": csrf, "name": "Leader Test", "frameworks": ["test"]})
    assert created.status_code == 303 and created.headers["location"] == "/arbetsyta?sparat=1"
    page = client.get("/arbetsyta?sparat=1").text
    assert "Du arbetar i <strong>Leader Test</strong>" in page and "Arbetsytan är sparad" in page
    assert re.search(r'value="test" checked', page) and not re.search(r'value="test-multi" checked', page)
    edited = client.post("/arbetsyta", data={"csrf": csrf, "frameworks": ["test-multi", "test"]})
    assert edited.status_code == 303
    stored = ws.workspace_of(app.state.review.store, "alice")
    assert stored is not None and set(stored.frameworks) == {"test", "test-multi"}
    assert client.post("/arbetsyta", data={"frameworks": ["test"]}).status_code == 403  # no CSRF token


def test_the_workspace_command(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from goalmatch.cli.main import main
    from goalmatch.web.store import Store

    url = f"sqlite:///{tmp_path / 'ws.sqlite3'}"
    store = Store(url)
    store.create_user("alice", "ett-langt-losen")
    store.engine.dispose()
    assert main(["workspace", "add", "Leader Test", "--frameworks", "test", "rus", "--database", url]) == 0
    assert "arbetsytan 'Leader Test' skapad med ramverken test, rus" in capsys.readouterr().out
    assert main(["workspace", "assign", "alice", "Leader Test", "--database", url]) == 0
    assert main(["workspace", "list", "--database", url]) == 0
    assert "Leader Test: test, rus" in capsys.readouterr().out
    assert main(["workspace", "assign", "nobody", "Leader Test", "--database", url]) != 0
    assert "ingen granskare heter 'nobody'" in capsys.readouterr().err
    assert main(["workspace", "add", "Leader Test", "--frameworks", "test", "--database", url]) != 0
    assert "finns redan" in capsys.readouterr().err
    store = Store(url)
    found = ws.workspace_of(store, "alice")
    store.engine.dispose()
    assert found is not None and found.frameworks == ("test", "rus")


def test_the_workspace_lookup_failing_gives_the_503_page(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    client, _ = login(app)

    def gone(*args: Any, **kwargs: Any) -> Any:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(ws, "workspace_of", gone)  # the route's lookup and the error page's both fail
    tolerant = TestClient(app, follow_redirects=False, raise_server_exceptions=False, cookies=dict(client.cookies))
    page = tolerant.get("/queue")
    assert page.status_code == 503 and "Databasen svarar inte" in page.text
