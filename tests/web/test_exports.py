"""The decisions out: XLSX and CSV (Swedish Excel) with Swedish headers and values, JSONL that still loads as a
corpus, the same application stored twice exported once, and no cell a spreadsheet would run as a formula.

FakeEncoder matcher and a temporary SQLite database (``tests/web/conftest.py``).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
pytest.importorskip("httpx")
pytest.importorskip("openpyxl")

import openpyxl

from goalmatch.data.corpus import load_corpus
from goalmatch.data.frameworks import Framework
from goalmatch.web.exports import COLUMNS, fold
from tests.web.helpers import TEXT, add, decide, login

HEADERS = [h for _, h in COLUMNS]


def decided_pair(app: Any) -> tuple[Any, str, int, int]:
    """Two applications with decisions: a correction with a formula-like comment, and an acceptance."""
    client, csrf = login(app)
    first = add(client, csrf, title="=HYPERLINK(\"http://x\")")
    other = add(client, csrf, text="Teater och musik för barn och unga i byarna.", title="Teater")
    assert decide(client, csrf, first, "test", "correct", ["t-foretag"], comment="-2+3 eller @SUM(A1)").status_code \
        == 303
    assert decide(client, csrf, other, "test", "accept").status_code == 303
    return client, csrf, first, other


def test_xlsx_export_in_swedish(app: Any) -> None:
    client, _, first, other = decided_pair(app)
    response = client.get("/export.xlsx")
    assert response.status_code == 200 and "goalmatch-beslut.xlsx" in response.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Beslut", "Om exporten"]
    sheet = book["Beslut"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == HEADERS and sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:M{len(rows)}"
    by_app = {r[0]: dict(zip(HEADERS, r, strict=True)) for r in rows[1:]}
    assert set(by_app) == {first, other}
    corrected = by_app[first]
    assert corrected["Ramverk"] == "Test" and corrected["Beslut"] == "Rättad" and corrected["Mål-id"] == "t-foretag"
    assert corrected["Rubrik"] == "'=HYPERLINK(\"http://x\")"  # kept as text, never a formula
    assert corrected["Handläggare"] == "alice" and " kl. " in corrected["Beslutad"]
    assert by_app[other]["Beslut"] == "Godkänd" and by_app[other]["Överens"] == "ja"
    assert not any(str(v).startswith("=") for r in rows for v in r if v is not None)
    notes = " ".join(str(r[0].value) for r in book["Om exporten"].iter_rows())
    assert "Arkiverade ansökningar ingår" in notes and "Inga dubbletter" in notes


def test_csv_export_for_a_swedish_excel(app: Any) -> None:
    client, _, first, _ = decided_pair(app)
    response = client.get("/export.csv")
    assert response.status_code == 200
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0] == HEADERS
    corrected = next(dict(zip(HEADERS, r, strict=True)) for r in rows[1:] if r[0] == str(first))
    assert corrected["Beslut"] == "Rättad" and corrected["Kommentar"].startswith("'-2+3")
    assert corrected["Rubrik"].startswith("'=")
    assert "," in corrected["Modellens säkerhet"] and "." not in corrected["Modellens säkerhet"]  # decimal comma


def test_export_page_links_every_format(app: Any) -> None:
    client, _, _, _ = decided_pair(app)
    page = client.get("/export").text
    for link in ("/export.xlsx", "/export.csv", "/export.jsonl"):
        assert f'href="{link}"' in page
    assert "2 beslut om 2 ansökningar" in page


def test_the_same_application_twice_is_exported_once(app: Any, web_frameworks: dict[str, Framework],
                                                      tmp_path: Path) -> None:
    client, csrf = login(app)
    older = add(client, csrf, title="Första")
    newer = add(client, csrf, text=TEXT.upper(), title="Andra")  # the same text, other case
    archived = add(client, csrf, text="Mobiltäckning längs vägarna.", title="Arkiverad")
    decide(client, csrf, older, "test", "accept")
    decide(client, csrf, newer, "test", "correct", ["t-foretag"])
    decide(client, csrf, archived, "test", "reject")
    assert client.post(f"/applications/{archived}/archive", data={"csrf": csrf, "confirm": "ja"}).status_code == 303
    lines = [json.loads(x) for x in client.get("/export.jsonl").text.splitlines()]
    assert sorted(r["id"] for r in lines) == sorted([f"review/{newer}", f"review/{archived}"])
    kept = next(r for r in lines if r["id"] == f"review/{newer}")
    assert kept["provenance"]["folded"] == {"count": 1, "application_ids": [older]}
    path = tmp_path / "export.jsonl"
    path.write_text(client.get("/export.jsonl").text, encoding="utf-8")
    assert len(load_corpus(path, web_frameworks)) == 2  # what ``goalmatch train --data`` reads
    book = openpyxl.load_workbook(io.BytesIO(client.get("/export.xlsx").content))
    assert sorted(r[0].value for r in book["Beslut"].iter_rows(min_row=2)) == sorted([newer, archived])
    assert "1 ansökningar var dubbletter" in " ".join(str(r[0].value) for r in book["Om exporten"].iter_rows())
    assert "1 ansökningar var dubbletter" in client.get("/export").text


def test_fold_joins_through_a_third_and_keeps_the_latest() -> None:
    identities = {1: ("A", "x"), 2: ("B", "x"), 3: ("B", "z"), 4: (None, "w")}
    assert fold({1: 5, 2: 1, 3: 2, 4: 3}, identities) == {1: [2, 3], 4: []}
    assert fold({1: 5, 3: 9}, identities) == {1: [], 3: []}
