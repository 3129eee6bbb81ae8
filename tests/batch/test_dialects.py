"""Tests of what goalmatch score writes for a Swedish Excel: the CSV dialect mirrored from the input (or named),
the rejects file in it, the input's own columns carried into every output format (FakeEncoder model)."""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from goalmatch.batch.dialect import DIALECTS, Dialect, choose_dialect
from goalmatch.batch.score import BatchError, score_file
from goalmatch.batch.tables import open_table
from goalmatch.batch.writers import publish
from goalmatch.model.matcher import Matcher
from tests.batch.test_attacks import _formula_cells
from tests.batch.test_batch import _counting
from tests.toys import BATCH_TEXTS

pytest.importorskip("openpyxl")
pytest.importorskip("pyarrow")

COLS: dict[str, Any] = {"id_column": "Diarienr", "text_columns": ["Beskrivning"]}
HEADER = ["Diarienr", "Projektnamn", "Sökande", "Sökt belopp", "Beskrivning"]


def _swedish_backlog(path: Path, encoding: str = "cp1252", delimiter: str = ";") -> Path:
    """A backlog as Swedish Excel saves it: ``;``, Windows-1252, with a row whose text is empty."""
    rows = [HEADER,
            ["2026-0001", "Fiber i Övre byn", "Byalaget ek. för.", "250 000,50", BATCH_TEXTS[0]],
            ["2026-0002", "Teater för unga", "Kulturföreningen Ä", "80 000", BATCH_TEXTS[1]],
            ["2026-0003", "Tomt ärende", "Sökande utan text", "0", ""]]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def _read_csv(path: Path, encoding: str, delimiter: str) -> list[list[str]]:
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.reader(handle, delimiter=delimiter))


def test_a_semicolon_cp1252_backlog_gives_a_semicolon_cp1252_output_with_its_columns(batch_matcher: Matcher,
                                                                                    tmp_path: Path) -> None:
    source = _swedish_backlog(tmp_path / "in.csv")
    summary = score_file(source, tmp_path / "out.csv", matcher=batch_matcher, **COLS, progress=False)
    assert (summary.scored, summary.rejected) == (2, 1)
    raw = (tmp_path / "out.csv").read_bytes()
    assert not raw.startswith(codecs.BOM_UTF8)
    raw.decode("cp1252")  # no UTF-8 in it: Windows-1252 throughout
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # å ä ö as Windows-1252 bytes
    rows = _read_csv(tmp_path / "out.csv", "cp1252", ";")
    header = rows[0]
    assert header[:5] == HEADER and header[5:8] == ["row", "id", "status"]  # the input's columns first, as they were
    assert rows[1][:5] == ["2026-0001", "Fiber i Övre byn", "Byalaget ek. för.", "250 000,50", BATCH_TEXTS[0]]
    assert rows[3][2] == "Sökande utan text" and rows[3][7] == "rejected: empty text"
    p_1 = rows[1][header.index("bt.p_1")]
    assert "," in p_1 and "." not in p_1 and 0 < float(p_1.replace(",", ".")) <= 1  # a decimal comma
    rejects = _read_csv(tmp_path / "out.rejects.csv", "cp1252", ";")  # the rejects file in the same dialect
    assert rejects[0] == ["row", "id", "reason", "detail"] and rejects[1][:3] == ["3", "2026-0003", "empty text"]
    assert (tmp_path / "out.rejects.csv").read_bytes().count(b";") >= 3


@pytest.mark.parametrize(("dialect", "bom", "delimiter", "point"), [
    ("excel-sv", True, ";", ","), ("excel", True, ",", "."), ("utf8", False, ",", "."),
])
def test_a_named_dialect_overrides_the_input(batch_matcher: Matcher, tmp_path: Path, dialect: str, bom: bool,
                                             delimiter: str, point: str) -> None:
    source = _swedish_backlog(tmp_path / "in.csv")
    score_file(source, tmp_path / "out.csv", matcher=batch_matcher, **COLS, progress=False,
               dialect=dialect)
    for written in (tmp_path / "out.csv", tmp_path / "out.rejects.csv"):
        raw = written.read_bytes()
        assert raw.startswith(codecs.BOM_UTF8) == bom
        raw.decode("utf-8-sig")
        assert raw.decode("utf-8-sig").split("\r\n")[0].count(delimiter) >= 3, written
    rows = _read_csv(tmp_path / "out.csv", "utf-8-sig", delimiter)
    assert rows[1][1] == "Fiber i Övre byn"
    p_1 = rows[1][rows[0].index("bt.p_1")]
    assert point in p_1 and ("." if point == "," else ",") not in p_1


def test_auto_mirrors_the_input_and_gives_the_excel_default_for_other_formats(tmp_path: Path) -> None:
    for encoding, delimiter in [("utf-8", ","), ("utf-8-sig", ";"), ("utf-16", "\t"), ("cp1252", "|")]:
        table = open_table(_swedish_backlog(tmp_path / "in.csv", encoding, delimiter))
        mirrored = choose_dialect("auto", table)
        assert (mirrored.encoding, mirrored.delimiter, mirrored.decimal) == \
            (encoding, delimiter, "," if delimiter == ";" else ".")
    (tmp_path / "in.jsonl").write_text(json.dumps({"beskrivning": "x"}) + "\n", encoding="utf-8")
    assert choose_dialect("auto", open_table(tmp_path / "in.jsonl")) == DIALECTS["excel"]
    with pytest.raises(BatchError, match="unknown dialect 'sv'; expected one of auto, excel-sv, excel, utf8"):
        choose_dialect("sv", None)


def test_a_character_cp1252_lacks_writes_the_file_in_utf8_with_a_bom_and_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cp1252 = Dialect("auto", ";", "cp1252", ",")
    rows = [{"id": "1", "text": "Minskade utsläpp av CO₂ – ≥ 20 %", "p": 0.5}]
    with caplog.at_level(logging.WARNING, logger="goalmatch.batch.writers"):
        publish(tmp_path / "out.csv", ["id", "text", "p"], lambda: [rows], {"p": "float"}, dialect=cp1252)
    raw = (tmp_path / "out.csv").read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    assert _read_csv(tmp_path / "out.csv", "utf-8-sig", ";") == [["id", "text", "p"],
                                                                  ["1", "Minskade utsläpp av CO₂ – ≥ 20 %", "0,5"]]
    assert "'₂' is not in cp1252; the file is written in UTF-8 with a byte-order mark instead" in caplog.text
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # the first try's temporary file is gone
    # all in Windows-1252, the file stays Windows-1252
    publish(tmp_path / "plain.csv", ["id", "text"], lambda: [[{"id": "1", "text": "Åre – 5 €"}]], dialect=cp1252)
    assert (tmp_path / "plain.csv").read_bytes() == "id;text\r\n1;Åre – 5 €\r\n".encode("cp1252")
    # batches given as themselves cannot be written twice: the error is raised, not a half-written file
    with pytest.raises(UnicodeEncodeError):
        publish(tmp_path / "once.csv", ["id", "text"], [rows], dialect=cp1252)
    assert not (tmp_path / "once.csv").exists()


def test_formulas_are_neutralised_in_every_dialect(batch_matcher: Matcher, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    rows = [["Diarienr", "Projektnamn", "Beskrivning"], ["x;=cmd|' /C calc'!A0;", "=HYPERLINK(\"x\")", BATCH_TEXTS[0]],
            ["\uff1d1+1", "+SUM(1;2)", ""]]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerows(rows)
    source.write_bytes(buffer.getvalue().replace("\uff1d", "=").encode("cp1252"))
    for dialect in ("auto", "excel-sv", "excel", "utf8"):
        out = tmp_path / f"{dialect}.csv"
        score_file(source, out, matcher=batch_matcher, **COLS, progress=False, dialect=dialect)
        encoding = "cp1252" if dialect == "auto" else "utf-8-sig"
        for written in (out, out.with_name(f"{dialect}.rejects.csv")):
            assert _formula_cells(written.read_text(encoding=encoding)) == [], (dialect, written)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".jsonl", ".parquet"])
def test_the_inputs_columns_are_carried_into_every_format(batch_matcher: Matcher, tmp_path: Path,
                                                          suffix: str) -> None:
    source = tmp_path / "in.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["id", "Status", "Sökt belopp", "beskrivning"],
                                      ["A-1", "inkommen", "1200", BATCH_TEXTS[0]],
                                      ["A-2", "beredd", "", BATCH_TEXTS[1]]])
    out = tmp_path / f"out{suffix}"
    score_file(source, out, matcher=batch_matcher, id_column="id", progress=False)
    table = open_table(out)
    # the input's columns first, in their order; those the scores also have (case aside) are renamed, visibly
    assert table.columns[:4] == ["input.id", "input.Status", "Sökt belopp", "beskrivning"]
    assert table.columns[4:7] == ["row", "id", "status"]
    got: list[dict[str, Any]] = [row.cells for row in table.rows()]
    assert [(r["input.id"], r["input.Status"], r["Sökt belopp"] or "", r["id"], r["status"]) for r in got] == \
        [("A-1", "inkommen", "1200", "A-1", "scored"), ("A-2", "beredd", "", "A-2", "scored")]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_an_interrupted_run_resumes_to_the_same_bytes_with_the_inputs_columns(batch_matcher: Matcher,
                                                                              tmp_path: Path, suffix: str) -> None:
    source = _swedish_backlog(tmp_path / "in.csv")
    options: dict[str, Any] = {**COLS, "chunk_rows": 1, "progress": False, "columns": "auto"}
    score_file(source, tmp_path / f"whole{suffix}", matcher=batch_matcher, **options)
    counted, encoder = _counting(batch_matcher)
    encoder.interrupt_after = 1
    with pytest.raises(KeyboardInterrupt):
        score_file(source, tmp_path / f"out{suffix}", matcher=counted, **options)
    encoder.interrupt_after = None
    assert score_file(source, tmp_path / f"out{suffix}", matcher=counted, **options).resumed == 1
    whole, out = tmp_path / f"whole{suffix}", tmp_path / f"out{suffix}"
    if suffix == ".xlsx":  # a workbook holds the time it was written: compare what it holds
        assert [r.cells for r in open_table(out).rows()] == [r.cells for r in open_table(whole).rows()]
    else:
        assert out.read_bytes() == whole.read_bytes()
    assert (tmp_path / "out.rejects.csv").read_bytes() == (tmp_path / "whole.rejects.csv").read_bytes()
