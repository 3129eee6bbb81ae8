"""Portfolio reports of a scored backlog (the output of :func:`goalmatch.batch.score.score_file`).

:func:`portfolio` reads a scored table and counts, per framework and goal, the projects
the matcher stands behind (its confident goals), their share of the scored projects, the
mean probability of those suggestions and how often the goal was ranked first at all.
:func:`to_markdown` renders it, in Swedish, with a project table shaped like the regions' own
reporting (seed 003): *projekt | mål per ramverk | Agenda 2030-mål*; :func:`to_xlsx` writes
the same as a workbook with the sheets ``om rapporten``, ``spridning`` and ``projekt``.
Everything a reader sees is Swedish: goal names first (ids last, as small print), decimal
commas, times in Swedish local time (:func:`goalmatch.model.render.local_time_sv`). The
machine-readable forms (:meth:`Portfolio.to_dict`, :func:`spread_table`) keep their English keys.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from goalmatch._io import replacing
from goalmatch.batch.tables import TableError, open_table, require_openpyxl
from goalmatch.batch.writers import abandon_workbook, cannot_write, publish, write_atomic, xlsx_cell
from goalmatch.model import render

__all__ = ["EXPLANATION", "GoalSpread", "Portfolio", "Section", "about", "abstained_line", "percent", "portfolio",
           "project_rows", "spread_rows", "to_markdown", "to_xlsx", "write_markdown"]

logger = logging.getLogger(__name__)

_SPACE = re.compile(r"[ \t\r\n\f\v]+")
_GOAL_COLUMN = re.compile(r"^(?P<fid>.+)\.goal_(?P<k>\d+)$")


@dataclass
class GoalSpread:
    """One goal's place in the portfolio. ``share``: of the framework's scored projects."""

    framework_id: str
    goal_id: str
    name: str
    projects: int = 0
    share: float = 0.0
    mean_probability: float | None = None
    ranked_first: int = 0


@dataclass
class Portfolio:
    """The spread of a scored backlog over each framework's goals, and its projects' goals."""

    source: Path
    rows: int = 0
    scored: int = 0
    frameworks: list[str] = field(default_factory=list)
    abstained: dict[str, int] = field(default_factory=dict)
    spread: dict[str, list[GoalSpread]] = field(default_factory=dict)
    projects: list[dict[str, Any]] = field(default_factory=list)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    source_modified: datetime | None = None  # when the scored table was last written

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": str(self.source), "rows": self.rows, "scored": self.scored, "abstained": self.abstained,
            "spread": {fid: [vars(g) for g in goals] for fid, goals in self.spread.items()},
        }


def portfolio(path: str | Path) -> Portfolio:
    """Read a scored table (any format :mod:`goalmatch.batch.tables` reads, with id or Swedish headers, a
    decimal point or comma) into a :class:`Portfolio`; under Swedish headers a framework is its label."""
    table = open_table(path)
    keys = _keys(table.columns)
    columns = [keys.get(c, c) for c in table.columns]
    frameworks = list(dict.fromkeys(m["fid"] for c in columns if (m := _GOAL_COLUMN.match(c))))
    missing = [c for c in ("id", "status") if c not in columns]
    if missing or not frameworks:
        raise TableError(f"{path}: not a scored table (expected the columns id, status and <framework>.goal_1 "
                         f"that `goalmatch score` writes)")
    top_k = {fid: sum(1 for c in columns if c.startswith(f"{fid}.goal_")) for fid in frameworks}
    result = Portfolio(Path(path), frameworks=frameworks, source_modified=_modified(Path(path)))
    names: dict[str, dict[str, str]] = defaultdict(dict)
    chosen: dict[str, Counter[str]] = {fid: Counter() for fid in frameworks}
    first: dict[str, Counter[str]] = {fid: Counter() for fid in frameworks}
    prob_sum: dict[str, Counter[str]] = {fid: Counter() for fid in frameworks}
    result.abstained = dict.fromkeys(frameworks, 0)
    for row in table.rows():
        result.rows += 1
        cells = {keys.get(k, k): v for k, v in row.cells.items()} if keys else row.cells
        if cells.get("status") not in ("scored", "bedömd"):  # ids or Swedish headers (batch/layout.py)
            continue
        result.scored += 1
        project: dict[str, Any] = {"id": cells.get("id"), "excerpt": cells.get("excerpt") or "", "goals": {},
                                   "top": {}}
        for fid in frameworks:
            ranked = {}
            for k in range(1, top_k[fid] + 1):
                goal = cells.get(f"{fid}.goal_{k}")
                if goal:
                    names[fid].setdefault(goal, cells.get(f"{fid}.name_{k}") or goal)
                    ranked[goal] = _float(cells.get(f"{fid}.p_{k}"))
                    if k == 1:
                        first[fid][goal] += 1
                        project["top"][fid] = ranked[goal]
            confident = [g for g in (cells.get(f"{fid}.confident") or "").split(";") if g]
            if not confident:
                result.abstained[fid] += 1
            for goal in confident:
                chosen[fid][goal] += 1
                prob_sum[fid][goal] += ranked.get(goal) or 0.0  # type: ignore[assignment]
            project["goals"][fid] = [(g, ranked.get(g)) for g in confident]
        result.projects.append(project)
    for fid in frameworks:
        goals = sorted(names[fid], key=lambda g: (-chosen[fid][g], -first[fid][g], g))
        result.spread[fid] = [
            GoalSpread(fid, g, names[fid][g], chosen[fid][g], chosen[fid][g] / result.scored if result.scored else 0.0,
                       prob_sum[fid][g] / chosen[fid][g] if chosen[fid][g] else None, first[fid][g])
            for g in goals
        ]
    return result


def _modified(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None


def _keys(columns: list[str]) -> dict[str, str]:
    """Header → column key for a table written with Swedish headers (``goalmatch score --columns sv``,
    the framework named by its label: ``RUS.p_1``); nothing for one with id headers."""
    if "id" in columns and "status" in columns:
        return {}
    return render.column_keys(columns)


def _float(value: str | None) -> float | None:
    """A probability cell as a number: a decimal point or a decimal comma (``--dialect excel-sv``)."""
    try:
        return float(value.replace(",", ".")) if value not in (None, "") else None  # type: ignore[union-attr]
    except ValueError:
        return None


def _is_agenda(fid: str) -> bool:
    return fid.casefold().startswith("agenda")


def _goals_text(goals: list[tuple[str, float | None]], names: dict[str, str]) -> str:
    return ", ".join(f"{names.get(g, g)} ({render.decimal_sv(p)})" if p is not None else names.get(g, g)
                     for g, p in goals) or "–"


@dataclass(frozen=True)
class Section:
    """A table of the report beside the spread and the projects (the review comparison): a heading,
    a sentence under it, and the table's header and rows, all of them text for a reader."""

    heading: str
    lead: str
    header: list[str]
    rows: list[list[str]]


def spread_rows(report: Portfolio, fid: str) -> tuple[list[str], list[list[str]]]:
    """One framework's spread as a reader's table: header and rows of text (Swedish numbers)."""
    header = ["mål", "projekt", "andel", "medelsannolikhet", "först i listan", "id"]
    rows = [[g.name, str(g.projects), percent(g.share),
             render.decimal_sv(g.mean_probability) if g.mean_probability is not None else "–", str(g.ranked_first),
             g.goal_id] for g in report.spread[fid]]
    return header, rows


def project_rows(report: Portfolio) -> tuple[list[str], list[list[str]]]:
    """The project table: each scored project with its confident goals per framework."""
    own = [f for f in report.frameworks if not _is_agenda(f)]
    agenda = [f for f in report.frameworks if _is_agenda(f)]
    header = ["projekt", "mål per ramverk", *(["Agenda 2030-mål"] if agenda else [])]
    names = {fid: {g.goal_id: g.name for g in report.spread.get(fid, [])} for fid in report.frameworks}
    rows = []
    for p in report.projects:
        name = f"{p['id']}: {p['excerpt']}" if p["excerpt"] else str(p["id"])
        goals = "; ".join(f"{fid}: {_goals_text(p['goals'][fid], names[fid])}" for fid in own)
        rows.append([name, goals, *(["; ".join(_goals_text(p["goals"][f], names[f]) for f in agenda)]
                                    if agenda else [])])
    return header, rows


def about(report: Portfolio) -> list[tuple[str, str]]:
    """What the report is of, and when, for its reader: label and value."""
    lines = [("Bedömd tabell", report.source.name)]
    if report.source_modified is not None:
        lines.append(("Tabellen bedömd", render.local_time_sv(report.source_modified)))
    lines += [("Rapporten skapad", render.local_time_sv(report.created)),
              ("Bedömda rader", f"{report.scored} av {report.rows}")]
    return lines


EXPLANATION = ("Ett projekt räknas för de mål som modellen står bakom (säkra mål). Medelsannolikhet: de säkra "
               "förslagens genomsnittliga sannolikhet. Först i listan: hur ofta målet kom överst, säkert eller inte.")


def abstained_line(report: Portfolio, fid: str) -> str:
    """The sentence under a framework's heading: for how many projects the model stood behind no goal."""
    return f"Ingen säker träff för {report.abstained[fid]} av {report.scored} projekt."


def to_markdown(report: Portfolio, max_projects: int | None = 200, *,
                charts: Mapping[str, Sequence[tuple[str, str]]] | None = None, sections: Sequence[Section] = ()) -> str:
    """The report as Markdown, in Swedish: a spread table per framework, then the project table.

    ``charts``: per framework id (or section heading), the charts to show above its table, as
    (alternative text, file name) pairs; ``sections``: further tables (the review comparison)."""
    charts = charts or {}
    lines = [f"# Portfölj: {report.source.name}", "", *(f"- {k}: {v}" for k, v in about(report)), "",
             EXPLANATION, ""]
    for fid in report.frameworks:
        lines += [f"## {fid}", "", abstained_line(report, fid), "",
                  *_block(charts.get(fid, ()), *spread_rows(report, fid), numeric=(1, 2, 3, 4))]
    for section in sections:
        lines += [f"## {section.heading}", "", section.lead, "",
                  *_block(charts.get(section.heading, ()), section.header, section.rows)]
    header, rows = project_rows(report)
    shown = rows if max_projects is None else rows[:max_projects]
    lines += ["## Projekt", "", *_table(header, shown)]
    if len(shown) < len(rows):
        lines += ["", f"… och {len(rows) - len(shown)} projekt till (alla finns i Excel-filen)."]
    return "\n".join(lines) + "\n"


def _block(images: Sequence[tuple[str, str]], header: list[str], rows: list[list[str]],
           numeric: tuple[int, ...] = ()) -> list[str]:
    """Linked images (alternative text, file name), then a table, then a blank line."""
    linked = [line for alt, name in images for line in (f"![{_alt(alt)}]({name})", "")]
    return [*linked, *_table(header, rows, numeric), ""]


def _alt(text: str) -> str:
    """An image's alternative text for Markdown: one line, its brackets escaped."""
    return _cell(text).replace("[", "\\[").replace("]", "\\]")


def _table(header: list[str], rows: list[list[str]], numeric: tuple[int, ...] = ()) -> list[str]:
    rule = "|" + "".join("---:|" if i in numeric else "---|" for i in range(len(header)))
    return ["| " + " | ".join(header) + " |", rule, *("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)]


def percent(share: float) -> str:
    """A share as Swedish writes a percentage, with a space before the sign: ``67 %``."""
    return f"{share:.0%}".replace("%", "\u00a0%")


def _cell(text: str) -> str:
    return _SPACE.sub(" ", str(text)).strip(" ").replace("|", "\\|")  # a no-break space stays


def to_xlsx(report: Portfolio, path: str | Path, extra: Callable[[Any], None] | None = None) -> Path:
    """Write the report as a workbook, in Swedish: the sheets ``om rapporten`` (what and when),
    ``spridning`` (one row per goal) and ``projekt``; ``extra(book)`` adds more sheets (the charts
    of :mod:`goalmatch.batch.report_charts`) to the write-only workbook before it is saved."""
    dest = Path(path)
    if dest.suffix.lower() != ".xlsx":
        raise TableError(f"{dest}: the workbook needs the extension .xlsx")
    book = require_openpyxl().Workbook(write_only=True)
    try:  # write-only sheets spill to temporary files as rows are added: a full disk can show here too
        with replacing(dest) as tmp:
            what = book.create_sheet("om rapporten")
            for label, value in about(report):
                what.append([label, xlsx_cell(value)])
            spread = book.create_sheet("spridning")
            spread.append(["ramverk", "mål", "projekt", "andel", "medelsannolikhet", "först i listan", "id"])
            for fid in report.frameworks:
                for g in report.spread[fid]:
                    spread.append([xlsx_cell(fid), xlsx_cell(g.name), g.projects, round(g.share, 4),
                                   round(g.mean_probability, 4) if g.mean_probability is not None else None,
                                   g.ranked_first, xlsx_cell(g.goal_id)])
            projects = book.create_sheet("projekt")
            header, rows = project_rows(report)
            projects.append(header)
            for row in rows:
                projects.append([xlsx_cell(value) for value in row])  # ids and titles come from the user's backlog
            if extra is not None:
                extra(book)
            book.save(tmp)
    except OSError as exc:  # disk full, file too large: the previous workbook, if any, stays
        abandon_workbook(book)
        raise cannot_write(dest, exc) from None
    return dest


def write_markdown(text: str, path: str | Path) -> Path:
    """Write the Markdown report atomically: ``path`` is the old file or the whole new one, never half of it."""
    dest = Path(path)
    write_atomic(dest, text)
    return dest


def spread_table(report: Portfolio, path: str | Path) -> Path:
    """The spread alone as a flat table in any writable format (CSV, Parquet, …)."""
    columns = ["framework_id", "goal_id", "name", "projects", "share", "mean_probability", "ranked_first"]
    types = {"projects": "int", "share": "float", "mean_probability": "float", "ranked_first": "int"}
    return publish(path, columns, [[vars(g) for fid in report.frameworks for g in report.spread[fid]]], types)
