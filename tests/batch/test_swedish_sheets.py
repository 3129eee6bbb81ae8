"""Tests of the scored spreadsheet a handläggare opens: Swedish headers from the frameworks' names (or ids for
programs), a workbook with a frozen, filtered header, column widths and numbers as numbers, and the portfolio
report read back from it (FakeEncoder model)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from goalmatch.batch.portfolio import portfolio
from goalmatch.batch.score import BatchError, score_file
from goalmatch.batch.tables import open_table
from goalmatch.cli.main import main
from goalmatch.data.frameworks import shipped_frameworks
from goalmatch.model import render
from goalmatch.model.matcher import Matcher
from tests.batch.test_dialects import COLS, HEADER, _read_csv, _swedish_backlog

openpyxl = pytest.importorskip("openpyxl")
pytest.importorskip("pyarrow")

BT = ["BT: ingen säker träff", "BT: säkra mål", "BT: mål 1 – id", "BT: mål 1", "BT: mål 1 – sannolikhet",
      "BT: mål 2 – id", "BT: mål 2", "BT: mål 2 – sannolikhet", "BT: belägg", "BT: varför ingen säker träff"]


def test_swedish_headers_name_the_shipped_frameworks_and_read_back() -> None:
    names = {fid: fw.name for fid, fw in shipped_frameworks().items()}
    headers = render.swedish_headers(names, 2)
    assert headers["rus-norrbotten-2030.p_1"] == "RUS: mål 1 – sannolikhet"
    assert headers["agenda-2030.name_2"] == "Agenda 2030: mål 2"
    assert headers["leader-polaris-2016.confident"] == "Leader Polaris 2016–2022: säkra mål"
    assert len(set(headers.values())) == len(headers)  # every header distinct
    keys = render.column_keys(list(headers.values()))
    assert keys["RUS: mål 1 – sannolikhet"] == "RUS.p_1" and keys["Rad"] == "row" and len(keys) == len(headers)
    # two frameworks with one label are told apart by their ids
    twins = render.swedish_headers({"a": "Leader (X)", "b": "Annan (X)"}, 1)
    assert twins["a.p_1"] == "a: mål 1 – sannolikhet" and twins["b.p_1"] == "b: mål 1 – sannolikhet"


def test_sv_columns_in_a_swedish_csv_and_ids_for_programs(batch_matcher: Matcher, tmp_path: Path) -> None:
    source = _swedish_backlog(tmp_path / "in.csv")
    score_file(source, tmp_path / "out.csv", matcher=batch_matcher, progress=False, columns="sv", top_k=2, **COLS)
    header = _read_csv(tmp_path / "out.csv", "cp1252", ";")[0]
    assert header[:5] == HEADER
    assert header[5:12] == ["Rad", "Id", "Status", "Utdrag ur texten", "Språk", "Reparerad PDF-text", "För kort text"]
    assert BT == [h for h in header if h.startswith("BT: ")]
    rejects = _read_csv(tmp_path / "out.rejects.csv", "cp1252", ";")
    assert rejects[0] == ["Rad", "Id", "Skäl", "Detalj"]
    # the cells a person reads are Swedish too: status, reason, yes/no (the ids form keeps the codes)
    rows = _read_csv(tmp_path / "out.csv", "cp1252", ";")
    status, flag = header.index("Status"), header.index("BT: ingen säker träff")
    assert [r[status] for r in rows[1:]] == ["bedömd", "bedömd", "avvisad: ingen text"]
    assert {r[flag] for r in rows[1:3]} <= {"ja", "nej"} and rows[3][flag] == ""
    assert rejects[1][2] == "ingen text" and rejects[1][3].startswith("rad 3, kolumn ")
    # auto: Swedish for spreadsheets, ids for JSONL and Parquet
    for suffix, first in [(".xlsx", "Rad"), (".jsonl", "row"), (".parquet", "row")]:
        score_file(source, tmp_path / f"auto{suffix}", matcher=batch_matcher, progress=False, columns="auto", **COLS)
        assert open_table(tmp_path / f"auto{suffix}").columns[5] == first, suffix
    with pytest.raises(BatchError, match="unknown column headers 'en'"):
        score_file(source, tmp_path / "x.csv", matcher=batch_matcher, progress=False, columns="en", **COLS)


def test_an_input_column_named_like_a_swedish_header_is_renamed_visibly(batch_matcher: Matcher,
                                                                        tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["id", "status", "Beskrivning"], ["A-1", "ny", "Fiber till byarna."]])
    score_file(source, tmp_path / "out.xlsx", matcher=batch_matcher, progress=False, columns="sv")
    assert open_table(tmp_path / "out.xlsx").columns[:5] == ["id (indata)", "status (indata)", "Beskrivning",
                                                             "Rad", "Id"]


def test_the_workbook_has_a_frozen_filtered_header_widths_and_numbers(batch_matcher: Matcher,
                                                                      tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["Diarienr", "Sökt belopp", "Beskrivning"],
                                      ["007", "1200", "Fiber och bredband till byarna och hushållen."],
                                      ["2026-0002", "80000.5", "Teater och musik för barn och unga i byn."]])
    out = tmp_path / "out.xlsx"
    score_file(source, out, matcher=batch_matcher, id_column="Diarienr", progress=False, columns="sv")
    sheet = openpyxl.load_workbook(out).worksheets[0]
    header = [c.value for c in sheet[1]]
    assert sheet.freeze_panes == "A2"
    last = openpyxl.utils.get_column_letter(len(header))
    assert sheet.auto_filter.ref == f"A1:{last}3"
    assert sheet["A1"].font.b and sheet.cell(1, len(header)).font.b
    widths = {openpyxl.utils.get_column_letter(i): sheet.column_dimensions[openpyxl.utils.get_column_letter(i)].width
              for i in range(1, len(header) + 1)}
    assert all(6 <= w <= 62 for w in widths.values()), widths
    col = {h: i + 1 for i, h in enumerate(header)}
    assert widths[openpyxl.utils.get_column_letter(col["Utdrag ur texten"])] > \
        widths[openpyxl.utils.get_column_letter(col["BT: mål 1 – sannolikhet"])]
    p_1 = sheet.cell(2, col["BT: mål 1 – sannolikhet"])
    assert isinstance(p_1.value, (int, float)) and 0 < p_1.value <= 1 and p_1.number_format == "0.00"
    assert sheet.cell(2, col["Rad"]).value == 1 and sheet.cell(2, col["BT: ingen säker träff"]).value in ("ja", "nej")
    # the input's plain numbers are numbers; an id with a leading zero stays text
    assert sheet.cell(2, col["Sökt belopp"]).value == 1200 and sheet.cell(3, col["Sökt belopp"]).value == 80000.5
    assert sheet.cell(2, col["Diarienr"]).value == "007" and sheet.cell(3, col["Diarienr"]).value == "2026-0002"


def test_the_report_reads_a_swedish_spreadsheet_like_an_id_table(batch_matcher: Matcher, tmp_path: Path) -> None:
    source = _swedish_backlog(tmp_path / "in.csv")
    score_file(source, tmp_path / "ids.jsonl", matcher=batch_matcher, progress=False, **COLS)
    expected = portfolio(tmp_path / "ids.jsonl")
    for name, dialect in [("sv.csv", "excel-sv"), ("cp1252.csv", "auto"), ("sv.xlsx", "auto")]:
        score_file(source, tmp_path / name, matcher=batch_matcher, progress=False, columns="sv", dialect=dialect,
                   **COLS)
        got = portfolio(tmp_path / name)
        assert got.frameworks == [fid.upper() for fid in expected.frameworks]  # the frameworks by their labels
        assert (got.rows, got.scored) == (expected.rows, expected.scored) == (3, 2)
        for fid in expected.frameworks:
            assert [(g.goal_id, g.projects, g.mean_probability and round(g.mean_probability, 4))
                    for g in got.spread[fid.upper()]] == \
                [(g.goal_id, g.projects, g.mean_probability and round(g.mean_probability, 4))
                 for g in expected.spread[fid]]


def test_the_score_command_writes_swedish_headers_in_the_inputs_dialect(batch_model_dir: Path,
                                                                        tmp_path: Path) -> None:
    source = _swedish_backlog(tmp_path / "in.csv")
    args = ["score", str(source), "--model", str(batch_model_dir), "--id-column", "Diarienr", "--text-columns",
            "Beskrivning"]
    assert main([*args, "-o", str(tmp_path / "out.csv")]) == 3  # a rejected row
    header = _read_csv(tmp_path / "out.csv", "cp1252", ";")[0]
    assert header[:6] == [*HEADER, "Rad"] and "BT: mål 1 – sannolikhet" in header
    assert main([*args, "-o", str(tmp_path / "ids.csv"), "--columns", "ids", "--dialect", "excel-sv"]) == 3
    raw = (tmp_path / "ids.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and "bt.p_1" in _read_csv(tmp_path / "ids.csv", "utf-8-sig", ";")[0]
