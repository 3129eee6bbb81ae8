"""The reviewers' decisions out: as a Swedish spreadsheet (XLSX, CSV for a Swedish Excel) and as JSONL records.

One row per application and framework with a decision, the current (latest) one; headers,
decisions, goal names and times in Swedish. The same application stored twice (the same
diarienummer or the same normalised text) is exported once: of such a group the
application with the latest decision is kept, and the export says how many were folded
(:func:`fold`), so the decisions are not counted twice, neither in a spreadsheet nor in the
next training run (``goalmatch train --data`` reads the JSONL). Archived applications are
exported: the decisions on them were made.

The CSV is the batch layer's Swedish dialect (``;``, decimal comma, UTF-8 with a byte-order
mark, CRLF) written by its :class:`~goalmatch.batch.writers.TableWriter`, which keeps any cell
a spreadsheet would run as a formula as text; the XLSX uses its sheet helpers (frozen
header, filter, widths).
"""

from __future__ import annotations

import dataclasses
import io
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from goalmatch.batch.dialect import DIALECTS
from goalmatch.batch.sheets import finish_sheet, start_sheet, xlsx_cell, xlsx_row
from goalmatch.batch.tables import require_openpyxl
from goalmatch.batch.writers import TableWriter
from goalmatch.data.corpus import Record
from goalmatch.model.render import local_time_sv
from goalmatch.web import review as rv

__all__ = ["COLUMNS", "DecisionExport", "collect", "csv_bytes", "fold", "jsonl_records", "xlsx_bytes"]

COLUMNS = (("application", "Ansökan"), ("external_id", "Diarienummer"), ("title", "Rubrik"),
           ("framework", "Ramverk"), ("decision", "Beslut"), ("goals", "Beslutade mål"),
           ("model_goals", "Modellens mål"), ("agrees", "Överens"), ("confidence", "Modellens säkerhet"),
           ("reviewer", "Handläggare"), ("decided", "Beslutad"), ("comment", "Kommentar"), ("goal_ids", "Mål-id"))
TYPES = {"application": "int", "confidence": "float"}


def fold(latest: Mapping[int, int], identities: Mapping[int, tuple[str | None, str | None]]) -> dict[int, list[int]]:
    """Applications that are one: ``kept id → the ids folded into it``.

    ``latest`` maps each decided application to its latest decision's id; ``identities``
    to its ``(diarienummer, text hash)``. Applications sharing either are one group (also
    through a third), and the one with the latest decision is kept.

    >>> fold({1: 10, 2: 30, 3: 20}, {1: ("A", "x"), 2: (None, "x"), 3: ("B", "y")})
    {2: [1], 3: []}
    """
    parent = {a: a for a in latest}

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    owner: dict[tuple[str, str], int] = {}
    for app in sorted(latest):
        ident, digest = identities.get(app, (None, None))
        for key in ((("id", ident),) if ident else ()) + ((("text", digest),) if digest else ()):
            if key in owner:
                parent[root(app)] = root(owner[key])
            else:
                owner[key] = app
    groups: dict[int, list[int]] = {}
    for app in latest:
        groups.setdefault(root(app), []).append(app)
    out = {}
    for members in groups.values():
        kept = max(members, key=lambda a: latest[a])
        out[kept] = sorted(a for a in members if a != kept)
    return dict(sorted(out.items()))


@dataclasses.dataclass
class DecisionExport:
    """The kept applications (with text and suggestions), their decisions and what was folded into them."""

    apps: list[dict[str, Any]]
    trail: list[Any]
    folded: dict[int, list[int]]
    external_ids: dict[int, str | None]

    @property
    def folded_count(self) -> int:
        return sum(len(v) for v in self.folded.values())


def collect(store: Any) -> DecisionExport:
    """Everything an export needs, read from the store once."""
    trail = store.decisions()
    latest: dict[int, int] = {}
    for decision in trail:
        latest[decision.application_id] = max(latest.get(decision.application_id, 0), decision.id)
    identities = store.identities(latest)
    folded = fold(latest, identities)
    kept = [d for d in trail if d.application_id in folded]
    return DecisionExport(store.applications(ids=set(folded)), kept, folded,
                          {a: identities.get(a, (None, None))[0] for a in folded})


def jsonl_records(export: DecisionExport, *, model: str = "") -> list[Record]:
    """The corpus records of :func:`goalmatch.web.review.export_records`; a folded one says so in its provenance."""
    records = rv.export_records(export.apps, export.trail, model=model)
    out = []
    for record in records:
        application_id = record.provenance.get("application_id")
        others = export.folded.get(application_id, []) if isinstance(application_id, int) else []
        if others:
            record = dataclasses.replace(record, provenance={
                **record.provenance, "folded": {"count": len(others), "application_ids": others}})
        out.append(record)
    return out


def decision_rows(export: DecisionExport, frameworks: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per kept application and framework: the current decision, in Swedish."""
    last: dict[int, dict[str, Any]] = {}
    for decision in export.trail:  # oldest first: the last one per framework stays
        last.setdefault(decision.application_id, {})[decision.framework_id] = decision
    rows = []
    for app in export.apps:
        stored = {fw.get("framework_id"): fw for fw in app["suggestions"].get("frameworks", [])}
        for fid, d in sorted(last.get(app["id"], {}).items()):
            framework = frameworks.get(fid)
            model = rv.model_goals(stored[fid]) if fid in stored else []
            probabilities = [float(s.get("probability") or 0.0) for s in stored.get(fid, {}).get("suggestions", [])]
            rows.append({
                "application": app["id"], "external_id": export.external_ids.get(app["id"]), "title": app["title"],
                "framework": framework.name if framework is not None else fid,
                "decision": rv.ACTIONS_SV.get(d.action, d.action), "goals": _names(framework, d.goal_ids),
                "model_goals": _names(framework, model), "agrees": "ja" if set(model) == set(d.goal_ids) else "nej",
                "confidence": round(max(probabilities), 2) if probabilities else None,
                "reviewer": d.reviewer, "decided": local_time_sv(d.decided_at), "comment": d.comment,
                "goal_ids": ", ".join(d.goal_ids),
            })
    return rows


def _names(framework: Any, goal_ids: Iterable[str]) -> str:
    names = []
    for goal_id in goal_ids:
        try:
            names.append(framework.goal(goal_id).name if framework is not None else goal_id)
        except KeyError:
            names.append(goal_id)
    return "; ".join(names)


def notes(export: DecisionExport, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """What the "Om exporten" sheet says, in Swedish."""
    folded = export.folded_count
    return [
        f"Exporterad {local_time_sv(datetime.now(UTC))}.",
        f"{len(rows)} beslut om {len(export.apps)} ansökningar; ett beslut per ansökan och ramverk (det senaste).",
        (f"{folded} ansökningar var dubbletter (samma diarienummer eller samma text) och slogs ihop: av dem finns "
         "bara den med det senaste beslutet med." if folded else "Inga dubbletter behövde slås ihop."),
        "Arkiverade ansökningar ingår: besluten om dem är fattade.",
        "Mål-id är målens korta koder (för andra program); Beslutade mål och Modellens mål är deras namn.",
    ]


def xlsx_bytes(export: DecisionExport, frameworks: Mapping[str, Any]) -> bytes:
    """The decisions as a workbook: the sheet "Beslut" (header frozen and filtered, widths set) and "Om exporten"."""
    rows = decision_rows(export, frameworks)
    keys, headers = [k for k, _ in COLUMNS], [h for _, h in COLUMNS]
    book = require_openpyxl().Workbook(write_only=True)
    sheet = start_sheet(book, "Beslut", headers, keys, TYPES, rows)
    for row in rows:
        sheet.append(xlsx_row(sheet, [row.get(k) for k in keys], keys, TYPES))
    finish_sheet(sheet, len(keys), len(rows))
    about = book.create_sheet("Om exporten")
    about.column_dimensions["A"].width = 100
    for line in notes(export, rows):
        about.append([xlsx_cell(line)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(export: DecisionExport, frameworks: Mapping[str, Any]) -> bytes:
    """The decisions as a CSV a Swedish Excel opens by a double-click (the ``excel-sv`` dialect)."""
    rows = decision_rows(export, frameworks)
    handle, name = tempfile.mkstemp(suffix=".csv", prefix="goalmatch-export-")
    os.close(handle)
    path = Path(name)
    try:
        with TableWriter(path, [k for k, _ in COLUMNS], TYPES, headers=[h for _, h in COLUMNS],
                         dialect=DIALECTS["excel-sv"]) as writer:
            writer.write(rows)
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)
