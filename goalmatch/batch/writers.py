"""Tables out: writers for CSV/TSV, Excel, JSONL and Parquet that never leave a file half written.

:class:`TableWriter` writes plain dicts with a fixed column list, in the format the path's
extension names (see :mod:`goalmatch.batch.tables`, which reads the same formats). Text a
spreadsheet would run as a formula is written as text (CSV injection). :func:`publish`
writes a whole table beside its destination and renames it into place, and
:func:`write_atomic` does the same for a text file; a write that fails (disk full, file
too large) leaves the old file and raises the :class:`TableError` of :func:`cannot_write`.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from goalmatch._io import atomic_write, replacing
from goalmatch.batch.tables import format_of, require_openpyxl, require_pyarrow
from goalmatch.errors import TableError

__all__ = ["TableWriter", "abandon_workbook", "cannot_write", "publish", "write_atomic", "xlsx_cell"]

logger = logging.getLogger(__name__)

PARQUET_ROW_GROUP = 8192
"""Rows a Parquet writer holds before it writes them as one row group."""


class TableWriter:
    """Writes rows of a fixed column list to ``path`` in the format its extension names.

    ``types`` maps columns to ``"int"``, ``"float"`` or ``"bool"`` (the rest are text);
    Parquet keeps them typed, CSV writes ``true``/``false`` and floats as Python prints
    them. CSV and TSV are UTF-8 with a byte-order mark, which Excel needs to show å ä ö.
    Use as a context manager; :meth:`close` fsyncs the file.
    """

    def __init__(self, path: str | Path, columns: Sequence[str], types: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self.format = format_of(self.path)
        self.columns = list(columns)
        self.types = dict(types or {})
        self._handle: Any = None
        self._writer: Any = None
        if self.format in ("csv", "tsv"):
            self._handle = self.path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._handle, delimiter="," if self.format == "csv" else "\t",
                                      lineterminator="\r\n" if self.format == "csv" else "\n")
            self._writer.writerow(self.columns)
        elif self.format == "jsonl":
            self._handle = self.path.open("w", encoding="utf-8", newline="\n")
        elif self.format == "xlsx":
            self._book = require_openpyxl().Workbook(write_only=True)
            self._sheet = self._book.create_sheet("scores")
            self._sheet.append(self.columns)
        else:
            pa = require_pyarrow()
            kinds = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
            self._schema = pa.schema([(c, kinds.get(self.types.get(c, ""), pa.string())) for c in self.columns])
            self._writer = pa.parquet.ParquetWriter(self.path, self._schema)
            self._pending: list[dict[str, Any]] = []

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)
        if self.format in ("csv", "tsv"):
            self._writer.writerows([[_csv_cell(r.get(c)) for c in self.columns] for r in rows])
        elif self.format == "jsonl":
            for r in rows:
                self._handle.write(json.dumps({c: r.get(c) for c in self.columns}, ensure_ascii=False) + "\n")
        elif self.format == "xlsx":
            for r in rows:
                self._sheet.append([xlsx_cell(r.get(c)) for c in self.columns])
        else:
            self._pending += [{c: _typed(r.get(c), self.types.get(c)) for c in self.columns} for r in rows]
            if len(self._pending) >= PARQUET_ROW_GROUP:
                self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(require_pyarrow().Table.from_pylist(self._pending, schema=self._schema))
            self._pending = []

    def close(self) -> None:
        if self.format == "xlsx":
            self._book.save(self.path)
        elif self.format == "parquet":
            self._flush()
            self._writer.close()
        else:
            try:
                self._handle.flush()
                os.fsync(self._handle.fileno())
            finally:
                self._handle.close()
            return
        with self.path.open("rb+") as handle:
            os.fsync(handle.fileno())

    def abort(self) -> None:
        """Close after a failed write without finishing the file (the caller removes it); errors are ignored."""
        try:
            if self.format == "parquet":
                self._writer.close()
            elif self.format == "xlsx":
                abandon_workbook(self._book)
            elif self._handle is not None:
                self._handle.close()
        except Exception:  # the write already failed; that error is the one to report
            logger.debug("%s: closing after a failed write", self.path, exc_info=True)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


_FORMULA_CHARS = "=+\\-@\u207a\u207c\u208a\u208c\u2a75\u2a76\ufb29\ufe62\ufe63\ufe66\ufe6b\uff0b\uff0d\uff1d\uff20"
"""What a spreadsheet may take as the start of a formula: ``= + - @`` and the characters NFKC folds to them
(full-width ``＝ ＋ － ＠``, small, superscript and subscript forms), as a regex character class."""
_FORMULA_CELL = re.compile(f'[\t\r]|[\\s"]*[{_FORMULA_CHARS}]')
_FORMULA_INSIDE = re.compile(f'([;,\t\r\n][\\s"]*)(?=[{_FORMULA_CHARS}])')
"""A formula behind a separator inside a cell: Excel set to split on ``;`` (the Swedish default) or ``,``
splits the line there and sees a cell of its own (``x;=cmd|' /C calc'!A0``); a line break in a quoted
cell starts a line of its own once the quoting is lost to such a split."""


def _csv_cell(value: Any) -> str:
    """A cell as text no spreadsheet runs as a formula (CSV injection): a ``'`` before every formula start,
    at the start of the cell and behind each separator a spreadsheet might split the line at."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        return str(value)  # numbers are numbers: -0.5 is no formula
    value = _FORMULA_INSIDE.sub("\\1'", value)
    return "'" + value if _FORMULA_CELL.match(value) else value


def abandon_workbook(book: Any) -> None:
    """Close a write-only workbook whose write failed, quietly, and remove its sheets' temporary files.

    openpyxl keeps each write-only sheet in a generator writing to a temporary file; left
    to the garbage collector after a failed write, they print tracebacks ("Exception
    ignored in …") on standard error and leave the files until exit.
    """
    for sheet in getattr(book, "worksheets", []):
        writer = getattr(sheet, "_writer", None)
        for stream in (getattr(sheet, "_rows", None), getattr(writer, "xf", None)):
            try:
                if stream is not None:
                    stream.close()
            except Exception:  # the write already failed; that error is the one to report
                logger.debug("closing a sheet after a failed write", exc_info=True)
        try:
            if writer is not None and isinstance(writer.out, str):
                writer.cleanup()
        except (OSError, ValueError):
            pass


def xlsx_cell(value: Any) -> Any:
    """A value for a workbook cell: text starting with ``=`` is kept as text, not stored as a formula."""
    if isinstance(value, str) and value.startswith("="):
        return "'" + value  # openpyxl would store it as a formula
    return value


def _typed(value: Any, kind: str | None) -> Any:
    if value is None or kind in ("int", "float", "bool"):
        return value
    return str(value)


# ------------------------------------------------------------------ atomic files


def write_atomic(path: Path, text: str) -> None:
    """Write a UTF-8 text file so that it is either absent, the old file or the whole new one.

    A write that fails (disk full, file too large) leaves the old file, no temporary file,
    and raises :class:`TableError` naming ``path``.
    """
    try:
        atomic_write(path, text)
    except OSError as exc:
        raise cannot_write(path, exc) from None


def cannot_write(path: str | Path, exc: OSError) -> TableError:
    """The error for a file that could not be written: it names the file and the reason, and says it is unchanged."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return TableError(f"{path}: cannot write it ({reason}); the file was left as it was")


def publish(dest: str | Path, columns: Sequence[str], batches: Iterable[Iterable[dict[str, Any]]],
            types: dict[str, str] | None = None) -> Path:
    """Write a table beside ``dest`` and rename it into place: ``dest`` is never half written.

    A write that fails (disk full, file too large) leaves ``dest`` as it was, removes the
    temporary file and raises :class:`TableError` naming ``dest``. Temporary files left by
    an earlier write that was killed are removed.
    """
    dest = Path(dest)
    try:
        with replacing(dest) as tmp, TableWriter(tmp, columns, types) as writer:
            for rows in batches:
                writer.write(rows)
    except OSError as exc:
        raise cannot_write(dest, exc) from None
    return dest
