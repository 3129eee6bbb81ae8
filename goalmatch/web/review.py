"""What the review pages show, computed from stored applications: plain functions, no web.

The model's goals in stored suggestions, the highlighted evidence (at most two sentences
per suggested goal, each with a coloured badge and a legend), the similar projects worth
showing, the queue's Swedish confidence filter, the agreement table of the dashboard and
the export as labelled corpus records. (The queue is filtered,
ordered and paged in SQL: :meth:`goalmatch.web.store.Store.queue`.)
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from goalmatch.data.corpus import Record
from goalmatch.model.render import local_time_sv

__all__ = ["ACTIONS_SV", "COLOURS", "Highlight", "Segment", "agreement", "clearly_closer", "export_records",
           "highlights", "model_goals", "parse_confidence", "percent_sv", "segments", "time_sv"]

ACTIONS_SV = {"accept": "Godkänd", "correct": "Rättad", "reject": "Avvisad"}
"""A decision's action as the case officer reads it."""
COLOURS = 8  # highlight colours in style.css (.c0 … .c7), given to the suggested goals in turn
SENTENCES_PER_GOAL = 2
CLEAR_MARGIN = 0.03  # cosine: how far the closest project(s) must stand above the rest
_BADGES = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CONFIDENCE = re.compile(r"^\s*(?P<number>[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)\s*(?P<percent>%?)\s*$")


def percent_sv(probability: float | None) -> str:
    """A probability as Swedish percent: ``percent_sv(0.731)`` → ``'73 %'``; a dash without one."""
    if probability is None or not math.isfinite(probability):
        return "–"
    return f"{round(100 * probability)} %"


def time_sv(moment: str | datetime | None) -> str:
    """A stored moment (ISO text or datetime) in Swedish local time; the text as is if unreadable."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, datetime):
        return local_time_sv(moment)
    try:
        return local_time_sv(datetime.fromisoformat(moment))
    except ValueError:
        return moment


def parse_confidence(text: str) -> float | None:
    """The queue's "Säkerhet högst" as a probability: ``0,5``, ``0.5``, ``50 %``; None when empty.

    Raises :class:`ValueError` with a Swedish message for anything else or a value outside
    0–1 (0–100 %).

    >>> parse_confidence("0,5"), parse_confidence("50 %"), parse_confidence(" ")
    (0.5, 0.5, None)
    """
    if not text.strip():
        return None
    match = _CONFIDENCE.match(text)
    if match is None:
        raise ValueError(f"Säkerhet högst: {text.strip()[:40]!r} är inget tal; skriv till exempel 0,5 eller 50 %.")
    value = float(match["number"].replace(",", "."))
    if match["percent"] or value > 1:
        if value > 100:
            raise ValueError("Säkerhet högst: skriv ett tal mellan 0 och 1 (till exempel 0,5) eller 0–100 %.")
        value /= 100
    return value


@dataclass(frozen=True)
class Highlight:
    """A suggested goal whose supporting sentences are marked: its badge, colour and names."""

    badge: str
    colour: int
    framework_id: str
    framework: str
    goal_id: str
    goal: str
    spans: tuple[tuple[int, int], ...]
    quotes: tuple[str, ...]
    sure: bool = True  # False: the framework abstained and this is only its most likely goal


def highlights(results: Sequence[Mapping[str, Any]]) -> list[Highlight]:
    """Per framework, the confident goals (the top one when it abstained) and their best sentences.

    At most :data:`SENTENCES_PER_GOAL` sentences per goal (the evidence lists them strongest
    first); each goal gets a letter badge and one of :data:`COLOURS` colours in turn.
    """
    out: list[Highlight] = []
    for fw in results:
        chosen = [s for s in fw.get("suggestions", []) if s.get("confident")] or fw.get("suggestions", [])[:1]
        for s in chosen:
            sentences = (s.get("evidence") or {}).get("sentences", [])[:SENTENCES_PER_GOAL]
            usable = [x for x in sentences if "start" in x and "end" in x]
            if not usable:
                continue
            spans = tuple((int(x["start"]), int(x["end"])) for x in usable)
            quotes = tuple(str(x.get("text", "")) for x in usable)
            n = len(out)
            badge = _BADGES[n % len(_BADGES)] + (str(n // len(_BADGES)) if n >= len(_BADGES) else "")
            out.append(Highlight(badge, n % COLOURS, str(fw.get("framework_id", "")), str(fw.get("name", "")),
                                 str(s.get("goal_id", "")), str(s.get("name") or s.get("goal_id", "")), spans,
                                 quotes, bool(s.get("confident")) and not fw.get("abstained")))
    return out


def clearly_closer(projects: Sequence[Mapping[str, Any]], margin: float = CLEAR_MARGIN) -> list[Mapping[str, Any]]:
    """The similar projects worth showing: those that clearly stand out from the rest.

    Similarity values that all sit close together (0.84–0.89) say nothing about which
    project is like this one. The rule: sort by similarity; the leading projects are shown
    when the largest drop between neighbours lies after them, that drop is at least
    ``margin`` (cosine) and at least twice the median of the other drops. At most two are
    shown; with fewer than three projects with a figure nothing can stand out, and nothing
    is shown.

    >>> [p["id"] for p in clearly_closer([{"id": "a", "similarity": 0.95}, {"id": "b", "similarity": 0.86},
    ...                                    {"id": "c", "similarity": 0.85}, {"id": "d", "similarity": 0.84}])]
    ['a']
    >>> clearly_closer([{"id": "a", "similarity": 0.89}, {"id": "b", "similarity": 0.87},
    ...                 {"id": "c", "similarity": 0.86}, {"id": "d", "similarity": 0.84}])
    []
    """
    known = [p for p in projects if isinstance(p.get("similarity"), (int, float))
             and math.isfinite(p["similarity"])]
    ranked = sorted(known, key=lambda p: -float(p["similarity"]))
    if len(ranked) < 3:
        return []
    drops = [float(a["similarity"]) - float(b["similarity"]) for a, b in itertools.pairwise(ranked)]
    cut = max(range(len(drops[:2])), key=lambda i: drops[i])  # the drop after the first or second
    rest = drops[:cut] + drops[cut + 1:]
    if drops[cut] < margin or drops[cut] < 2 * statistics.median(rest):
        return []
    return ranked[:cut + 1]


def model_goals(framework: Mapping[str, Any]) -> list[str]:
    """The goals the model stands behind in one framework's stored suggestions (empty: abstained)."""
    if framework.get("abstained"):
        return []
    return [s["goal_id"] for s in framework.get("suggestions", []) if s.get("confident")]


@dataclass(frozen=True)
class Segment:
    """A piece of the application text; ``marks`` names the suggestions whose evidence it is."""

    text: str
    marks: tuple[str, ...] = ()


def segments(text: str, spans: Iterable[tuple[int, int, str]]) -> list[Segment]:
    """Cut ``text`` at the evidence spans' offsets; overlapping spans share their labels.

    The template escapes each segment's text on its own, so no markup from the text can
    leak into the page.

    >>> [(s.text, s.marks) for s in segments("Ett. Två. Tre.", [(5, 9, "a"), (0, 4, "b")])]
    [('Ett.', ('b',)), (' ', ()), ('Två.', ('a',)), (' Tre.', ())]
    """
    cuts = {0, len(text)}
    clean = []
    for start, end, label in spans:
        start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
        if end > start:
            clean.append((start, end, label))
            cuts.update((start, end))
    points = sorted(cuts)
    out = []
    for a, b in itertools.pairwise(points):
        labels = tuple(dict.fromkeys(label for s, e, label in clean if s <= a and b <= e))
        out.append(Segment(text[a:b], labels))
    return out


def agreement(reviewed: Iterable[Mapping[str, Any]], names: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Model vs reviewers per framework and goal, over the reviewed frameworks.

    ``reviewed`` has one item per reviewed application and framework: ``framework_id``,
    ``model_goals`` (the model's confident goals) and ``reviewer_goals`` (the current
    decision's), as :meth:`goalmatch.web.store.Store.reviewed_entries` gives them. A
    framework row counts reviews where the reviewer's goals equal the model's; a goal row
    counts how often the model proposed the goal, how often a reviewer chose it, and how
    often both did.

    >>> [(r["framework_id"], r["agreed"], r["reviewed"]) for r in agreement(
    ...     [{"framework_id": "f", "model_goals": ["a"], "reviewer_goals": ["a"]},
    ...      {"framework_id": "f", "model_goals": ["a"], "reviewer_goals": ["b"]}])]
    [('f', 1, 2)]
    """
    names = names or {}
    table: dict[str, dict[str, Any]] = {}
    for entry in reviewed:
        fid = entry["framework_id"]
        row = table.setdefault(fid, {"framework_id": fid, "name": names.get(fid, fid), "reviewed": 0, "agreed": 0,
                                     "goals": {}})
        model, chosen = set(entry["model_goals"]), set(entry["reviewer_goals"])
        row["reviewed"] += 1
        row["agreed"] += model == chosen
        for goal in model | chosen:
            counts = row["goals"].setdefault(goal, {"goal_id": goal, "model": 0, "reviewer": 0, "both": 0})
            counts["model"] += goal in model
            counts["reviewer"] += goal in chosen
            counts["both"] += goal in model and goal in chosen
    out = []
    for row in sorted(table.values(), key=lambda r: r["framework_id"]):
        row["rate"] = row["agreed"] / row["reviewed"] if row["reviewed"] else None
        goals = sorted(row["goals"].values(), key=lambda g: g["goal_id"])
        for g in goals:
            union = g["model"] + g["reviewer"] - g["both"]
            g["rate"] = g["both"] / union if union else None
        row["goals"] = goals
        out.append(row)
    return out


def export_records(apps: Iterable[Mapping[str, Any]], decisions: Sequence[Any], *, model: str = "") -> list[Record]:
    """Reviewed applications as corpus records (see :mod:`goalmatch.data.corpus`), reviewers' labels.

    A framework whose last decision left no goals (rejected, none fits) gets no label;
    the decision is kept in ``provenance`` either way.
    """
    last: dict[int, dict[str, Any]] = {}  # application → framework → its last decision, grouped once
    for decision in decisions:
        last.setdefault(decision.application_id, {})[decision.framework_id] = decision
    exported_at = datetime.now(UTC).isoformat(timespec="seconds")
    records = []
    for app in apps:
        mine = last.get(app["id"], {})
        if not mine:
            continue
        labels = {fid: tuple(d.goal_ids) for fid, d in sorted(mine.items()) if d.goal_ids}
        records.append(Record(
            id=f"review/{app['id']}", text=app["text"], source=f"review:{app['source']}", labels=labels,
            title=app["title"],
            label_origin={fid: f"reviewer:{mine[fid].reviewer}" for fid in labels},
            provenance={
                "tool": "goalmatch web", "application_id": app["id"], "imported_at": app["created_at"],
                "exported_at": exported_at, "model": model,
                "decisions": {fid: {"action": d.action, "goal_ids": list(d.goal_ids), "reviewer": d.reviewer,
                                    "decided_at": d.to_dict()["decided_at"], "version": d.version,
                                    "comment": d.comment}
                              for fid, d in sorted(mine.items())},
            },
        ))
    return records
