"""How a suggestion is written down: one renderer per output format, shared by every caller.

- JSON: :meth:`Suggestions.to_dict() <goalmatch.model.suggestions.Suggestions.to_dict>`
  (``goalmatch suggest --json``, the web API, the review app's stored suggestions);
- text: :func:`text_lines`, the readable table of ``goalmatch suggest``;
- flat table: :func:`columns` and :func:`row`, one row per text (``goalmatch score`` and
  the Dask partitions of :mod:`goalmatch.batch.dask`).

Standard library only, so the command line can import it without scikit-learn.

>>> clip("  Fiber   till\\nbyarna  ", 12)
'Fiber till …'
>>> columns(["rus"], 1)[0][7:]
['rus.abstained', 'rus.confident', 'rus.goal_1', 'rus.name_1', 'rus.p_1', 'rus.evidence', 'rus.reason']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goalmatch.model.suggestions import FrameworkSuggestions, Suggestions

__all__ = ["clip", "columns", "framework_line", "row", "text_lines"]

TEXT_CHARS, TITLE_CHARS = 90, 60
"""Text output: a quoted sentence or strategy passage, a project title, at most this long."""
EVIDENCE_CHARS, EXCERPT_CHARS = 160, 100
"""Table output: the evidence cell's quotes, and the excerpt of the scored text."""


def clip(text: str, width: int) -> str:
    """``text`` on one line (white space folded), cut to ``width`` characters with ``…``."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# ------------------------------------------------------------------ text


def text_lines(result: Suggestions | Mapping[str, Any]) -> list[str]:
    """The readable table of one text's suggestions: per framework, bars and evidence.

    ``result`` is a :class:`~goalmatch.model.suggestions.Suggestions` or its ``to_dict()``;
    numbers are shown as the JSON has them.
    """
    data: Mapping[str, Any] = result.to_dict() if hasattr(result, "to_dict") else result
    flags = data["flags"]
    notes = [f"language {flags['language']}"]
    notes += ["repaired PDF text"] if flags["repaired"] else []
    notes += ["TOO SHORT to judge well"] if flags["too_short"] else []
    lines = [f"text: {', '.join(notes)}"]
    for fw in data["frameworks"]:
        lines += ["", f"{fw['name']}  [{fw['framework_id']}]"]
        if fw["abstained"]:
            lines.append(f"  ingen säker träff (no confident match): {fw['reason']}")
        for s in fw["suggestions"]:
            p = s["probability"]
            bar = "█" * round(p * 20) + "░" * (20 - round(p * 20))
            mark = "✓" if s["confident"] else " "
            lines.append(f"  {mark} {bar} {p:5.2f}  {s['goal_id']}: {s['name']}")
            lines += _evidence_lines(s["evidence"])
    return lines


def _evidence_lines(ev: Mapping[str, Any]) -> list[str]:
    lines = [f"        text [{sent['start']}:{sent['end']}]: {clip(sent['text'], TEXT_CHARS)}"
             for sent in ev["sentences"][:1]]
    if ev["passage"]:
        ps = ev["passage"]
        where = f"{ps['kind']} {ps['goal_id']} ({ps['similarity']:.2f})"
        lines.append(f"        matches {where}: {clip(ps['text'], TEXT_CHARS)}")
    if ev["projects"]:
        pr = ev["projects"][0]
        title = clip(pr["title"] or "", TITLE_CHARS)
        lines.append(f"        like project {pr['id']} ({pr['similarity']:.2f}): {title}")
    if ev["key_terms"]:
        lines.append(f"        shared terms: {', '.join(ev['key_terms'])}")
    return lines


def framework_line(summary: Mapping[str, Any]) -> str:
    """One line of ``goalmatch frameworks``: id, goal count, sub-goals, multi-label, name."""
    sub_goals = f" (+{summary['sub_goals']} sub-goals)" if summary["sub_goals"] else ""
    multi = "  multi-label" if summary["multi_label"] else ""
    return f"{summary['id']:<26} {summary['goals']:>3} goals{sub_goals}{multi}  {summary['name']}"


# ------------------------------------------------------------------ flat table


def columns(framework_ids: Sequence[str], top_k: int) -> tuple[list[str], dict[str, str]]:
    """The table's columns and their types (``int``, ``float``, ``bool``; text otherwise).

    ``row``, ``id``, ``status``, ``excerpt``, the text flags ``language``, ``repaired``,
    ``too_short``; per framework ``<fid>.abstained``, ``<fid>.confident`` (``;``-separated
    goals), ``<fid>.goal_k``, ``<fid>.name_k``, ``<fid>.p_k`` for k = 1..top_k,
    ``<fid>.evidence`` (the best sentence and the strategy passage it matched) and
    ``<fid>.reason`` (why it abstained).
    """
    names = ["row", "id", "status", "excerpt", "language", "repaired", "too_short"]
    types = {"row": "int", "repaired": "bool", "too_short": "bool"}
    for fid in framework_ids:
        names += [f"{fid}.abstained", f"{fid}.confident"]
        types[f"{fid}.abstained"] = "bool"
        for k in range(1, top_k + 1):
            names += [f"{fid}.goal_{k}", f"{fid}.name_{k}", f"{fid}.p_{k}"]
            types[f"{fid}.p_{k}"] = "float"
        names += [f"{fid}.evidence", f"{fid}.reason"]
    return names, types


def row(number: int, row_id: str, text: str, result: Suggestions, top_k: int) -> dict[str, Any]:
    """The table row of a scored text (:func:`columns`), ``status`` ``scored``."""
    flags = result.flags
    out: dict[str, Any] = {"row": number, "id": row_id, "status": "scored", "excerpt": clip(text, EXCERPT_CHARS),
                           "language": flags["language"],
                           "repaired": bool(flags["repaired"]), "too_short": bool(flags["too_short"])}
    for fw in result.frameworks:
        fid = fw.framework_id
        out[f"{fid}.abstained"] = bool(fw.abstained)
        out[f"{fid}.confident"] = ";".join(s.goal_id for s in fw.confident)
        for k, s in enumerate(fw.suggestions[:top_k], start=1):
            out[f"{fid}.goal_{k}"], out[f"{fid}.name_{k}"] = s.goal_id, s.name
            out[f"{fid}.p_{k}"] = round(float(s.probability), 4)
        out[f"{fid}.evidence"] = _evidence_cell(fw)
        out[f"{fid}.reason"] = fw.reason
    return out


def _evidence_cell(fw: FrameworkSuggestions) -> str | None:
    if not fw.suggestions:
        return None
    ev = fw.suggestions[0].evidence
    parts = []
    if ev.sentences:
        parts.append(f"«{clip(ev.sentences[0].text, EVIDENCE_CHARS)}»")
    if ev.passage is not None:
        parts.append(f"matches {ev.passage.kind} {ev.passage.goal_id} ({ev.passage.similarity:.2f}): "
                     f"{clip(ev.passage.text, EVIDENCE_CHARS)}")
    return " ".join(parts) or None
