"""The columns of a scored table as written: the input's own columns, then the scores, under ids or Swedish headers.

Every column of the input (``Projektnamn``, ``Sökande``, ``Sökt belopp`` …) is carried into
the output, in the input's order, before the score columns of
:func:`goalmatch.model.render.columns`. The score columns are headed by their ids
(``rus-norrbotten-2030.p_1``; ``columns="ids"``, for programs) or in Swedish from the
frameworks' names (``RUS: mål 1 – sannolikhet``; ``columns="sv"``, for people);
``columns="auto"`` picks Swedish for spreadsheets (CSV, TSV, XLSX) and ids for JSONL and
Parquet. An input column whose name a score column already has (case aside) is written as
``NAME (indata)`` under Swedish headers and ``input.NAME`` under ids, and a log line says so. An
input cell that is a plain number (``1200``, ``0.5``; not ``007`` or ``2026-0001``) is a number
in a workbook (type ``number?``), text elsewhere. The journal holds only the scores: the input's
cells are read from the input again when the output is written (:func:`carry`), so a resumed run
writes the same bytes. Under Swedish headers the cells a person reads are Swedish too
(:meth:`Layout.cells`): the status (``bedömd``, ``avvisad: ingen text``), the rejects file's
reason, and yes/no columns as ``ja``/``nej``; the journal and the id-headed forms keep the codes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from goalmatch.batch.tables import Row
from goalmatch.errors import BatchError
from goalmatch.model import render

__all__ = ["COLUMN_MODES", "REASONS_SV", "Layout", "carry", "column_mode", "make_layout", "rejects_layout"]

logger = logging.getLogger(__name__)

COLUMN_MODES = ("auto", "sv", "ids")
_SPREADSHEETS = ("csv", "tsv", "xlsx")
_CARRIED = "input\x00"
"""The key prefix of a carried input cell in an output row: no score column's key starts with it."""
_SURROGATE = re.compile("[\udc80-\udcff]")
REJECTS_COLUMNS = ["row", "id", "reason", "detail"]
REJECTS_SWEDISH = {"row": "Rad", "id": "Id", "reason": "Skäl", "detail": "Detalj"}
REASONS_SV = {"bad row": "oläsbar rad", "missing id": "id saknas", "undecodable": "oläsbara tecken",
              "duplicate id": "id förekommer redan", "empty text": "ingen text", "too long": "för lång text",
              "scoring failed": "kunde inte bedömas"}
"""A rejected row's reason (:func:`goalmatch.batch.rows.check_row`'s codes) as a Swedish reader gets it."""
STATUS_SV = {"scored": "bedömd", "rejected": "avvisad"}


@dataclass
class Layout:
    """What a writer needs: the row keys in order, the header written for each, and the typed keys."""

    keys: list[str]
    headers: list[str]
    types: dict[str, str] = field(default_factory=dict)
    carried: list[str] = field(default_factory=list)
    """The input columns carried, in order (their keys are ``_CARRIED + name``)."""
    swedish: bool = False
    """Swedish headers, and so Swedish status, reason and yes/no cells (:meth:`cells`)."""
    flags: list[str] = field(default_factory=list)
    """The yes/no columns written as ``ja``/``nej`` under Swedish headers (text, not typed, there)."""

    def cells(self, batches: Iterable[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
        """``batches`` as written: under Swedish headers the status, reason and yes/no cells in Swedish."""
        if not self.swedish:
            yield from batches
            return
        for batch in batches:
            yield [_swedish(row, self.flags) for row in batch]


def _swedish(row: dict[str, Any], flags: Sequence[str]) -> dict[str, Any]:
    out = dict(row)
    status = out.get("status")
    if isinstance(status, str):
        code, _, reason = status.partition(": ")
        out["status"] = STATUS_SV.get(code, code) + (f": {REASONS_SV.get(reason, reason)}" if reason else "")
    if isinstance(out.get("reason"), str):
        out["reason"] = REASONS_SV.get(out["reason"], out["reason"])
    for key in flags:
        if isinstance(out.get(key), bool):
            out[key] = "ja" if out[key] else "nej"
    return out


def column_mode(mode: str, fmt: str) -> str:
    """``sv`` or ``ids`` for an output of format ``fmt``: ``auto`` is ``sv`` for spreadsheets."""
    if mode not in COLUMN_MODES:
        raise BatchError(f"unknown column headers {mode!r}; expected one of {', '.join(COLUMN_MODES)}")
    if mode == "auto":
        return "sv" if fmt in _SPREADSHEETS else "ids"
    return mode


def make_layout(score: tuple[list[str], dict[str, str]], mode: str, frameworks: Mapping[str, str], top_k: int,
                carried: Sequence[str] = ()) -> Layout:
    """The layout of a scored table: ``carried`` input columns, then ``score`` (``render.columns``'s keys and
    types), headed as ``mode`` (``sv`` or ``ids``) says; ``frameworks`` maps ids to names for Swedish headers."""
    keys, types = score
    names = render.swedish_headers(frameworks, top_k) if mode == "sv" else {}
    headers = [names.get(k, k) for k in keys]
    taken = {h.casefold() for h in headers}
    carried_headers = []
    for name in carried:
        header = name
        while header.casefold() in taken:
            header = f"{header} (indata)" if mode == "sv" else f"input.{header}"
        if header != name:
            logger.info("input column %r is written as %r: the scores have a column %r", name, header, name)
        taken.add(header.casefold())
        carried_headers.append(header)
    carried_types = {_CARRIED + c: "number?" for c in carried}  # a workbook writes "1200" as a number
    flags = [k for k, kind in types.items() if kind == "bool"] if mode == "sv" else []
    typed = {k: kind for k, kind in types.items() if k not in flags}
    return Layout([_CARRIED + c for c in carried] + keys, carried_headers + headers, {**carried_types, **typed},
                  list(carried), swedish=mode == "sv", flags=flags)


def rejects_layout(mode: str) -> Layout:
    """The rejects file's columns: row, id, reason, detail (``Rad``, ``Id``, ``Skäl``, ``Detalj`` in Swedish)."""
    headers = [REJECTS_SWEDISH[c] for c in REJECTS_COLUMNS] if mode == "sv" else list(REJECTS_COLUMNS)
    return Layout(list(REJECTS_COLUMNS), headers, {"row": "int"}, swedish=mode == "sv")


def carry(layout: Layout, rows: Iterator[Row], batches: Iterable[list[dict[str, Any]]]
          ) -> Iterator[list[dict[str, Any]]]:
    """``batches`` of output rows with the input's cells (from ``rows``, the input read again in order) put in.

    Bytes the input's encoding could not decode are written as U+FFFD (the row itself was
    rejected as ``undecodable`` when it was one of its id or text cells).
    """
    for batch in batches:
        if not layout.carried:
            yield batch
            continue
        merged = []
        for out in batch:
            source = next(rows, None)
            if source is None or source.number != out["row"]:
                raise BatchError(f"the input changed while it was scored (row {out['row']} is not where it was); "
                                 f"score it again with --restart")
            merged.append({**{_CARRIED + c: _clean(source.cells.get(c)) for c in layout.carried}, **out})
        yield merged


def _clean(value: str | None) -> str | None:
    return _SURROGATE.sub("\ufffd", value) if value else value
