"""Retraining from the app: train on the decisions, both models' figures, switch live, roll back, restart."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from goalmatch.data.corpus import Record
from goalmatch.errors import StoreError
from goalmatch.web.app import create_app
from goalmatch.web.retrain import cross_validate, measure
from tests.web.helpers import SECRET, add, decide, login

DECIDED = [  # title, text, the test framework's goal the reviewer chose
    ("Fiber i Kåge", "Fiber och bredband till byarna kring Kåge, snabb uppkoppling för hushållen.", "t-bredband"),
    ("Mobilmaster", "Nya mobilmaster ger täckning och uppkoppling på landsbygden.", "t-bredband"),
    ("Barnteater", "Teater och musik för barn i byarna, med föreställningar varje månad.", "t-kultur"),
    ("Exportstöd", "Små företag får stöd att börja exportera och sälja sina produkter.", "t-foretag"),
]


def _reviewed(app: Any) -> tuple[Any, str]:
    app.state.review.store.set_admin("alice")
    client, csrf = login(app, "alice")
    for title, text, goal in DECIDED:
        app_id = add(client, csrf, text=text, title=title)
        assert decide(client, csrf, app_id, "test", "correct", [goal]).status_code == 303
    return client, csrf


def _stored_model(client: Any, csrf: str, app: Any) -> str:
    app_id = add(client, csrf, text="Bredband till skolan i byn.", title="Ny ansökan")
    return str(app.state.review.store.application(app_id)["suggestions"]["model"])


def test_retrain_compare_switch_rollback_and_restart(app: Any, web_matcher: Any, database_url: str) -> None:
    client, csrf = _reviewed(app)
    first = app.state.review.model_name
    assert _stored_model(client, csrf, app) == first == "startmodellen"
    assert client.post("/admin/model/retrain", data={"csrf": csrf}).status_code == 303
    status = app.state.retrainer.wait(120)
    assert status.state == "done", status.error
    page = client.get("/admin/model").text
    assert "4-faldig korsvalidering" in page and "samma 4 granskade ansökningar" in page.replace("\n", " ")
    assert page.count("% (") >= 4 and "av 4)" in page  # old and new figures, with counts
    assert "Byt till den nya modellen" in page and "http-equiv" not in page
    version = app.state.review.store.model_versions()[0]
    assert Path(version["path"]).is_dir() and version["figures"]["new"]["folds"] == 4
    assert not version["active"] and app.state.review.model_name == first  # nothing switched yet

    assert client.post("/admin/model/switch", data={"csrf": csrf, "version": str(version["id"])}).status_code == 303
    assert app.state.review.model_name == version["name"]
    assert _stored_model(client, csrf, app) == version["name"]  # new applications scored by the new model
    page = client.get("/admin/model").text
    assert "Återgå till föregående modell" in page and "Den nya modellen används" in page

    assert client.post("/admin/model/rollback", data={"csrf": csrf}).status_code == 303
    old_name = app.state.review.model_name
    assert old_name.startswith("start-") and _stored_model(client, csrf, app) == old_name
    assert app.state.review.matcher.info["training_data"] == web_matcher.info["training_data"]

    assert client.post("/admin/model/switch", data={"csrf": csrf, "version": str(version["id"])}).status_code == 303
    restarted = create_app(matcher=web_matcher, database_url=database_url, secret=SECRET, prefer_active=True)
    assert restarted.state.review.model_name == version["name"]
    given = create_app(matcher=web_matcher, database_url=database_url, secret=SECRET)  # serve --model given
    assert given.state.review.model_name == "startmodellen"
    for other in (restarted, given):
        other.state.review.store.engine.dispose()


def test_one_training_at_a_time_and_the_page_refreshes(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, csrf = _reviewed(app)
    retrainer = app.state.retrainer
    release = threading.Event()

    def slow_train(user: str, step: Any) -> int:
        step("Tränar den nya modellen på alla beslut")
        release.wait(30)
        raise StoreError("avbruten i testet")

    monkeypatch.setattr(retrainer, "train", slow_train)
    assert client.post("/admin/model/retrain", data={"csrf": csrf}).status_code == 303
    second = client.post("/admin/model/retrain", data={"csrf": csrf})
    assert second.status_code == 409 and "pågår redan" in second.text
    page = client.get("/admin/model").text
    assert '<meta http-equiv="refresh" content="5">' in page and "Tränar den nya modellen" in page
    release.set()
    assert retrainer.wait(30).state == "failed"
    page = client.get("/admin/model").text
    assert "Träningen misslyckades: avbruten i testet" in page and "http-equiv" not in page


def test_nothing_to_train_on_and_bad_switches(app: Any) -> None:
    app.state.review.store.set_admin("alice")
    client, csrf = login(app, "alice")
    assert client.post("/admin/model/retrain", data={"csrf": csrf}).status_code == 303
    assert app.state.retrainer.wait(30).state == "failed"
    assert "inga granskade beslut" in client.get("/admin/model").text
    bad = client.post("/admin/model/switch", data={"csrf": csrf, "version": "abc"})
    assert bad.status_code == 400 and "modellversionens nummer" in bad.text
    missing = client.post("/admin/model/switch", data={"csrf": csrf, "version": "99"})
    assert missing.status_code == 400 and "finns inte" in missing.text
    none = client.post("/admin/model/rollback", data={"csrf": csrf})
    assert none.status_code == 400 and "ingen föregående modell" in none.text


def test_cross_validation_never_measures_a_model_on_what_it_learnt(web_matcher: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from goalmatch.web import retrain

    records = [Record(f"review/{i}", text, "review:web", {"test": (goal,)}, title=title,
                      provenance={"decisions": {"test": {"goal_ids": [goal]}}})
               for i, (title, text, goal) in enumerate(DECIDED)]
    trained_on: list[set[str]] = []
    real_train = retrain.Matcher.train

    def spy(frameworks: Any, recs: Any, **kwargs: Any) -> Any:
        trained_on.append({r.id for r in recs})
        return real_train(frameworks, recs, **kwargs)

    measured: list[set[str]] = []
    real_measure = retrain.measure

    def spy_measure(matcher: Any, recs: Any) -> Any:
        measured.append({r.id for r in recs})
        return real_measure(matcher, recs)

    monkeypatch.setattr(retrain.Matcher, "train", spy)
    monkeypatch.setattr(retrain, "measure", spy_measure)
    figures = cross_validate(web_matcher.frameworks, [], records, encoder=web_matcher.encoder, folds=2)
    assert figures is not None and figures["folds"] == 2 and figures["frameworks"]["test"]["decided"] == 4
    assert len(trained_on) == len(measured) == 2
    for learnt, judged in zip(trained_on, measured, strict=True):
        assert learnt and judged and not learnt & judged
    assert cross_validate(web_matcher.frameworks, [], records[:1], encoder=web_matcher.encoder) is None
    whole = measure(web_matcher, records)["frameworks"]["test"]
    assert whole["decided"] == whole["labelled"] == 4 and 0 <= whole["top1"] <= 4


def test_the_manifests_benchmark_figures_in_swedish() -> None:
    from goalmatch.web.admin import benchmark_rows

    metrics = {"measured": "2026-12-05", "tasks": {"dk-2007": {"0": {"accuracy": 0.5},
                                                              "all": {"accuracy": 0.747, "top3": 0.969}},
                                                  "broken": "x"}}
    assert benchmark_rows(metrics) == [{"task": "dk-2007", "accuracy": "75 %", "top3": "97 %", "answered": "–"}]
    assert benchmark_rows(None) == benchmark_rows({"old": {}}) == []


def test_admin_pages_speak_swedish(app: Any) -> None:
    import re

    from tests.cli.test_swedish_output import LEAKS, RAW_FIGURE

    client, csrf = _reviewed(app)
    assert client.post("/admin/model/retrain", data={"csrf": csrf}).status_code == 303
    assert app.state.retrainer.wait(120).state == "done"
    invite = client.post("/admin/users/invite", data={"username": "cecilia", "csrf": csrf}).text
    token = re.search(r"/invite/([A-Za-z0-9_-]+)", invite).group(1)  # type: ignore[union-attr]
    pages = [client.get(path).text for path in ("/admin/users", "/admin/model", "/history",
                                                 "/admin/users/alice/history")]
    pages += [invite, TestClient(app).get(f"/invite/{token}").text, TestClient(app).get("/invite/gammal").text]
    for html in pages:
        text = re.sub(r"<small[^>]*>.*?</small>|<[^>]+>", " ", html, flags=re.S)  # ids in small print are allowed
        found = {m.group() for m in LEAKS.finditer(text)} | {m.group() for m in RAW_FIGURE.finditer(text)}
        assert not found, (found, text[:500])
