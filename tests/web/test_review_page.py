"""Issue 15, items 2 and 3: the application page's one "Spara" and evidence a person checks in ten seconds.

One form saves every framework with an action chosen, in one transaction: a stale version or a
bad choice in one framework names it (Swedish), saves nothing and shows the choices again. The
evidence marks at most two sentences per suggested goal, each with a coloured letter badge that
the legend explains, reachable by keyboard; no offsets or raw figures; similar projects only
when they stand out; the language warned about.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from goalmatch.web.review import clearly_closer, highlights, parse_confidence, percent_sv, time_sv
from tests.web.helpers import TEXT, TOKEN, add, decide, login


def _save(client: TestClient, csrf: str, app_id: int, **fields: Any) -> Any:
    return client.post(f"/applications/{app_id}/beslut", data={"csrf": csrf, **fields})


def _trail(app: Any, app_id: int) -> list[tuple[str, str, int]]:
    return [(d.framework_id, d.action, d.version) for d in app.state.review.store.decisions(app_id)]


def test_one_spara_saves_every_framework_chosen_and_leaves_the_untouched(app: Any) -> None:
    client, csrf = login(app)
    app_id = add(client, csrf)
    page = client.get(f"/applications/{app_id}").text
    assert page.count('type="submit" accesskey="s">Spara') == 1 and "/decisions\"" not in page  # one form decides all
    assert page.count("/beslut\"") == 1
    saved = _save(client, csrf, app_id, **{"action-test": "accept", "version-test": "0",
                                          "action-test-multi": "", "version-test-multi": "0"})
    assert saved.status_code == 303 and saved.headers["location"].endswith("#beslut")
    assert _trail(app, app_id) == [("test", "accept", 1)]  # test-multi left untouched: not saved
    both = _save(client, csrf, app_id, **{
        "action-test": "correct", "goal_ids-test": "t-kultur", "version-test": "1", "comment-test": "Musiken",
        "action-test-multi": "reject", "version-test-multi": "0"})
    assert both.status_code == 303
    assert sorted(_trail(app, app_id)) == [("test", "accept", 1), ("test", "correct", 2), ("test-multi", "reject", 1)]
    page = client.get(f"/applications/{app_id}").text
    assert "Nuvarande: <strong>Rättad</strong> — Kultur och fritid" in page and "Avvisad" in page
    nothing = _save(client, csrf, app_id, **{"version-test": "2"})
    assert nothing.status_code == 400 and "välj en åtgärd för minst ett ramverk" in nothing.text


def test_a_conflict_in_one_framework_names_it_and_saves_nothing(app: Any) -> None:
    client, csrf = login(app)
    app_id = add(client, csrf)
    other, other_csrf = login(app, "bob")
    assert decide(other, other_csrf, app_id, "test-multi", "reject").status_code == 303  # bob, meanwhile
    stale = _save(client, csrf, app_id, **{
        "action-test": "accept", "version-test": "0",
        "action-test-multi": "correct", "goal_ids-test-multi": "t-kultur", "version-test-multi": "0",
        "comment-test-multi": "min kommentar"})
    assert stale.status_code == 409
    assert "Test multi: Någon annan har redan beslutat" in stale.text and "av bob" in stale.text
    assert "Inget av besluten sparades" in stale.text
    assert _trail(app, app_id) == [("test-multi", "reject", 1)]  # the framework without conflict not saved either
    assert "min kommentar</textarea>" in stale.text  # the choices are shown again, nothing is lost
    assert re.search(r'name="action-test-multi" value="correct" checked', stale.text)
    assert re.search(r'name="version-test-multi" value="1"', stale.text)  # the new version, to decide again
    bad = _save(client, csrf, app_id, **{"action-test": "accept", "version-test": "0",
                                        "action-test-multi": "correct", "version-test-multi": "1"})
    assert bad.status_code == 400 and "Test multi: välj minst ett mål" in bad.text
    assert _trail(app, app_id) == [("test-multi", "reject", 1)]


def test_evidence_is_marked_with_badges_a_legend_and_no_internals(app: Any) -> None:
    client, csrf = login(app)
    app_id = add(client, csrf)
    page = client.get(f"/applications/{app_id}").text
    marks = re.findall(r"<mark [^>]*>", page)
    assert marks and all('tabindex="0"' in m and 'aria-label="Stöder ' in m for m in marks)
    legend = re.search(r'<ul class="legend".*?</ul>', page, re.DOTALL)
    assert legend and "Bredband och digital infrastruktur" in legend.group()
    suggestions = app.state.review.store.application(app_id)["suggestions"]
    for h in highlights(suggestions["frameworks"]):
        assert 1 <= len(h.spans) <= 2 and f">{h.badge}</span>" in legend.group()
    assert not re.search(r"\[\d+:\d+\]", page) and not re.search(r"\b0\.\d", page.split("<main")[1].replace(
        'value="0.', ""))  # no offsets, no figures with a decimal point outside the meters' values
    assert re.search(r"\d+ %", page)  # probabilities as Swedish percent
    assert "Godkänn modellens förslag (Bredband och digital infrastruktur" in page
    assert "– ur Test, " in page  # the strategy passage says where it comes from


def test_an_abstained_framework_is_not_drawn_as_sure(app: Any) -> None:
    client, csrf = login(app)
    app_id = add(client, csrf, "Pannkakor med sylt.")  # too short: every framework abstains
    page = client.get(f"/applications/{app_id}").text
    assert 'class="sure"' not in page and 'class="unsure"' in page
    assert "Godkänn modellens förslag (ingen säker träff)" in page


def test_similar_projects_only_when_they_stand_out_with_their_decided_goals(app: Any) -> None:
    api = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})

    def stored(similarities: list[float]) -> int:
        projects = [{"id": f"p/{i}", "title": f"Projekt {i}", "similarity": s, "labels": ["t-kultur"]}
                    for i, s in enumerate(similarities)]
        body = {"text": TEXT, "suggestions": {"frameworks": [], "similar_projects": projects}}
        created = api.post("/api/applications", content=json.dumps(body), headers={"content-type": "application/json"})
        assert created.status_code == 201, created.text
        return int(created.json()["id"])

    client, _ = login(app)
    standing_out = client.get(f"/applications/{stored([0.95, 0.86, 0.85, 0.84])}").text
    assert "Projekt 0 – beslutade mål: Kultur och fritid" in standing_out and "Projekt 1" not in standing_out
    close = client.get(f"/applications/{stored([0.89, 0.87, 0.86, 0.84])}").text
    assert "Liknande projekt" not in close and "Projekt 0" not in close


def test_an_english_text_gets_a_warning(app: Any) -> None:
    client, csrf = login(app)
    english = add(client, csrf, "The project builds fibre broadband to the villages so that every household "
                                "gets a fast connection and better mobile coverage in the whole area.")
    assert "Texten verkar vara på engelska; förslagen är mindre säkra" in client.get(f"/applications/{english}").text
    assert "Texten verkar vara på" not in client.get(f"/applications/{add(client, csrf)}").text


def test_the_rules_behind_the_page() -> None:
    assert parse_confidence("0,5") == parse_confidence("0.5") == parse_confidence("50 %") == 0.5
    assert parse_confidence("50%") == parse_confidence("50") == 0.5 and parse_confidence("") is None
    for bad in ("abc", "-1", "150 %", "101", "0,5,1"):
        with pytest.raises(ValueError, match="Säkerhet högst"):
            parse_confidence(bad)
    assert percent_sv(0.731) == "73 %" and percent_sv(None) == "–"
    assert time_sv("2026-12-06T01:02:03+00:00") == "6 december 2026 kl. 02.02"
    assert clearly_closer([{"id": "a", "similarity": 0.9}, {"id": "b", "similarity": 0.5}]) == []  # too few
    two = clearly_closer([{"id": i, "similarity": s} for i, s in (("a", .95), ("b", .94), ("c", .80), ("d", .79))])
    assert [p["id"] for p in two] == ["a", "b"]
    many = [{"framework_id": "f", "name": "F", "suggestions": [
        {"goal_id": "g", "name": "G", "confident": True,
         "evidence": {"sentences": [{"start": i, "end": i + 1, "text": "x"} for i in range(5)]}}]}]
    assert [len(h.spans) for h in highlights(many)] == [2]  # never every sentence: at most two per goal
