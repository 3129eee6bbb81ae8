"""What the review pages show, computed from stored applications: plain functions, no web.

The model's goals in stored suggestions, the highlighted text segments, the agreement
table of the dashboard and the export as labelled corpus records. (The queue is filtered,
ordered and paged in SQL: :meth:`goalmatch.web.store.Store.queue`.)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from goalmatch.data.corpus import Record

__all__ = ["Segment", "agreement", "export_records", "model_goals", "segments"]


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
    last: dict[tuple[int, str], Any] = {}
    for decision in decisions:
        last[(decision.application_id, decision.framework_id)] = decision
    exported_at = datetime.now(UTC).isoformat(timespec="seconds")
    records = []
    for app in apps:
        mine = {fid: d for (aid, fid), d in last.items() if aid == app["id"]}
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
