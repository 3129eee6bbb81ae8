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
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from goalmatch._io import atomic_write, replacing
from goalmatch.batch.dialect import DEFAULT, Dialect
from goalmatch.batch.sheets import finish_sheet, start_sheet, xlsx_cell, xlsx_row
from goalmatch.batch.tables import format_of, require_openpyxl, require_pyarrow
from goalmatch.errors import TableError

__all__ = ["TableWriter", "abandon_workbook", "cannot_write", "publish", "write_atomic", "xlsx_cell"]

logger = logging.getLogger(__name__)

PARQUET_ROW_GROUP = 8192
"""Rows a Parquet writer holds before it writes them as one row group."""


class TableWriter:
    """Writes rows of a fixed column list to ``path`` in the format its extension names.

    ``columns`` are the rows' keys; ``headers`` what is written for them (default: the keys;
    JSONL keys and Parquet fields are the headers too). ``types`` maps columns to ``"int"``,
    ``"float"`` or ``"bool"`` (the rest are text); Parquet and Excel keep them typed, CSV
    writes ``true``/``false`` and floats as Python prints them, with ``dialect.decimal`` for
    the point. CSV and TSV are written as ``dialect`` says (:mod:`goalmatch.batch.dialect`;
    default UTF-8 with a byte-order mark, which Excel needs to show å ä ö); a character the
    encoding cannot hold raises ``UnicodeEncodeError`` (:func:`publish` then writes UTF-8).
    A workbook's header row is bold and frozen, with an autofilter, column widths from the
    headers and the first rows, and probabilities shown with two decimals.
    Use as a context manager; :meth:`close` fsyncs the file.
    """

    def __init__(self, path: str | Path, columns: Sequence[str], types: dict[str, str] | None = None, *,
                 headers: Sequence[str] | None = None, dialect: Dialect | None = None) -> None:
        self.path = Path(path)
        self.format = format_of(self.path)
        self.columns = list(columns)
        self.headers = list(headers) if headers is not None else list(self.columns)
        if len(self.headers) != len(self.columns):
            raise ValueError(f"{len(self.headers)} headers for {len(self.columns)} columns")
        self.types = dict(types or {})
        self.dialect = dialect or DEFAULT
        self._handle: Any = None
        self._writer: Any = None
        if self.format in ("csv", "tsv"):
            self._handle = self.path.open("w", encoding=self.dialect.encoding, newline="")
            self._writer = csv.writer(self._handle, delimiter=self.dialect.delimiter if self.format == "csv" else "\t",
                                      lineterminator="\r\n" if self.format == "csv" else "\n")
            self._writer.writerow([_csv_cell(h) for h in self.headers])
        elif self.format == "jsonl":
            self._handle = self.path.open("w", encoding="utf-8", newline="\n")
        elif self.format == "xlsx":
            self._book = require_openpyxl().Workbook(write_only=True)
            self._sheet: Any = None
            self._rows = 0
        else:
            pa = require_pyarrow()
            kinds = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}
            self._schema = pa.schema([(h, kinds.get(self.types.get(c, ""), pa.string()))
                                      for c, h in zip(self.columns, self.headers, strict=True)])
            self._writer = pa.parquet.ParquetWriter(self.path, self._schema)
            self._pending: list[dict[str, Any]] = []

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)
        if self.format in ("csv", "tsv"):
            point = self.dialect.decimal
            self._writer.writerows([[_csv_cell(r.get(c), point) for c in self.columns] for r in rows])
        elif self.format == "jsonl":
            for r in rows:
                self._handle.write(json.dumps({h: r.get(c) for c, h in zip(self.columns, self.headers, strict=True)},
                                              ensure_ascii=False) + "\n")
        elif self.format == "xlsx":
            if self._sheet is None and rows:  # the widths are taken from the first rows
                self._sheet = start_sheet(self._book, "scores", self.headers, self.columns, self.types, rows)
            for r in rows:
                self._sheet.append(xlsx_row(self._sheet, [r.get(c) for c in self.columns], self.columns, self.types))
            self._rows += len(rows)
        else:
            self._pending += [{h: _typed(r.get(c), self.types.get(c)) for c, h in zip(self.columns, self.headers,
                                                                                     strict=True)} for r in rows]
            if len(self._pending) >= PARQUET_ROW_GROUP:
                self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(require_pyarrow().Table.from_pylist(self._pending, schema=self._schema))
            self._pending = []

    def close(self) -> None:
        if self.format == "xlsx":
            if self._sheet is None:
                self._sheet = start_sheet(self._book, "scores", self.headers, self.columns, self.types, [])
            finish_sheet(self._sheet, len(self.headers), self._rows)
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


def _csv_cell(value: Any, point: str = ".") -> str:
    """A cell as text no spreadsheet runs as a formula (CSV injection): a ``'`` before every formula start,
    at the start of the cell and behind each separator a spreadsheet might split the line at. Floats are
    written with ``point`` as the decimal mark."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(value).replace(".", point)  # numbers are numbers: -0,5 is no formula
    if not isinstance(value, str):
        return str(value)
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


Batches = Iterable[Iterable[dict[str, Any]]]


def publish(dest: str | Path, columns: Sequence[str], batches: Batches | Callable[[], Batches],
            types: dict[str, str] | None = None, *, headers: Sequence[str] | None = None,
            dialect: Dialect | None = None) -> Path:
    """Write a table beside ``dest`` and rename it into place: ``dest`` is never half written.

    A write that fails (disk full, file too large) leaves ``dest`` as it was, removes the
    temporary file and raises :class:`TableError` naming ``dest``. Temporary files left by
    an earlier write that was killed are removed. ``batches`` may be a function giving them:
    a CSV/TSV in a single-byte code page (Windows-1252) that meets a character the code page
    lacks is then written again, whole, in UTF-8 with a byte-order mark, with a warning;
    given as the batches themselves, such a character raises ``UnicodeEncodeError``.
    """
    dest = Path(dest)
    dialect = dialect or DEFAULT
    make = batches if callable(batches) else (lambda: batches)
    try:
        _write(dest, columns, make(), types, headers, dialect)
    except UnicodeEncodeError as exc:
        if not (callable(batches) and dialect.single_byte):
            raise
        logger.warning("%s: %r is not in %s; the file is written in UTF-8 with a byte-order mark instead",
                       dest, exc.object[exc.start:exc.end], dialect.encoding)
        _write(dest, columns, make(), types, headers, dialect.fallback())
    return dest


def _write(dest: Path, columns: Sequence[str], batches: Iterable[Iterable[dict[str, Any]]],
           types: dict[str, str] | None, headers: Sequence[str] | None, dialect: Dialect) -> None:
    try:
        with replacing(dest) as tmp, TableWriter(tmp, columns, types, headers=headers, dialect=dialect) as writer:
            for rows in batches:
                writer.write(rows)
    except OSError as exc:
        raise cannot_write(dest, exc) from None
