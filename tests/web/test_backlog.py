"""The backlog in: a spreadsheet uploaded into the queue (preview, mapping, bad rows, duplicates), archiving
and deleting an application, and the duplicate warning of a single upload.

FakeEncoder matcher and a temporary SQLite database (``tests/web/conftest.py``).
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")
pytest.importorskip("httpx")
pytest.importorskip("openpyxl")

import openpyxl
import sqlalchemy as sa

from goalmatch.web.database import utcnow
from goalmatch.web.intake import Mapping, guess_mapping, plan_import, read_sheet
from goalmatch.web.schema import MIGRATIONS, applications, imports, metadata, schema_version, text_hash
from goalmatch.web.store import Store
from tests.web.helpers import TEXT, add, decide, login

TOPICS = ["fiber och bredband till byarna", "teater och musik för barn", "lokala företag och turism",
          "mobiltäckning längs vägarna", "en mötesplats i bygdegården", "cykelleder mellan byarna"]


def backlog_rows() -> list[list[str]]:
    """30 rows: row 7 repeats row 3's diarienummer, row 12 row 5's title and text (other case and spaces),
    row 20 has no text."""
    rows = [[f"2026-{n:04d}", f"Projekt {n}",
             f"Projekt nummer {n} gäller {TOPICS[n % len(TOPICS)]}; sökt belopp 12 500,50 kr, år {2020 + n}."]
            for n in range(1, 31)]
    rows[6][0] = rows[2][0]
    rows[11][1:] = [rows[4][1], "  " + rows[4][2].upper().replace(" ", "   ") + " "]
    rows[19][2] = ""
    return rows


HEADER = ["Diarienummer", "Projektnamn", "Beskrivning"]


def csv_cp1252(rows: list[list[str]]) -> bytes:
    lines = [";".join(HEADER)] + [";".join(f'"{c}"' if ";" in c else c for c in row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def xlsx(rows: list[list[str]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Ansökningar hösten 2026"])  # a title row above the header
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client: Any, csrf: str, name: str, data: bytes) -> Any:
    return client.post("/import", data={"csrf": csrf}, files={"file": (name, data, "application/octet-stream")})


def imported_titles(app: Any) -> list[str]:
    return [a["title"] for a in app.state.review.store.applications(content=False)]


@pytest.mark.parametrize("name,data", [("backlog.csv", csv_cp1252(backlog_rows())),
                                       ("backlog.xlsx", xlsx(backlog_rows()))])
def test_spreadsheet_import_previews_then_imports_the_good_rows(app: Any, name: str, data: bytes) -> None:
    client, csrf = login(app)
    response = upload(client, csrf, name, data)
    assert response.status_code == 303, response.text
    preview_url = response.headers["location"]
    page = client.get(preview_url)
    assert page.status_code == 200
    html = page.text
    # the mapping guessed from the Swedish headers: Diarienummer the id, Projektnamn the title, both texts joined
    assert re.search(r'name="id_column" value="Diarienummer"[^>]*checked', html)
    assert re.search(r'name="title_column" value="Projektnamn"[^>]*checked', html)
    assert re.search(r'name="text" value="Beskrivning"[^>]*checked', html)
    assert "<strong>27</strong> rader importeras" in html
    assert "<strong>2</strong> dubbletter" in html and "<strong>1</strong> felaktiga rader" in html
    assert "samma diarienummer som rad 3" in html and "samma text som rad 5" in html
    assert "ingen text" in html and "<td>20</td>" in html
    assert "fiber och bredband till byarna" in html  # the first rows, read right (å ä ö from Windows-1252)
    assert ("Windows-1252 (ANSI)" in html) == name.endswith(".csv")

    # the text may be Beskrivning alone
    done = client.post(preview_url, data={"csrf": csrf, "id_column": "Diarienummer", "title_column": "Projektnamn",
                                          "text": ["Beskrivning"]})
    assert done.status_code == 200, done.text
    assert "27 importerade, 2 hoppade över (dubbletter), 1 felaktiga rader" in done.text
    titles = imported_titles(app)
    assert len(titles) == 27 and titles.count("Projekt 5") == 1
    assert "Projekt 7" not in titles and "Projekt 12" not in titles and "Projekt 20" not in titles
    queue = client.get("/queue").text
    assert "Projekt 30" in queue and "Projekt 1<" in queue
    assert client.post(preview_url, data={"csrf": csrf, "text": ["Beskrivning"]}).status_code == 404  # once only

    # the same file again: every row is now a duplicate of a stored application
    again = client.get(upload(client, csrf, name, data).headers["location"]).text
    assert "<strong>0</strong> rader importeras" in again and "diarienumret finns redan (ansökan #" in again


def test_duplicates_can_be_imported_on_request_and_the_mapping_can_change(app: Any) -> None:
    client, csrf = login(app)
    url = upload(client, csrf, "b.csv", csv_cp1252(backlog_rows())).headers["location"]
    no_id = client.get(url, params={"mapped": "1", "id_column": "", "title_column": "Projektnamn",
                                    "text": "Beskrivning"}).text
    assert "<strong>28</strong> rader importeras" in no_id and "<strong>1</strong> dubbletter" in no_id
    no_text = client.get(url, params={"mapped": "1", "id_column": "Diarienummer"})
    assert "Välj minst en textkolumn" in no_text.text
    refused = client.post(url, data={"csrf": csrf, "id_column": "Diarienummer"})
    assert refused.status_code == 400 and imported_titles(app) == []
    done = client.post(url, data={"csrf": csrf, "id_column": "Diarienummer", "text": ["Beskrivning"],
                                  "include_duplicates": "1"})
    assert "29 importerade, 0 hoppade över (dubbletter), 1 felaktiga rader" in done.text
    ids = [a["id"] for a in app.state.review.store.applications(content=False)]
    facts = app.state.review.store.backlog_facts(ids[6])  # row 7: the diarienummer of row 3
    assert facts["external_id"] == "2026-0003" and [d["same_id"] for d in facts["duplicates"]] == [True]


def test_an_import_is_its_uploaders_and_expires(app: Any) -> None:
    alice, csrf = login(app)
    url = upload(alice, csrf, "b.csv", csv_cp1252(backlog_rows()[:3])).headers["location"]
    bob, bob_csrf = login(app, "bob")
    assert bob.get(url).status_code == 404
    assert bob.post(url, data={"csrf": bob_csrf, "text": ["Beskrivning"]}).status_code == 404
    assert alice.get(url + "x").status_code == 404
    with app.state.review.store.engine.begin() as conn:
        conn.execute(sa.update(imports).values(expires_at=utcnow() - timedelta(seconds=1)))
    gone = alice.post(url, data={"csrf": csrf, "text": ["Beskrivning"]})
    assert gone.status_code == 404 and "har gått ut" in gone.text and imported_titles(app) == []


def test_bad_uploads_are_refused_in_swedish(app: Any) -> None:
    client, csrf = login(app)
    assert "Högst 5 MB och 500 rader per fil" in client.get("/import").text
    for name, data, said in [("a.pdf", b"%PDF-1.4", "Bara tabeller"), ("a.csv", b"", "går inte att läsa som tabell"),
                             ("a.xlsx", b"not a zip", "går inte att läsa som tabell"),
                             ("a.csv", b"Beskrivning;Titel\r\n", "inga rader"),
                             ("a.csv", b"Beskrivning;Titel\r\n" + b"text;titel\r\n" * 501, "fler än 500 rader")]:
        response = upload(client, csrf, name, data)
        assert response.status_code == 400 and said in response.text, (name, response.text[:300])


def test_plan_reports_unreadable_nul_and_long_rows() -> None:
    payload = {"columns": ["id", "text"], "rows": [
        {"n": 1, "cells": {"id": "A", "text": "Bra text"}, "unreadable": []},
        {"n": 2, "cells": {"id": "B", "text": None}, "unreadable": ["text"]},
        {"n": 3, "cells": {"id": "C", "text": "med \x00 tecken"}, "unreadable": []},
        {"n": 4, "cells": {"id": "D", "text": "x" * 200_001}, "unreadable": []},
        {"n": 5, "cells": {"id": "E", "text": "Annan text"}, "unreadable": []},
    ]}
    mapping = guess_mapping(payload["columns"])
    assert mapping == Mapping("id", None, ("text",))
    plan = plan_import(payload, mapping, lambda ids, hashes: ({"E": [9]}, {}))
    reasons = {b["n"]: b["reason"] for b in plan.bad}
    assert "teckenkodning" in reasons[2] and "NUL" in reasons[3] and "för lång" in reasons[4]
    assert [g["n"] for g in plan.good] == [1]
    assert plan.duplicates[0]["reason"] == "diarienumret finns redan (ansökan #9)"


def test_a_single_upload_records_the_hash_and_warns_of_a_duplicate(app: Any) -> None:
    client, csrf = login(app)
    first = add(client, csrf)
    page = client.get(f"/applications/{first}").text
    assert "Möjlig dubblett" not in page
    second = add(client, csrf, text=TEXT.upper() + "  ")
    page = client.get(f"/applications/{second}").text
    assert "Möjlig dubblett" in page and f'href="/applications/{first}"' in page and "samma text" in page
    with app.state.review.store.engine.connect() as conn:
        assert conn.execute(sa.select(applications.c.text_hash).where(applications.c.id == first)).scalar() \
            == text_hash(TEXT)


def test_archive_restore_and_delete(app: Any) -> None:
    client, csrf = login(app)
    kept, decided = add(client, csrf, title="Ska arkiveras"), add(client, csrf, text=TEXT + " Till.", title="Beslutad")
    assert decide(client, csrf, decided, "test", "accept").status_code == 303
    unconfirmed = client.post(f"/applications/{kept}/archive", data={"csrf": csrf})
    assert unconfirmed.status_code == 400 and "bekräfta" in unconfirmed.text
    assert client.post(f"/applications/{kept}/archive", data={"confirm": "ja"}).status_code == 403  # no CSRF
    assert client.post(f"/applications/{kept}/archive", data={"csrf": csrf, "confirm": "ja"}).status_code == 303
    assert "Ska arkiveras" not in client.get("/queue").text
    assert "Ska arkiveras" in client.get("/archived").text
    assert "Återställ till kön" in client.get(f"/applications/{kept}").text
    assert client.post(f"/applications/{kept}/restore", data={"csrf": csrf}).status_code == 303
    assert "Ska arkiveras" in client.get("/queue").text and "Ska arkiveras" not in client.get("/archived").text

    refused = client.post(f"/applications/{decided}/delete", data={"csrf": csrf, "confirm": "ja"})
    assert refused.status_code == 409 and "arkivera den i stället" in refused.text
    assert client.get(f"/applications/{decided}").status_code == 200
    assert client.post(f"/applications/{kept}/delete", data={"csrf": csrf}).status_code == 400
    assert client.post(f"/applications/{kept}/delete", data={"csrf": csrf, "confirm": "ja"}).status_code == 200
    assert client.get(f"/applications/{kept}").status_code == 404
    assert client.post(f"/applications/{kept}/delete", data={"csrf": csrf, "confirm": "ja"}).status_code == 404


def test_migration_6_adds_the_columns_and_hashes_the_stored_texts(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # a database of schema version 4, made by the old table definitions
        conn.execute(sa.text("CREATE TABLE applications (id INTEGER PRIMARY KEY, title VARCHAR(300) NOT NULL, "
                             "text TEXT NOT NULL, source VARCHAR(200) NOT NULL, suggestions TEXT NOT NULL, "
                             "created_by VARCHAR(80), created_at DATETIME NOT NULL)"))
        conn.execute(sa.text("INSERT INTO applications VALUES (1, 't', 'Fiber  till byn', 'web', "
                             "'{\"frameworks\": []}', NULL, '2026-01-01 00:00:00')"))
        for name in ("users", "reviews", "decisions"):
            metadata.tables[name].create(conn)
        schema_version.create(conn)
        for version, description, step in MIGRATIONS:
            if 1 < version <= 4:
                step(conn)
            if version <= 4:
                conn.execute(sa.insert(schema_version).values(version=version, description=description,
                                                              applied_at=utcnow()))
    engine.dispose()
    store = Store(url)
    assert store.schema_version() >= 6
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(applications.c.text_hash, applications.c.archived_at)).one()
    assert row.text_hash == text_hash("fiber till byn") and row.archived_at is None
    assert store.stored_matches([], [text_hash("FIBER TILL BYN")])[1] == {text_hash("fiber till byn"): [1]}
    store.engine.dispose()


@pytest.mark.parametrize("name,encoding,delimiter", [("a.csv", "utf-8-sig", ","), ("a.csv", "utf-16", "\t"),
                                                     ("a.tsv", "utf-8", "\t"), ("a.csv", "cp1252", "|")])
def test_every_dialect_reads_the_same(name: str, encoding: str, delimiter: str) -> None:
    lines = [["Dnr", "Titel", "Projektbeskrivning"], ["A-1", "Åby", "Ängar för får, 1 200,50 kr"],
             ["A-2", "Öby", "Bygdegård"]]
    quoted = [delimiter.join(f'"{c}"' if delimiter in c or "," in c else c for c in row) for row in lines]
    payload = read_sheet(name, "\r\n".join(quoted).encode(encoding))
    assert payload["columns"] == lines[0]
    mapping = guess_mapping(payload["columns"])
    assert mapping == Mapping("Dnr", "Titel", ("Titel", "Projektbeskrivning"))
    plan = plan_import(payload, mapping, lambda ids, hashes: ({}, {}))
    assert [(g["external_id"], g["title"], g["text"]) for g in plan.good] == [
        ("A-1", "Åby", "Åby\n\nÄngar för får, 1 200,50 kr"), ("A-2", "Öby", "Öby\n\nBygdegård")]
