"""Portfolio reports of a scored backlog (the output of :func:`goalmatch.batch.score.score_file`).

:func:`portfolio` reads a scored table and counts, per framework and goal, the projects
the matcher stands behind (its confident goals), their share of the scored projects, the
mean probability of those suggestions and how often the goal was ranked first at all.
:func:`to_markdown` renders it with a project table shaped like the regions' own
reporting (seed 003): *project | goals per framework | Agenda 2030 goals*;
:func:`to_xlsx` writes the same as a workbook with the sheets ``spread`` and ``projects``.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goalmatch._io import replacing
from goalmatch.batch.tables import TableError, open_table, require_openpyxl
from goalmatch.batch.writers import abandon_workbook, cannot_write, publish, write_atomic, xlsx_cell
from goalmatch.model import render

__all__ = ["GoalSpread", "Portfolio", "portfolio", "to_markdown", "to_xlsx", "write_markdown"]

logger = logging.getLogger(__name__)

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
    result = Portfolio(Path(path), frameworks=frameworks)
    names: dict[str, dict[str, str]] = defaultdict(dict)
    chosen: dict[str, Counter[str]] = {fid: Counter() for fid in frameworks}
    first: dict[str, Counter[str]] = {fid: Counter() for fid in frameworks}
    prob_sum: dict[str, Counter[str]] = {fid: Counter() for fid in frameworks}
    result.abstained = dict.fromkeys(frameworks, 0)
    for row in table.rows():
        result.rows += 1
        cells = {keys.get(k, k): v for k, v in row.cells.items()} if keys else row.cells
        if cells.get("status") != "scored":
            continue
        result.scored += 1
        project: dict[str, Any] = {"id": cells.get("id"), "excerpt": cells.get("excerpt") or "", "goals": {}}
        for fid in frameworks:
            ranked = {}
            for k in range(1, top_k[fid] + 1):
                goal = cells.get(f"{fid}.goal_{k}")
                if goal:
                    names[fid].setdefault(goal, cells.get(f"{fid}.name_{k}") or goal)
                    ranked[goal] = _float(cells.get(f"{fid}.p_{k}"))
                    if k == 1:
                        first[fid][goal] += 1
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


def _goals_text(goals: list[tuple[str, float | None]]) -> str:
    return ", ".join(f"{g} ({p:.2f})" if p is not None else g for g, p in goals) or "–"


def _project_rows(report: Portfolio) -> tuple[list[str], list[list[str]]]:
    own = [f for f in report.frameworks if not _is_agenda(f)]
    agenda = [f for f in report.frameworks if _is_agenda(f)]
    header = ["project", "goals per framework", *(["Agenda 2030 goals"] if agenda else [])]
    rows = []
    for p in report.projects:
        name = f"{p['id']}: {p['excerpt']}" if p["excerpt"] else str(p["id"])
        goals = "; ".join(f"{fid}: {_goals_text(p['goals'][fid])}" for fid in own)
        rows.append([name, goals, *([" ".join(_goals_text(p["goals"][f]) for f in agenda)] if agenda else [])])
    return header, rows


def to_markdown(report: Portfolio, max_projects: int | None = 200) -> str:
    """The report as Markdown: a spread table per framework, then the project table."""
    lines = [f"# Portfolio: {report.source.name}", "",
             f"{report.scored} of {report.rows} rows scored; a project counts for the goals the matcher is "
             f"confident of (mean p: their mean probability; ranked first: top of the list, confident or not).", ""]
    for fid in report.frameworks:
        lines += [f"## {fid}", "", f"No confident goal for {report.abstained[fid]} of {report.scored} projects.", "",
                  "| goal | name | projects | share | mean p | ranked first |", "|---|---|---:|---:|---:|---:|"]
        for g in report.spread[fid]:
            mean = f"{g.mean_probability:.2f}" if g.mean_probability is not None else "–"
            cells = [g.goal_id, _cell(g.name), str(g.projects), f"{g.share:.0%}", mean, str(g.ranked_first)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    header, rows = _project_rows(report)
    shown = rows if max_projects is None else rows[:max_projects]
    lines += ["## Projects", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in shown]
    if len(shown) < len(rows):
        lines += ["", f"… and {len(rows) - len(shown)} more projects (all of them are in the .xlsx export)."]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def to_xlsx(report: Portfolio, path: str | Path) -> Path:
    """Write the report as a workbook: sheet ``spread`` (one row per goal) and ``projects``."""
    dest = Path(path)
    if dest.suffix.lower() != ".xlsx":
        raise TableError(f"{dest}: the workbook needs the extension .xlsx")
    book = require_openpyxl().Workbook(write_only=True)
    try:  # write-only sheets spill to temporary files as rows are added: a full disk can show here too
        with replacing(dest) as tmp:
            spread = book.create_sheet("spread")
            spread.append(["framework", "goal", "name", "projects", "share", "mean probability", "ranked first"])
            for fid in report.frameworks:
                for g in report.spread[fid]:
                    spread.append([fid, g.goal_id, g.name, g.projects, round(g.share, 4),
                                   round(g.mean_probability, 4) if g.mean_probability is not None else None,
                                   g.ranked_first])
            projects = book.create_sheet("projects")
            header, rows = _project_rows(report)
            projects.append(header)
            for row in rows:
                projects.append([xlsx_cell(value) for value in row])  # ids and titles come from the user's backlog
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
