"""The rows of a batch run: which columns hold the id and the text, and which rows are scored.

:func:`choose_columns` finds the id and text columns of a table; :func:`check_row` turns
a row into its id and text, or the reason it is rejected (no text, bytes the file's
encoding could not decode, a text over :data:`MAX_CHARS` characters, an empty or repeated
id, a row the reader could not read). :func:`check_chunk` does this for a chunk of rows
and gives a :class:`Chunk`: one output row per input row, in order, with the texts left
to score; :meth:`Chunk.fill` puts their suggestions in. Both engines of batch scoring,
:func:`goalmatch.batch.score.score_file` and :func:`goalmatch.batch.dask.score_partition`,
go through here, so a row is rejected for the same reason wherever it is scored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from goalmatch.batch.tables import Row, Table, undecodable
from goalmatch.errors import BatchError
from goalmatch.text.prepare import MAX_TEXT_CHARS

__all__ = ["MAX_CHARS", "Chunk", "Columns", "check_chunk", "check_row", "choose_columns", "rejected_row"]

MAX_CHARS = MAX_TEXT_CHARS  # kept under its batch name: the documented limit of a row
"""Texts longer than this (about 60 pages) are rejected as not a project description."""
TEXT_COLUMNS = ("text", "description", "beskrivning", "projektbeskrivning", "sammanfattning", "summary")
TITLE_COLUMNS = ("title", "titel", "projektnamn", "name", "namn")


@dataclass(frozen=True)
class Columns:
    """The column holding each row's id (None: the row number is the id), and those joined into its text."""

    id: str | None
    text: tuple[str, ...]


def choose_columns(table: Table, id_column: str | None, text_columns: Sequence[str] | None) -> Columns:
    """Check the named columns exist; with no text columns, find a title and a description column by name."""
    known = {c.lower(): c for c in table.columns}

    def find(name: str, option: str) -> str:
        if name in table.columns:
            return name
        if name.lower() in known:
            return known[name.lower()]
        raise BatchError(f"{table.path}: no column {name!r} for {option}; the columns are: {', '.join(table.columns)}")

    ident = find(id_column, "the id") if id_column else None
    if text_columns:
        return Columns(ident, tuple(find(c, "the text") for c in text_columns))
    text = next((known[c] for c in TEXT_COLUMNS if c in known), None)
    if text is None:
        raise BatchError(f"{table.path}: no text column found (looked for {', '.join(TEXT_COLUMNS)}); name it with "
                         f"--text-columns; the columns are: {', '.join(table.columns)}")
    title = next((known[c] for c in TITLE_COLUMNS if c in known and known[c] != ident), None)
    return Columns(ident, (title, text) if title else (text,))


def check_row(row: Row, cols: Columns, seen: dict[str, int]) -> tuple[str, str | None, str | None, str]:
    """``(id, reason, detail, text)``: reason is None for a row to score.

    ``seen`` maps the ids already used to the row that used them (the first use wins).
    """
    row_id = str(row.number)
    if row.error is not None:
        return row_id, "bad row", f"rad {row.number}: {row.error}", ""
    if cols.id is not None:
        value = row.cells.get(cols.id)
        if value is None or not value.strip():
            return "", "missing id", f"rad {row.number}, kolumn {cols.id}: tomt id", ""
        row_id = value.strip()
        if undecodable(row_id):
            return row_id.encode("utf-8", "replace").decode(), "undecodable", \
                f"rad {row.number}, kolumn {cols.id}: tecken som filens teckenkodning inte kan läsa", ""
        if row_id in seen:
            return row_id, "duplicate id", f"rad {row.number}, kolumn {cols.id}: id {row_id!r} finns redan " \
                                           f"på rad {seen[row_id]}", ""
    parts = []
    for col in cols.text:
        value = row.cells.get(col)
        if value is not None and undecodable(value):
            return row_id, "undecodable", f"rad {row.number}, kolumn {col}: tecken som filens " \
                                          f"teckenkodning inte kan läsa", ""
        if value and value.strip():
            parts.append(value.strip())
    text = "\n\n".join(parts)
    if not text:
        return row_id, "empty text", f"rad {row.number}, kolumn {'/'.join(cols.text)}: ingen text", ""
    if len(text) > MAX_CHARS:
        return row_id, "too long", f"rad {row.number}, kolumn {'/'.join(cols.text)}: {_count(len(text))} " \
                                   f"tecken, över gränsen {_count(MAX_CHARS)}", ""
    return row_id, None, None, text


def _count(n: int) -> str:
    """A count as Swedish writes it: 224 999, with a no-break space between the thousands."""
    return f"{n:,}".replace(",", "\u00a0")


def rejected_row(number: int, row_id: str, reason: str) -> dict[str, Any]:
    """The output row of a rejected row: no scores, the reason in ``status``."""
    return {"row": number, "id": row_id, "status": f"rejected: {reason}"}


@dataclass
class Chunk:
    """A chunk of rows on its way to the output: checked by :func:`check_chunk`, then :meth:`fill`-ed."""

    rows: list[Row]
    out: list[dict[str, Any]] = field(default_factory=list)
    """One output row per input row, in order; ``{}`` where a text waits for its suggestions."""
    rejects: list[dict[str, Any]] = field(default_factory=list)
    """The rejects file's rows (row, id, reason, detail), in row order once filled."""
    todo: list[tuple[int, int, str, str]] = field(default_factory=list)
    """``(place in out, row number, id, text)`` of each row to score."""

    @property
    def texts(self) -> list[str]:
        """The texts to score, in row order."""
        return [text for *_, text in self.todo]

    def reject(self, number: int, row_id: str, reason: str, detail: str | None) -> dict[str, Any]:
        """Note a rejected row in the rejects; returns its output row."""
        self.rejects.append({"row": number, "id": row_id, "reason": reason, "detail": detail})
        return rejected_row(number, row_id, reason)

    def fill(self, results: Sequence[Any], render: Callable[[int, str, str, Any], dict[str, Any]]) -> None:
        """Put each text's result in its row as ``render(number, id, text, result)``.

        A result that is an exception (the matcher failed on that text) rejects the row as
        ``scoring failed``.
        """
        for (i, number, row_id, text), result in zip(self.todo, results, strict=True):
            if isinstance(result, Exception):
                self.out[i] = self.reject(number, row_id, "scoring failed",
                                          f"rad {number}: {type(result).__name__}: {result}")
            else:
                self.out[i] = render(number, row_id, text, result)
        self.rejects.sort(key=lambda r: r["row"])


def check_chunk(rows: Iterable[Row], cols: Columns, seen: dict[str, int]) -> Chunk:
    """Check ``rows`` in order (see :func:`check_row`); the ids of the rows to score are added to ``seen``."""
    chunk = Chunk(list(rows))
    for row in chunk.rows:
        row_id, reason, detail, text = check_row(row, cols, seen)
        if reason is not None:
            chunk.out.append(chunk.reject(row.number, row_id, reason, detail))
            continue
        if cols.id is not None:
            seen[row_id] = row.number
        chunk.todo.append((len(chunk.out), row.number, row_id, text))
        chunk.out.append({})
    return chunk
