"""How a suggestion is written down: one renderer per output format, shared by every caller.

- JSON: :meth:`Suggestions.to_dict() <goalmatch.model.suggestions.Suggestions.to_dict>`
  (``goalmatch suggest --json``, the web API, the review app's stored suggestions);
- text: :func:`text_lines`, the readable table of ``goalmatch suggest``;
- flat table: :func:`columns` and :func:`row`, one row per text (``goalmatch score`` and
  the Dask partitions of :mod:`goalmatch.batch.dask`); :func:`swedish_headers` names those
  columns for people (``RUS: mål 1 – sannolikhet`` for ``rus-norrbotten-2030.p_1``) and
  :func:`column_keys` reads such headers back (``goalmatch report`` on a scored spreadsheet).

Standard library only, so the command line can import it without scikit-learn.

>>> clip("  Fiber   till\\nbyarna  ", 12)
'Fiber till …'
>>> columns(["rus"], 1)[0][7:]
['rus.abstained', 'rus.confident', 'rus.goal_1', 'rus.name_1', 'rus.p_1', 'rus.evidence', 'rus.reason']
>>> swedish_headers({"rus": "Regional utvecklingsstrategi för Norrbotten 2030 (RUS)"}, 1)["rus.p_1"]
'RUS: mål 1 – sannolikhet'
>>> column_keys(["Id", "RUS: mål 1 – sannolikhet", "Projektnamn"])
{'Id': 'id', 'RUS: mål 1 – sannolikhet': 'RUS.p_1'}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goalmatch.model.suggestions import FrameworkSuggestions, Suggestions

__all__ = ["clip", "column_keys", "columns", "framework_label", "framework_line", "row", "swedish_headers",
           "text_lines"]

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


# ------------------------------------------------------------------ Swedish headers

SWEDISH_BASE = {"row": "Rad", "id": "Id", "status": "Status", "excerpt": "Utdrag ur texten", "language": "Språk",
                "repaired": "Reparerad PDF-text", "too_short": "För kort text"}
"""The headers of the columns every scored table has, for people."""
_SWEDISH_FIELDS = {"abstained": "ingen säker träff", "confident": "säkra mål", "evidence": "belägg",
                   "reason": "varför ingen säker träff"}
_SWEDISH_RANKED = {"goal": "mål {k} – id", "name": "mål {k}", "p": "mål {k} – sannolikhet"}
_LABEL = re.compile(r"\(([^()]{1,12})\)\s*$")
_SWEDISH_HEADER = re.compile(
    r"^(?P<fw>.+): (?:mål (?P<k>[1-9][0-9]*)(?P<kind> – id| – sannolikhet)?|(?P<field>"
    + "|".join(map(re.escape, _SWEDISH_FIELDS.values())) + "))$")


def framework_label(name: str) -> str:
    """A framework's short label for a column header: the abbreviation its name ends with in brackets
    (``… Norrbotten 2030 (RUS)`` → ``RUS``), else the name before a dash (``Agenda 2030 – de globala
    målen …`` → ``Agenda 2030``), else the name."""
    if match := _LABEL.search(name):
        return match.group(1).strip()
    return name.split(" – ", 1)[0].strip() or name


def swedish_headers(frameworks: Mapping[str, str], top_k: int) -> dict[str, str]:
    """Column key (:func:`columns`) → Swedish header, ``frameworks`` mapping framework ids to their names.

    Frameworks whose short labels (:func:`framework_label`) would be the same, or hold a ``:``,
    are labelled by their ids, so every header is distinct and :func:`column_keys` reads it back.
    """
    labels = {fid: framework_label(name) for fid, name in frameworks.items()}
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label.casefold()] = counts.get(label.casefold(), 0) + 1
    headers = dict(SWEDISH_BASE)
    for fid, label in labels.items():
        if counts[label.casefold()] > 1 or ":" in label or not label:
            label = fid
        for key, text in _SWEDISH_FIELDS.items():
            headers[f"{fid}.{key}"] = f"{label}: {text}"
        for k in range(1, top_k + 1):
            for key, text in _SWEDISH_RANKED.items():
                headers[f"{fid}.{key}_{k}"] = f"{label}: {text.format(k=k)}"
    return headers


def column_keys(headers: Sequence[str]) -> dict[str, str]:
    """Swedish header → column key, for the headers among ``headers`` that :func:`swedish_headers` writes;
    the framework part of a key is the header's label (``RUS.p_1``), not the framework id."""
    base = {v: k for k, v in SWEDISH_BASE.items()}
    ranked = {" – id": "goal", "": "name", " – sannolikhet": "p"}
    fields = {v: k for k, v in _SWEDISH_FIELDS.items()}
    keys = {}
    for header in headers:
        if header in base:
            keys[header] = base[header]
        elif match := _SWEDISH_HEADER.match(header):
            if match.group("field"):
                keys[header] = f"{match.group('fw')}.{fields[match.group('field')]}"
            else:
                keys[header] = f"{match.group('fw')}.{ranked[match.group('kind') or '']}_{match.group('k')}"
    return keys
