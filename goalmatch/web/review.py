"""What the review pages show, computed from stored applications: plain functions, no web.

The queue rows (confidence, model–reviewer disagreement), the highlighted text segments,
the agreement table of the dashboard and the export as labelled corpus records.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from goalmatch.corpus import Record

__all__ = ["Segment", "agreement", "export_records", "model_goals", "queue_rows", "segments"]


def model_goals(framework: Mapping[str, Any]) -> list[str]:
    """The goals the model stands behind in one framework's stored suggestions (empty: abstained)."""
    if framework.get("abstained"):
        return []
    return [s["goal_id"] for s in framework.get("suggestions", []) if s.get("confident")]


def _top_probability(framework: Mapping[str, Any]) -> float:
    suggestions = framework.get("suggestions") or []
    return max((float(s.get("probability") or 0.0) for s in suggestions), default=0.0)


def queue_rows(
    apps: Iterable[Mapping[str, Any]], *, framework: str = "", goal: str = "", max_confidence: float | None = None,
    reviewed: str = "", disagreement: bool = False, order: str = "least_sure",
) -> list[dict[str, Any]]:
    """One row per application that passes the filters.

    ``confidence`` is the top probability in the chosen framework (the lowest over all
    frameworks when none is chosen); ``reviewed`` is ``"yes"``/``"no"``/``""``;
    ``disagreement`` keeps applications where a reviewer chose other goals than the model.
    """
    rows = []
    for app in apps:
        frameworks = [f for f in app["suggestions"].get("frameworks", []) if not framework or
                      f["framework_id"] == framework]
        if not frameworks:
            continue
        states = app.get("reviews", {})
        if goal and not any(goal in model_goals(f) or goal in states.get(f["framework_id"], {}).get("goal_ids", [])
                            for f in frameworks):
            continue
        confidence = min(_top_probability(f) for f in frameworks)
        if max_confidence is not None and confidence > max_confidence:
            continue
        done = [f["framework_id"] for f in frameworks if f["framework_id"] in states]
        is_reviewed = len(done) == len(frameworks)
        if (reviewed == "yes" and not is_reviewed) or (reviewed == "no" and is_reviewed):
            continue
        disagree = [f["framework_id"] for f in frameworks if f["framework_id"] in states
                    and sorted(states[f["framework_id"]]["goal_ids"]) != sorted(model_goals(f))]
        if disagreement and not disagree:
            continue
        rows.append({
            "id": app["id"], "title": app["title"], "source": app["source"], "created_at": app["created_at"],
            "confidence": confidence, "reviewed": len(done), "frameworks": len(frameworks),
            "disagreements": disagree,
            "abstained": [f["framework_id"] for f in frameworks if f.get("abstained")],
            "top": [(f["framework_id"], model_goals(f)) for f in frameworks],
        })
    if order == "least_sure":
        rows.sort(key=lambda r: (r["confidence"], r["id"]))
    elif order == "newest":
        rows.sort(key=lambda r: -r["id"])
    return rows


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


def agreement(apps: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Model vs reviewers per framework and goal, over the reviewed frameworks.

    A framework row counts reviews where the reviewer's goals equal the model's confident
    goals; a goal row counts how often the model proposed the goal, how often a reviewer
    chose it, and how often both did.
    """
    table: dict[str, dict[str, Any]] = {}
    for app in apps:
        states = app.get("reviews", {})
        for fw in app["suggestions"].get("frameworks", []):
            state = states.get(fw["framework_id"])
            if state is None:
                continue
            row = table.setdefault(fw["framework_id"], {"framework_id": fw["framework_id"], "name": fw["name"],
                                                        "reviewed": 0, "agreed": 0, "goals": {}})
            model, chosen = set(model_goals(fw)), set(state["goal_ids"])
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
    """Reviewed applications as corpus records (see :mod:`goalmatch.corpus`), reviewers' labels.

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
