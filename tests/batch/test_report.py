"""Tests of goalmatch.batch.portfolio on a hand-made scored table (no matcher needed)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from goalmatch.batch import portfolio as report
from goalmatch.batch.tables import open_table
from goalmatch.batch.writers import TableWriter
from goalmatch.cli.main import main
from goalmatch.model import render

openpyxl = pytest.importorskip("openpyxl")

COLUMNS = ["row", "id", "status", "excerpt"]
for _fid in ("rus", "agenda-2030"):
    COLUMNS += [f"{_fid}.abstained", f"{_fid}.confident"]
    for _k in (1, 2):
        COLUMNS += [f"{_fid}.goal_{_k}", f"{_fid}.name_{_k}", f"{_fid}.p_{_k}"]


def _row(n: int, rus: tuple[str, str, float, float], confident: str, sdg: str) -> dict[str, object]:
    return {"row": n, "id": f"P{n}", "status": "scored", "excerpt": f"Projekt {n} | med pipe",
            "rus.confident": confident, "rus.goal_1": rus[0], "rus.name_1": rus[0].upper(), "rus.p_1": rus[2],
            "rus.goal_2": rus[1], "rus.name_2": rus[1].upper(), "rus.p_2": rus[3],
            "agenda-2030.confident": sdg, "agenda-2030.goal_1": "sdg-9", "agenda-2030.name_1": "Industri",
            "agenda-2030.p_1": 0.7, "agenda-2030.goal_2": "sdg-4", "agenda-2030.name_2": "Utbildning",
            "agenda-2030.p_2": 0.6}


@pytest.fixture()
def scored(tmp_path: Path) -> Path:
    rows = [
        _row(1, ("rus-a", "rus-b", 0.8, 0.1), "rus-a", "sdg-9;sdg-4"),
        _row(2, ("rus-a", "rus-b", 0.6, 0.3), "rus-a", "sdg-9"),
        _row(3, ("rus-b", "rus-a", 0.4, 0.35), "", ""),
        {"row": 4, "id": "P4", "status": "rejected: empty text"},
    ]
    with TableWriter(tmp_path / "scored.csv", COLUMNS) as writer:
        writer.write(rows)
    return tmp_path / "scored.csv"


def test_portfolio_counts_confident_goals(scored: Path) -> None:
    result = report.portfolio(scored)
    assert (result.rows, result.scored, result.frameworks) == (4, 3, ["rus", "agenda-2030"])
    rus = {g.goal_id: g for g in result.spread["rus"]}
    assert (rus["rus-a"].projects, rus["rus-a"].share, rus["rus-a"].ranked_first) == (2, pytest.approx(2 / 3), 2)
    assert rus["rus-a"].mean_probability == pytest.approx(0.7)
    assert (rus["rus-b"].projects, rus["rus-b"].mean_probability, rus["rus-b"].ranked_first) == (0, None, 1)
    assert result.abstained == {"rus": 1, "agenda-2030": 1}
    assert {g.goal_id: g.projects for g in result.spread["agenda-2030"]} == {"sdg-9": 2, "sdg-4": 1}


def test_markdown_and_xlsx(scored: Path, tmp_path: Path) -> None:
    result = report.portfolio(scored)
    text = report.to_markdown(result)
    assert "| RUS-A | 2 | 67\u00a0% | 0,70 | 2 | rus-a |" in text  # the name first, the id as small print
    assert "| projekt | mål per ramverk | Agenda 2030-mål |" in text
    assert "| P1: Projekt 1 \\| med pipe | rus: RUS-A (0,80) | Industri (0,70), Utbildning (0,60) |" in text
    assert "| P3: Projekt 3 \\| med pipe | rus: – | – |" in text
    assert "Ingen säker träff för 1 av 3 projekt." in text and "## Projekt" in text
    report.to_xlsx(result, tmp_path / "r.xlsx")
    book = openpyxl.load_workbook(tmp_path / "r.xlsx", read_only=True)
    assert book.sheetnames == ["om rapporten", "spridning", "projekt"]
    spread = list(book["spridning"].iter_rows(values_only=True))
    assert spread[0] == ("ramverk", "mål", "projekt", "andel", "medelsannolikhet", "först i listan", "id")
    assert ("rus", "RUS-A", 2) == spread[1][:3] and spread[1][-1] == "rus-a"
    assert len(list(book["projekt"].iter_rows())) == 4
    about = dict(book["om rapporten"].iter_rows(values_only=True))
    assert about["Bedömd tabell"] == "scored.csv" and about["Bedömda rader"] == "3 av 4"
    book.close()
    report.spread_table(result, tmp_path / "spread.parquet")
    assert len(list(open_table(tmp_path / "spread.parquet").rows())) == 4


def _undated(markdown: str) -> str:
    """The report without the minute it was made in."""
    return re.sub(r"(?m)^- Rapporten skapad: .*$", "", markdown)


def test_the_report_gives_its_times_in_swedish_local_time(scored: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = report.portfolio(scored)
    result.created = datetime(2026, 12, 5, 13, 3, tzinfo=UTC)  # winter: UTC+1
    result.source_modified = datetime(2026, 7, 1, 6, 30, tzinfo=UTC)  # summer: UTC+2
    text = report.to_markdown(result)
    assert "- Rapporten skapad: 5 december 2026 kl. 14.03\n" in text
    assert "- Tabellen bedömd: 1 juli 2026 kl. 08.30\n" in text
    assert "T13:03" not in text and "UTC" not in text
    monkeypatch.setattr(render, "TIME_ZONE", "Nowhere/Atlantis")  # a system without the zone: UTC, and says so
    assert "- Rapporten skapad: 5 december 2026 kl. 13.03 (UTC)\n" in report.to_markdown(result)


def test_report_command(scored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(scored), "--xlsx", str(tmp_path / "r.xlsx")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Portfölj: scored.csv")
    assert _undated(out) == _undated(report.to_markdown(report.portfolio(scored)))
    (tmp_path / "plain.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    assert main(["report", str(tmp_path / "plain.csv")]) == 2
    assert "goalmatch: error: " in (err := capsys.readouterr().err) and "not a scored table" in err


def test_report_files_are_written_whole_and_leave_no_temporary_files(scored: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "r.md").write_text("old", encoding="utf-8")
    assert main(["report", str(scored), "-o", str(out / "r.md"), "--xlsx", str(out / "r.xlsx")]) == 0
    assert (out / "r.md").read_text(encoding="utf-8").startswith("# Portfölj: scored.csv")
    charts = ["r-mal-agenda-2030.svg", "r-mal-rus.svg", "r-sakerhet-agenda-2030.svg", "r-sakerhet-rus.svg"]
    assert sorted(p.name for p in out.iterdir()) == [*charts, "r.md", "r.xlsx"]
