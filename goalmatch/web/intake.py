"""An uploaded spreadsheet of applications: read, mapped to id, title and text, checked row by row.

:func:`read_sheet` reads a CSV/TSV (any delimiter among ``, ; TAB |``, UTF-8 with or
without a byte-order mark, UTF-16, Windows-1252) or an Excel workbook's first sheet through
the batch layer's readers (:func:`goalmatch.batch.tables.open_table`) and keeps the cells
as plain JSON-ready data. :func:`guess_mapping` picks the diarienummer, title and text
columns from Swedish and English header names; :func:`plan_import` checks each row
against a :class:`Mapping` and sorts it into the rows to import, the bad rows (with
the reason in Swedish) and the duplicates, by diarienummer and by normalised text, within
the file and against the applications already stored. No web framework here.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Collection, Sequence
from collections.abc import Mapping as MappingType
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goalmatch.batch.rows import TEXT_COLUMNS, TITLE_COLUMNS
from goalmatch.batch.tables import open_table, undecodable
from goalmatch.errors import TableError, UploadError
from goalmatch.text.prepare import MAX_TEXT_CHARS
from goalmatch.web.schema import text_hash

__all__ = ["MAX_IMPORT_ROWS", "SUFFIXES", "Mapping", "Plan", "guess_mapping", "plan_import", "read_sheet"]

log = logging.getLogger(__name__)

SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx")
MAX_IMPORT_ROWS = 500
"""Rows one upload may hold: each is scored when the import is confirmed, in that one request (about 7 texts a
second on a CPU with sentence evidence, docs/speed.md: 500 rows take over a minute)."""
MAX_ID_CHARS = 200  # applications.external_id
ID_NAMES = ("diarienummer", "dnr", "diarienr", "diarie-nr", "ärendenummer", "ärendenr", "ärende-id", "journalnummer",
            "ansökningsnummer", "ansökan-id", "referens", "id")
TITLE_NAMES = (*TITLE_COLUMNS, "rubrik", "projekttitel", "projektets namn", "projekt")
TEXT_NAMES = (*TEXT_COLUMNS, "projektbeskrivning", "kort beskrivning", "syfte", "text", "ansökningstext", "abstract")
Lookup = Callable[[Collection[str], Collection[str]], tuple[dict[str, list[int]], dict[str, list[int]]]]
"""The stored applications with these diarienummer and these text hashes (see ``Store.stored_matches``)."""


def read_sheet(filename: str, data: bytes) -> dict[str, Any]:
    """The columns and rows of an uploaded table: ``{"columns", "rows", "format", "encoding", "delimiter"}``.

    A row is ``{"n": its number among the data rows, "cells": column → text or None, "unreadable":
    the columns whose bytes the file's encoding could not decode}``.
    """
    suffix = Path(filename).suffix.lower()
    if suffix not in SUFFIXES:
        raise UploadError("Bara tabeller tas emot här: .csv, .tsv, .txt (tabbseparerad) och .xlsx.")
    handle, name = tempfile.mkstemp(suffix=suffix, prefix="goalmatch-import-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        return _read(Path(name), filename)
    finally:
        os.unlink(name)


def _read(path: Path, filename: str) -> dict[str, Any]:
    try:
        table = open_table(path)
        rows: list[dict[str, Any]] = []
        for row in table.rows():
            if len(rows) >= MAX_IMPORT_ROWS:
                raise UploadError(f"Filen har fler än {MAX_IMPORT_ROWS} rader; dela upp den i flera filer.")
            bad = [c for c, v in row.cells.items() if v is not None and undecodable(v)]
            cells = {c: (None if c in bad else v) for c, v in row.cells.items()}
            rows.append({"n": row.number, "cells": cells, "unreadable": bad})
    except TableError as exc:
        log.info("unreadable spreadsheet upload %r: %s", filename, exc)
        raise UploadError("Filen går inte att läsa som tabell. Första raden (eller en av de första) ska ha "
                          "kolumnnamn, och filen ska vara CSV, tabbseparerad text eller Excel (.xlsx).") from None
    if not rows:
        raise UploadError("Filen har kolumnnamn men inga rader med innehåll.")
    return {"columns": table.columns, "rows": rows, "format": table.format, "encoding": table.encoding,
            "delimiter": table.delimiter}


@dataclass(frozen=True)
class Mapping:
    """Which columns hold the diarienummer (optional), the title (optional) and the text (one or more, joined)."""

    id_column: str | None
    title_column: str | None
    text_columns: tuple[str, ...]

    @classmethod
    def from_form(cls, form: MappingType[str, Any], columns: Sequence[str]) -> Mapping:
        """The mapping a preview form chose: ``id_column``, ``title_column`` and ``text`` (repeated)."""
        def one(key: str) -> str | None:
            value = str(form.get(key) or "")
            return value if value in columns else None

        texts = form.getlist("text") if hasattr(form, "getlist") else form.get("text") or []
        return cls(one("id_column"), one("title_column"), tuple(c for c in columns if c in set(map(str, texts))))

    def query(self) -> list[tuple[str, str]]:
        """The mapping as form fields (for links and hidden inputs)."""
        return ([("id_column", self.id_column or ""), ("title_column", self.title_column or "")]
                + [("text", c) for c in self.text_columns])


def guess_mapping(columns: Sequence[str]) -> Mapping:
    """The columns named like a diarienummer, a title and a description; the title is also part of the text, as
    in ``goalmatch score``. No description column found: no text columns (the preview asks for them)."""
    known = {c.strip().casefold(): c for c in columns}

    def find(names: Sequence[str], taken: Collection[str | None] = ()) -> str | None:
        return next((known[n] for n in names if n in known and known[n] not in taken), None)

    ident = find(ID_NAMES)
    title = find(TITLE_NAMES, (ident,))
    text = find(TEXT_NAMES, (ident, title))
    texts = tuple(c for c in (title, text) if c) if text else ()
    return Mapping(ident, title, texts)


@dataclass
class Plan:
    """What an import would do: the rows to import, the duplicates (imported only when asked) and the bad rows."""

    good: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)  # each also says why (``reason``)
    bad: list[dict[str, Any]] = field(default_factory=list)  # ``n`` and ``reason``
    total: int = 0


def plan_import(payload: MappingType[str, Any], mapping: Mapping, lookup: Lookup) -> Plan:
    """Check every row against ``mapping``; duplicates by diarienummer or normalised text, in the file or stored."""
    plan = Plan(total=len(payload["rows"]))
    if not mapping.text_columns:
        return plan
    candidates = []
    for row in payload["rows"]:
        item, reason = _check(row, mapping)
        if reason:
            plan.bad.append({"n": row["n"], "reason": reason, "external_id": item.get("external_id")})
        else:
            candidates.append(item)
    by_id, by_hash = lookup([c["external_id"] for c in candidates if c["external_id"]],
                            [c["hash"] for c in candidates])
    first_id: dict[str, int] = {}
    first_text: dict[str, int] = {}
    for item in candidates:
        reasons = _duplicate_reasons(item, by_id, by_hash, first_id, first_text)
        if item["external_id"]:
            first_id.setdefault(item["external_id"], item["n"])
        first_text.setdefault(item["hash"], item["n"])
        if reasons:
            plan.duplicates.append({**item, "reason": "; ".join(reasons)})
        else:
            plan.good.append(item)
    return plan


def _duplicate_reasons(item: dict[str, Any], by_id: dict[str, list[int]], by_hash: dict[str, list[int]],
                       first_id: dict[str, int], first_text: dict[str, int]) -> list[str]:
    reasons = []
    ident = item["external_id"]
    if ident and ident in first_id:
        reasons.append(f"samma diarienummer som rad {first_id[ident]}")
    if item["hash"] in first_text:
        reasons.append(f"samma text som rad {first_text[item['hash']]}")
    if ident and ident in by_id:
        reasons.append("diarienumret finns redan (ansökan " + ", ".join(f"#{i}" for i in by_id[ident]) + ")")
    if item["hash"] in by_hash:
        reasons.append("texten finns redan (ansökan " + ", ".join(f"#{i}" for i in by_hash[item["hash"]]) + ")")
    return reasons


def _check(row: MappingType[str, Any], mapping: Mapping) -> tuple[dict[str, Any], str | None]:
    """A row as ``{"n", "external_id", "title", "text", "hash"}``, or the Swedish reason it cannot be imported."""
    cells = row["cells"]
    ident = (cells.get(mapping.id_column) or "").strip() if mapping.id_column else ""
    title = (cells.get(mapping.title_column) or "").strip() if mapping.title_column else ""
    item: dict[str, Any] = {"n": row["n"], "external_id": ident[:MAX_ID_CHARS] or None, "title": title[:300]}
    used = [c for c in (mapping.id_column, mapping.title_column, *mapping.text_columns) if c]
    unreadable = [c for c in used if c in row.get("unreadable", ())]
    if unreadable:
        return item, (f"kolumnen {unreadable[0]} har tecken som inte gick att läsa (fel teckenkodning?)")
    text = "\n\n".join(v.strip() for c in mapping.text_columns if (v := cells.get(c)) and v.strip())
    body = [c for c in mapping.text_columns if c != mapping.title_column] or list(mapping.text_columns)
    if not any((cells.get(c) or "").strip() for c in body):  # a title alone is no application
        return item, f"ingen text (kolumnen {' + '.join(body)} är tom)"
    if any("\x00" in v for v in (ident, title, text)):
        return item, "innehåller ett NUL-tecken (U+0000), som inte kan sparas"
    if len(text) > MAX_TEXT_CHARS:
        return item, f"texten är för lång ({len(text)} tecken; högst {MAX_TEXT_CHARS})"
    if len(ident) > MAX_ID_CHARS:
        return item, f"diarienumret är för långt ({len(ident)} tecken; högst {MAX_ID_CHARS})"
    item.update(text=text, hash=text_hash(text))
    return item, None
