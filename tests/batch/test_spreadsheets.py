"""Spreadsheets as case systems export them: title rows over the header, mixed line endings,
a BOM, bytes of another encoding. Each is read, or refused naming the row and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from goalmatch.batch.rows import choose_columns
from goalmatch.batch.tables import open_table, title_rows, undecodable

ROWS = [["A-1", "Fiber till byn", "Byalaget bygger fiber"], ["A-2", "Teater", "Teater för unga\r\noch gamla"]]


def _cells(path: Path) -> list[dict[str, str | None]]:
    return [row.cells for row in open_table(path).rows()]


def test_a_merged_title_row_over_the_header_is_skipped_in_xlsx(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Ansökningar 2024, Leader Polaris"])
    sheet.merge_cells("A1:C1")
    sheet.append([])
    sheet.append(["Diarienr", "Titel", "Beskrivning"])
    for row in ROWS:
        sheet.append(row)
    book.save(tmp_path / "in.xlsx")
    table = open_table(tmp_path / "in.xlsx")
    assert table.header_row == 2 and table.columns == ["Diarienr", "Titel", "Beskrivning"]
    rows = list(table.rows())
    assert [r.number for r in rows] == [1, 2]
    assert rows[1].cells["Beskrivning"] == "Teater för unga\noch gamla"  # Excel keeps LF in cells
    cols = choose_columns(table, "Diarienr", None)
    assert cols.text == ("Titel", "Beskrivning")


def test_a_title_line_over_a_csv_header_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes("Export från ärendesystemet;;\r\n;;\r\nid;titel;text\r\nA-1;Fiber;Byalaget bygger fiber\r\n"
                     .encode("cp1252"))
    table = open_table(path)
    assert (table.encoding, table.delimiter, table.header_row) == ("cp1252", ";", 2)
    assert _cells(path) == [{"id": "A-1", "titel": "Fiber", "text": "Byalaget bygger fiber"}]


def test_a_one_column_table_keeps_its_first_row_as_the_header() -> None:
    assert title_rows([["text"], ["Fiber till byn"], ["Teater"]]) == 0
    assert title_rows([["Rubrik", None, ""], [None], ["id", "text"], ["1", "x"]]) == 2
    assert title_rows([]) == 0


def test_mixed_line_endings_and_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    # a BOM, CRLF, LF and a lone CR ending lines; a quoted CRLF inside a cell stays in the cell
    path.write_bytes(b"\xef\xbb\xbfid,text\r\nA-1,Fiber till byn\nA-2,\"Teater\r\nf\xc3\xb6r unga\"\rA-3,Kultur\r\n")
    assert open_table(path).columns == ["id", "text"]
    assert _cells(path) == [{"id": "A-1", "text": "Fiber till byn"}, {"id": "A-2", "text": "Teater\r\nför unga"},
                            {"id": "A-3", "text": "Kultur"}]


def test_bytes_of_another_encoding_in_one_row_are_marked_not_guessed(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    good = "".join(f"A-{i},Föreningen ordnar teater nummer {i}\n" for i in range(200)).encode()
    path.write_bytes(b"id,text\n" + good + b"B-1,Teater f\xf6r unga\n")  # one Latin-1 row in UTF-8
    table = open_table(path)
    assert table.encoding == "utf-8"
    rows = list(table.rows())
    assert not any(undecodable(r.cells["text"]) for r in rows[:-1])
    assert rows[-1].number == 201 and undecodable(rows[-1].cells["text"])
