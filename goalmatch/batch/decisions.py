"""Reviewed vs model: the review app's decisions set beside a scored table's suggestions.

The review app (``goalmatch serve``) exports its decisions as JSONL (``/export.jsonl``), one JSON
object per reviewed application, in the corpus record format (:mod:`goalmatch.data.corpus`)::

    {"id": "review/17", "title": "Fiber till byn", "text": "…", "source": "review:web",
     "labels": {"rus": ["rus-a"]},
     "provenance": {"application_id": 17, "decisions": {"rus": {"action": "correct", "goal_ids": ["rus-a"], …}}}}

It is read here as that plain format (the batch layer does not import the web app). A framework's
decision is ``provenance.decisions[framework].goal_ids`` (an empty list: the reviewer found no goal
that fits), or, in a record without provenance, its ``labels``.

A record is matched to a scored project when the project's ``id`` is the record's title, its id
without ``review/``, or its source without ``review:``; failing that, when the project's excerpt is
the start of the record's text (both cut the same way, :func:`goalmatch.model.render.clip`).
A decision's framework is the scored table's framework of the same id, or, under Swedish headers
(where a framework is its label), the one whose goal ids the decisions name most often.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goalmatch.batch.portfolio import Portfolio, Section, percent
from goalmatch.errors import BadInput
from goalmatch.model import render

__all__ = ["CORRECTED", "HEADING", "Comparison", "Reviewed", "compare", "comparison_sections", "read_decisions"]


@dataclass(frozen=True)
class Reviewed:
    """One reviewed application from the export: its keys for matching and its goals per framework."""

    keys: tuple[str, ...]
    text: str
    goals: Mapping[str, tuple[str, ...]]


@dataclass
class FrameworkComparison:
    """Per framework: reviews matched to a scored project, how many kept the model's goals as they
    were, and the corrections (model's goals → reviewer's goals, counted)."""

    framework_id: str
    reviewed: int = 0
    agreed: int = 0
    corrections: Counter[tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=Counter)

    @property
    def rate(self) -> float | None:
        return self.agreed / self.reviewed if self.reviewed else None


@dataclass
class Comparison:
    """The frameworks' comparisons, in the scored table's order, and the reviews not in the table."""

    frameworks: list[FrameworkComparison]
    records: int
    unmatched: int


def read_decisions(path: str | Path) -> list[Reviewed]:
    """The reviewed applications of a review export (JSONL); a line that is not a record of the export
    stops the reading with a Swedish message naming the line."""
    source = Path(path)
    try:
        lines = source.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{source}: beslutsfilen kunde inte läsas ({exc})") from None
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(_reviewed(json.loads(line)))
        except (ValueError, TypeError, AttributeError) as exc:
            raise BadInput(f"{source}, rad {number}: inte ett beslut ur granskningsappens export (JSONL) "
                           f"({exc})") from None
    return out


def _reviewed(data: Any) -> Reviewed:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise ValueError("ett JSON-objekt med fältet id väntades")
    decisions = (data.get("provenance") or {}).get("decisions")
    if decisions:
        goals = {str(fid): tuple(map(str, d.get("goal_ids") or ())) for fid, d in decisions.items()}
    else:
        goals = {str(fid): tuple(map(str, ids)) for fid, ids in (data.get("labels") or {}).items()}
    record_id = data["id"]
    keys = [str(data.get("title") or ""), record_id.removeprefix("review/"),
            str(data.get("source") or "").removeprefix("review:")]
    return Reviewed(tuple(k for k in keys if k), str(data.get("text") or ""), goals)


def _framework_map(report: Portfolio, reviewed: Sequence[Reviewed]) -> dict[str, str]:
    """Decision framework id → the scored table's framework (itself, or the one sharing most goal ids)."""
    known = {fid: {g.goal_id for g in report.spread.get(fid, [])} for fid in report.frameworks}
    named: dict[str, Counter[str]] = {}
    for r in reviewed:
        for fid, goals in r.goals.items():
            named.setdefault(fid, Counter()).update(goals)
    out = {}
    for fid, counts in named.items():
        if fid in known:
            out[fid] = fid
            continue
        overlap = {own: sum(n for g, n in counts.items() if g in ids) for own, ids in known.items()}
        best = max(overlap, key=lambda own: overlap[own], default=None)
        if best is not None and overlap[best]:
            out[fid] = best
    return out


def compare(report: Portfolio, reviewed: Iterable[Reviewed]) -> Comparison:
    """Each matched review's goals against the model's confident goals for the same project."""
    reviewed = list(reviewed)
    by_id = {str(p["id"]): p for p in report.projects}
    by_excerpt = {p["excerpt"]: p for p in report.projects if p["excerpt"]}
    frameworks = {fid: FrameworkComparison(fid) for fid in report.frameworks}
    mapping = _framework_map(report, reviewed)
    unmatched = 0
    for r in reviewed:
        project = next((by_id[k] for k in r.keys if k in by_id), None) or by_excerpt.get(
            render.clip(r.text, render.EXCERPT_CHARS))
        if project is None:
            unmatched += 1
            continue
        for fid, chosen in r.goals.items():
            own = mapping.get(fid)
            if own is None:
                continue
            model = tuple(sorted(g for g, _ in project["goals"][own]))
            mine = tuple(sorted(chosen))
            entry = frameworks[own]
            entry.reviewed += 1
            if model == mine:
                entry.agreed += 1
            else:
                entry.corrections[(model, mine)] += 1
    return Comparison([f for f in frameworks.values() if f.reviewed], len(reviewed), unmatched)


def _names(report: Portfolio, fid: str, goals: tuple[str, ...]) -> str:
    names = {g.goal_id: g.name for g in report.spread.get(fid, [])}
    return ", ".join(names.get(g, g) for g in goals) or "inget mål"


HEADING, CORRECTED = "Granskat mot modellen", "Rättade mål"


def comparison_sections(report: Portfolio, comparison: Comparison) -> list[Section]:
    """The comparison as the report's tables, in Swedish: agreement per framework, then the corrections."""
    missing = f" {comparison.unmatched} granskade ansökningar fanns inte i tabellen." if comparison.unmatched else ""
    agreement = Section(
        HEADING, f"Granskarnas beslut jämförda med modellens säkra mål för samma projekt.{missing}",
        ["ramverk", "granskade", "samma mål som modellen", "andel"],
        [[f.framework_id, str(f.reviewed), str(f.agreed), percent(f.rate or 0.0)] for f in comparison.frameworks])
    rows = [[f.framework_id, _names(report, f.framework_id, model), _names(report, f.framework_id, mine), str(n)]
            for f in comparison.frameworks for (model, mine), n in f.corrections.most_common()]
    corrected = Section(CORRECTED, "Där granskaren valde andra mål än modellen: modellens mål → granskarens.",
                        ["ramverk", "modellens mål", "granskarens mål", "antal"], rows)
    return [agreement, corrected] if rows else [agreement]
