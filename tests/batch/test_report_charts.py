"""Issue 15, item 6: ``goalmatch report`` draws the portfolio as charts (SVG beside the Markdown, inline in
one HTML file, native charts in the workbook) and sets the review app's decisions beside the model's.

The scored table and the decisions export are written by hand here: no matcher, no web app.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from goalmatch.batch import decisions as dec
from goalmatch.batch import portfolio as report
from goalmatch.batch.report_charts import confidence_bins, portfolio_charts
from goalmatch.batch.writers import TableWriter
from goalmatch.cli.main import main
from goalmatch.errors import BadInput
from tests.cli.test_swedish_output import LEAKS, RAW_FIGURE
from tests.toys import BATCH_TEXTS

openpyxl = pytest.importorskip("openpyxl")

SVG = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert(1)</script> & Co"
NAMES = {"rus-a": "Fler jobb på landsbygden", "rus-b": EVIL, "sdg-9": "Hållbar industri", "sdg-4": "God utbildning"}
COLUMNS = ["row", "id", "status", "excerpt"]
for _fid in ("rus", "agenda-2030"):
    COLUMNS += [f"{_fid}.confident"] + [f"{_fid}.{c}_{k}" for k in (1, 2) for c in ("goal", "name", "p")]


def _row(n: int, text: str, rus: tuple[str, str, float, str], sdg: tuple[str, str, float, str]) -> dict[str, object]:
    row: dict[str, object] = {"row": n, "id": f"P{n}", "status": "scored", "excerpt": text}
    for fid, (first, second, p, confident) in (("rus", rus), ("agenda-2030", sdg)):
        row |= {f"{fid}.confident": confident, f"{fid}.goal_1": first, f"{fid}.name_1": NAMES[first],
                f"{fid}.p_1": p, f"{fid}.goal_2": second, f"{fid}.name_2": NAMES[second], f"{fid}.p_2": p / 4}
    return row


@pytest.fixture()
def scored(tmp_path: Path) -> Path:
    rows = [
        _row(1, "Ett kök för byns förening", ("rus-a", "rus-b", 0.85, "rus-a"), ("sdg-9", "sdg-4", 0.72, "sdg-9")),
        _row(2, "Ny fiber till skolan", ("rus-a", "rus-b", 0.62, "rus-a"), ("sdg-4", "sdg-9", 0.40, "")),
        _row(3, "Bygdegård i Överkalix", ("rus-b", "rus-a", 0.30, ""), ("sdg-4", "sdg-9", 0.55, "sdg-4")),
        _row(4, "Butiken i byn", ("rus-b", "rus-a", 0.91, "rus-b"), ("sdg-9", "sdg-4", 0.80, "sdg-9;sdg-4")),
        {"row": 5, "id": "P5", "status": "rejected: empty text"},
    ]
    with TableWriter(tmp_path / "bedömd.csv", COLUMNS) as writer:  # a file name from the leak list would leak
        writer.write(rows)
    return tmp_path / "bedömd.csv"


def _decision(title: str, text: str, goals: dict[str, list[str]], record_id: str = "review/7") -> dict[str, object]:
    return {"id": record_id, "title": title, "text": text, "source": "review:web",
            "labels": {f: g for f, g in goals.items() if g},
            "provenance": {"decisions": {f: {"action": "correct", "goal_ids": g} for f, g in goals.items()}}}


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    records = [
        _decision("P1", "Ett kök för byns förening", {"rus": ["rus-a"], "agenda-2030": ["sdg-4"]}),
        _decision("Något annat", "Bygdegård   i Överkalix", {"rus": [], "agenda-2030": ["sdg-4"]}),  # by its text
        _decision("Butik", "Annan text", {"rus": ["rus-a"]}, record_id="review/P4"),  # by its id
        {"id": "review/9", "title": "P2", "text": "x", "source": "review:web", "labels": {"rus": ["rus-a"]}},
        _decision("X9", "Okänd ansökan", {"rus": ["rus-b"]}),  # not in the table
    ]
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


class _Text(HTMLParser):
    """The text a reader sees in an HTML document (and the tags used)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        if self.tags[-1:] != ["style"]:
            self.text.append(data)


def _leaks(text: str) -> list[str]:
    return sorted({m.group() for m in LEAKS.finditer(text)} | {m.group() for m in RAW_FIGURE.finditer(text)})


def test_confidence_bins_count_each_projects_top_probability(scored: Path) -> None:
    bins = dict(confidence_bins(report.portfolio(scored), "rus"))
    assert list(bins)[:2] == ["0,0–0,1", "0,1–0,2"] and list(bins)[-1] == "ingen säker träff"
    assert {k: n for k, n in bins.items() if n} == {"0,6–0,7": 1, "0,8–0,9": 1, "0,9–1,0": 1, "ingen säker träff": 1}


def test_markdown_report_links_svg_charts_with_goal_names_and_counts(scored: Path, tmp_path: Path) -> None:
    out = tmp_path / "ut"
    out.mkdir()
    assert main(["report", str(scored), "-o", str(out / "rapport.md")]) == 0
    markdown = (out / "rapport.md").read_text(encoding="utf-8")
    svgs = sorted(out.glob("*.svg"))
    assert [p.name for p in svgs] == ["rapport-mal-agenda-2030.svg", "rapport-mal-rus.svg",
                                      "rapport-sakerhet-agenda-2030.svg", "rapport-sakerhet-rus.svg"]
    for svg in svgs:
        assert f"]({svg.name})" in markdown
        root = ET.parse(svg).getroot()  # parses as XML
        assert root.tag == f"{SVG}svg" and root.get("role") == "img"
        assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc").text  # type: ignore[union-attr]
    goals = ET.parse(out / "rapport-mal-rus.svg").getroot()
    texts = [t.text for t in goals.iter(f"{SVG}text")]
    assert "Fler jobb på landsbygden" in texts and "2 (50\u00a0%)" in texts and "1 (25\u00a0%)" in texts
    assert any(t and t.startswith("<script>") for t in texts)  # the name survives, escaped in the file
    assert "<script>" not in (out / "rapport-mal-rus.svg").read_text(encoding="utf-8")
    confidence = [t.text for t in ET.parse(out / "rapport-sakerhet-rus.svg").getroot().iter()
                  if t.tag in (f"{SVG}text", f"{SVG}tspan")]
    assert {"ingen", "säker", "träff"} <= set(confidence) and "0,9–1,0" in confidence and confidence.count("1") >= 4
    assert "![Ansökningar per mål: rus. Liggande staplar" in markdown
    assert _leaks(markdown.replace(str(out), "")) == []


def test_html_report_is_one_escaped_swedish_file(scored: Path, export: Path, tmp_path: Path) -> None:
    page = tmp_path / "rapport.html"
    assert main(["report", str(scored), "--html", str(page), "--decisions", str(export)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bedömd.csv", "export.jsonl", "rapport.html"]
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<html lang="sv">' in html
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
    assert " src=" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    parser = _Text()
    parser.feed(html)
    assert parser.tags.count("svg") == 6 and parser.tags.count("table") == 5  # 2 frameworks × 2, review 2
    text = " ".join(parser.text)
    assert "Granskat mot modellen" in text and "Rättade mål" in text and "75\u00a0% (3 av 4)" in text
    assert _leaks(text) == [], _leaks(text)


def test_workbook_has_native_charts_on_the_sheet_diagram(scored: Path, export: Path, tmp_path: Path) -> None:
    book_path = tmp_path / "rapport.xlsx"
    assert main(["report", str(scored), "--xlsx", str(book_path), "--decisions", str(export)]) == 0
    book = openpyxl.load_workbook(book_path)
    assert book.sheetnames == ["om rapporten", "spridning", "projekt", "diagram"]
    charts = book["diagram"]._charts
    assert len(charts) == 5 and {c.tagname for c in charts} == {"barChart"}
    assert {c.type for c in charts} == {"bar", "col"}
    values = [row for row in book["diagram"].iter_rows(values_only=True) if any(v is not None for v in row)]
    assert ("Fler jobb på landsbygden", 2) in values and ("ingen säker träff", 1) in values
    assert ("rus", 75) in values and ("agenda-2030", 50) in values  # reviewers' agreement, in per cent
    assert all(c.x_axis.delete is False and c.y_axis.delete is False for c in charts)  # axes shown in Excel


def test_decisions_are_compared_with_the_models_goals(scored: Path, export: Path) -> None:
    result = dec.compare(report.portfolio(scored), dec.read_decisions(export))
    assert (result.records, result.unmatched) == (5, 1)
    rus, agenda = result.frameworks
    assert (rus.framework_id, rus.reviewed, rus.agreed) == ("rus", 4, 3)  # P1, P3 (none fits, abstained), P2
    assert rus.corrections == {(("rus-b",), ("rus-a",)): 1}
    assert (agenda.framework_id, agenda.reviewed, agenda.agreed) == ("agenda-2030", 2, 1)
    assert agenda.corrections == {(("sdg-9",), ("sdg-4",)): 1}
    sections = dec.comparison_sections(report.portfolio(scored), result)
    assert sections[0].rows == [["rus", "4", "3", "75\u00a0%"], ["agenda-2030", "2", "1", "50\u00a0%"]]
    assert [EVIL, "Fler jobb på landsbygden", "1"] == sections[1].rows[0][1:]
    assert "1 granskade ansökningar fanns inte i tabellen." in sections[0].lead
    charts = [c.slug for c in portfolio_charts(report.portfolio(scored), result)]
    assert charts[-2:] == ["granskning", "rattelser"]


def test_a_decision_framework_under_another_name_is_found_by_its_goals(scored: Path, tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(_decision("P4", "", {"rus-norrbotten-2030": ["rus-b"]})) + "\n", encoding="utf-8")
    result = dec.compare(report.portfolio(scored), dec.read_decisions(path))
    assert [(f.framework_id, f.reviewed, f.agreed) for f in result.frameworks] == [("rus", 1, 1)]


def test_a_bad_decisions_line_is_named_in_swedish(scored: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(_decision("P1", "", {"rus": []})) + "\n{inte json\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"d\.jsonl, rad 2: inte ett beslut"):
        dec.read_decisions(path)
    assert main(["report", str(scored), "--decisions", str(path), "--html", str(tmp_path / "r.html")]) == 2
    assert "rad 2" in capsys.readouterr().err and not (tmp_path / "r.html").exists()


def test_frameworks_alike_but_for_case_keep_their_own_chart_files() -> None:
    twins = report.Portfolio(Path("x.csv"), frameworks=["RUS", "Rus"], abstained={"RUS": 0, "Rus": 0},
                             spread={"RUS": [], "Rus": []})
    assert [c.slug for c in portfolio_charts(twins)] == ["sakerhet-rus", "sakerhet-rus-2"]


def test_a_scored_backlog_with_swedish_headers_gives_every_report_form(batch_model_dir: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    backlog = tmp_path / "ansökningar.csv"
    with TableWriter(backlog, ["diarienr", "beskrivning"]) as writer:
        writer.write([{"diarienr": f"2026-{n}", "beskrivning": text} for n, text in enumerate(BATCH_TEXTS, 1)])
    scored = tmp_path / "bedömda.csv"
    assert main(["score", str(backlog), "-o", str(scored), "--model", str(batch_model_dir), "--id-column",
                 "diarienr", "--text-columns", "beskrivning", "--columns", "sv", "--no-progress"]) == 0
    result = report.portfolio(scored)
    fid = result.frameworks[0]
    first = result.projects[0]
    goals = [g.goal_id for g in result.spread[fid]]
    # the review app's ids: the framework by its id (the table has its label), the application by its text
    mine = [g for g in goals if g not in {g for g, _ in first["goals"][fid]}][:1]
    export = tmp_path / "export.jsonl"
    export.write_text(json.dumps(_decision("Bredband", BATCH_TEXTS[0], {"ramverk-id": mine})) + "\n", encoding="utf-8")
    out = tmp_path / "ut"
    out.mkdir()
    assert main(["report", str(scored), "-o", str(out / "rapport.md"), "--html", str(out / "rapport.html"),
                 "--xlsx", str(out / "rapport.xlsx"), "--decisions", str(export)]) == 0
    capsys.readouterr()
    for svg in out.glob("*.svg"):
        assert ET.parse(svg).getroot().get("role") == "img"
    assert (out / "rapport-granskning.svg").exists() and (out / "rapport-rattelser.svg").exists()
    parser = _Text()
    parser.feed((out / "rapport.html").read_text(encoding="utf-8"))
    text = " ".join(parser.text)
    assert "0\u00a0% (0 av 1)" in text and _leaks(text) == [], _leaks(text)
    assert len(openpyxl.load_workbook(out / "rapport.xlsx")["diagram"]._charts) == 2 * len(result.frameworks) + 1
