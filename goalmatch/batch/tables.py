"""Tables in: streaming readers for CSV/TSV, Excel, JSONL and Parquet.

Readers yield :class:`Row` objects (a 1-based data row number and the cells as text) in
file order, never the whole file at once. Cells the file's encoding could not decode are
kept with surrogate escapes; :func:`undecodable` finds them so a caller can reject that
row and go on. The writers of the same formats are in :mod:`goalmatch.batch.writers`.

CSV encoding is detected from the first bytes by :func:`goalmatch._io.detect_encoding`
(re-exported here): a UTF-8 or UTF-16 byte-order mark wins; otherwise text that decodes
as UTF-8 (bar a few broken bytes) is UTF-8, and anything else is read as Windows-1252,
the code page Swedish office software exports. The delimiter of a ``.csv`` is sniffed among ``, ; TAB |``.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
>>> _ = path.write_bytes("id;text\\n1;Fiber för byn\\n".encode("cp1252"))
>>> table = open_table(path)
>>> table.columns, table.encoding, table.delimiter
(['id', 'text'], 'cp1252', ';')
>>> [(r.number, r.cells["text"]) for r in table.rows()]
[(1, 'Fiber för byn')]
"""

from __future__ import annotations

import csv
import importlib
import json
import logging
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goalmatch._io import detect_encoding
from goalmatch.errors import TableError

__all__ = [
    "FORMATS", "Row", "Table", "TableError", "detect_encoding", "format_of", "open_table", "require_openpyxl",
    "require_pyarrow", "title_rows", "undecodable",
]

logger = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".xlsx": "xlsx", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".parquet": "parquet"}
"""File extension → format."""
SNIFF_BYTES = 1 << 20
HEADER_SEARCH_ROWS = 10
XLSX_BOMB_BYTES = 16 << 20
XLSX_BOMB_RATIO = 200
"""A workbook part or Parquet column chunk over XLSX_BOMB_BYTES inflated, inflating over XLSX_BOMB_RATIO times,
is refused as a decompression bomb."""
CSV_FIELD_LIMIT = 1 << 24
"""A CSV cell longer than this many characters stops the read (the file is taken to be broken)."""
_SURROGATE = re.compile("[\udc80-\udcff]")


def format_of(path: str | Path) -> str:
    """The format named by a path's extension, or a :class:`TableError` listing the known ones."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise TableError(f"{path}: unknown table format {suffix or '(no extension)'!r}; "
                         f"expected one of {', '.join(sorted(FORMATS))}")
    return FORMATS[suffix]


def undecodable(value: str | None) -> bool:
    """Whether a cell holds bytes the file's encoding could not decode."""
    return bool(value) and _SURROGATE.search(value) is not None  # type: ignore[arg-type]


@dataclass(frozen=True)
class Row:
    """One data row: ``number`` counts data rows from 1 (header and blank lines not counted).

    ``error`` is set when the row itself could not be read (a broken JSON line); ``cells``
    is then empty.
    """

    number: int
    cells: dict[str, str | None]
    error: str | None = None


@dataclass
class Table:
    """An opened table: its columns and how it is read; :meth:`rows` streams it (again on each call)."""

    path: Path
    format: str
    columns: list[str]
    encoding: str | None = None
    delimiter: str | None = None
    header_row: int = 0
    """Lines (CSV/TSV) or sheet rows (XLSX) above the header: title rows skipped, 0-based."""

    def rows(self) -> Iterator[Row]:
        """The data rows in file order."""
        reader = {"csv": _csv_rows, "tsv": _csv_rows, "xlsx": _xlsx_rows, "jsonl": _jsonl_rows,
                  "parquet": _parquet_rows}[self.format]
        return reader(self)


def open_table(path: str | Path) -> Table:
    """Open a table for streaming: format from the extension, columns from the header."""
    path = Path(path)
    fmt = format_of(path)
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    try:
        if fmt in ("csv", "tsv"):
            return _open_csv(path, fmt)
        if fmt == "xlsx":
            return _open_xlsx(path)
        if fmt == "jsonl":
            return _open_jsonl(path)
        return _open_parquet(path)
    except OSError as exc:
        raise TableError(f"{path}: cannot read: {exc.strerror or exc}") from None


# ------------------------------------------------------------------ CSV / TSV


def _open_csv(path: Path, fmt: str) -> Table:
    with path.open("rb") as handle:
        sample = handle.read(SNIFF_BYTES)
    encoding = detect_encoding(sample)
    text = sample.decode(encoding, errors="surrogateescape") if encoding != "utf-16" else \
        sample[: len(sample) // 2 * 2].decode("utf-16", errors="replace")
    delimiter = "\t"
    if fmt == "csv":
        head = "\n".join(text.lstrip("\ufeff").splitlines()[:50])
        try:
            delimiter = csv.Sniffer().sniff(head, delimiters=",;\t|").delimiter
        except csv.Error:
            first = head.split("\n", 1)[0]
            delimiter = max(",;\t|", key=first.count) if any(c in first for c in ",;\t|") else ","
    table = Table(path, fmt, [], encoding, delimiter)
    _raise_field_limit()  # the header search reads the first data rows too: the same limit as the rows' reader
    with _csv_handle(table) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            top = [cells for _, cells in zip(range(HEADER_SEARCH_ROWS), reader, strict=False)]
        except csv.Error as exc:
            raise TableError(f"{path}, line {reader.line_num}: {exc}") from None
    table.header_row = title_rows(top)
    header = top[table.header_row] if top else None
    if not header:
        raise TableError(f"{path}: empty file; expected a header row with column names")
    table.columns = _header(path, [h.strip() for h in header])
    logger.info("%s: %s, encoding %s, delimiter %r", path, fmt, encoding, delimiter)
    return table


def _csv_handle(table: Table) -> Any:
    return table.path.open(encoding=table.encoding, errors="surrogateescape", newline="")


def _raise_field_limit() -> None:
    """csv's default field limit (131,072 characters) is under the texts batch scoring accepts: raise it to
    :data:`CSV_FIELD_LIMIT` (the limit is the csv module's, process-wide; it is never lowered)."""
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))


def _csv_rows(table: Table) -> Iterator[Row]:
    _raise_field_limit()
    with _csv_handle(table) as handle:
        reader = csv.reader(handle, delimiter=table.delimiter or ",")
        for _ in range(table.header_row + 1):
            next(reader, None)
        number = 0
        while True:
            try:
                cells = next(reader, None)
            except csv.Error as exc:
                raise TableError(f"{table.path}, line {reader.line_num}: {exc}") from None
            if cells is None:
                return
            if not any(c.strip() for c in cells):
                continue
            number += 1
            yield Row(number, {col: (cells[i] if i < len(cells) else None) for i, col in enumerate(table.columns)})


def title_rows(head: list[list[Any]]) -> int:
    """How many rows at the top are titles, not the header: rows with at most one filled cell
    (a title merged across the columns, a date line, a blank line) above a row with two or
    more, within the first :data:`HEADER_SEARCH_ROWS` rows. 0 when the first row has two
    filled cells or no row does (a one-column table)."""
    filled = [sum(1 for c in cells if c is not None and str(c).strip()) for cells in head]
    for i, count in enumerate(filled):
        if count >= 2:
            return i
    return 0


def _header(path: Path, names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen and name:
            raise TableError(f"{path}: column {name!r} appears twice (columns {seen[name] + 1} and {i + 1})")
        seen[name] = i
    return [name or f"column_{i + 1}" for i, name in enumerate(names)]


# ------------------------------------------------------------------ Excel


def _require(module: str, suffix: str, package: str) -> Any:
    """``module`` imported, or a :class:`TableError` saying which package the format needs."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise TableError(f"reading or writing {suffix} needs {package}: pip install {package}") from None


def require_openpyxl() -> Any:
    """The ``openpyxl`` module, or a :class:`TableError` saying how to install it."""
    return _require("openpyxl", ".xlsx", "openpyxl")


def _open_xlsx(path: Path) -> Table:
    table = Table(path, "xlsx", [])
    head = [cells for _, cells in zip(range(HEADER_SEARCH_ROWS), _xlsx_cells(table), strict=False)]
    table.header_row = title_rows(head)
    header = head[table.header_row] if head else None
    if not header:
        raise TableError(f"{path}: the first sheet is empty; expected a header row with column names")
    table.columns = _header(path, [(h or "").strip() for h in header])
    return table


def _check_xlsx_zip(path: Path) -> None:
    """Refuse a workbook whose parts inflate like a decompression bomb, before openpyxl inflates them (it
    holds all shared strings in memory): a part over :data:`XLSX_BOMB_BYTES` declared more than
    :data:`XLSX_BOMB_RATIO` times its compressed size. Python's zipfile stops at the declared size, so a
    part that under-states it cannot inflate further."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise TableError(f"{path}: not a readable .xlsx workbook ({exc})") from None
    for part in parts:
        if part.file_size > XLSX_BOMB_BYTES and part.file_size > XLSX_BOMB_RATIO * max(part.compress_size, 1):
            raise TableError(f"{path}: {part.filename} inflates from {part.compress_size:,} to {part.file_size:,} "
                             f"bytes (over {XLSX_BOMB_RATIO}×); refused as a decompression bomb")


def _xlsx_cells(table: Table) -> Iterator[list[str | None]]:
    _check_xlsx_zip(table.path)
    try:
        book = require_openpyxl().load_workbook(table.path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for broken files
        raise TableError(f"{table.path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    sheet = book.worksheets[0]
    if hasattr(sheet, "reset_dimensions"):
        sheet.reset_dimensions()  # rows as the file holds them, not padded to a declared A1:XFD1048576
    row = 0  # the sheet rows read (read-only openpyxl yields the blank ones between them too)
    try:
        for values in sheet.iter_rows(values_only=True):
            row += 1
            yield [_cell_text(v) for v in values]
    except Exception as exc:  # a broken sheet (a cell pointing at a missing shared string: IndexError, …)
        raise TableError(f"{table.path}: sheet {book.worksheets[0].title!r}, row {row + 1}: a cell cannot be read "
                         f"({type(exc).__name__}: {exc}); the workbook is damaged") from None
    finally:
        book.close()


def _cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_rows(table: Table) -> Iterator[Row]:
    cells = _xlsx_cells(table)
    for _ in range(table.header_row + 1):
        next(cells, None)
    number = 0
    for values in cells:
        if not any(v is not None and v.strip() for v in values):
            continue
        number += 1
        yield Row(number, {col: (values[i] if i < len(values) else None) for i, col in enumerate(table.columns)})


# ------------------------------------------------------------------ JSONL


def _open_jsonl(path: Path) -> Table:
    table = Table(path, "jsonl", [], "utf-8")
    for row in _jsonl_rows(table, columns=False):
        if row.error is None:
            table.columns = list(row.cells)
            return table
    raise TableError(f"{path}: no JSON object on any line; expected one object per line")


def _jsonl_rows(table: Table, columns: bool = True) -> Iterator[Row]:
    with table.path.open(encoding="utf-8-sig", errors="surrogateescape") as handle:
        number = 0
        for line in handle:
            if not line.strip():
                continue
            number += 1
            try:
                data = json.loads(line)
            except ValueError as exc:
                yield Row(number, {}, f"not a JSON object ({exc})")
                continue
            if not isinstance(data, dict):
                yield Row(number, {}, f"expected a JSON object, got {type(data).__name__}")
                continue
            yield Row(number, {str(k): _json_text(v) for k, v in data.items()})


def _json_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


# ------------------------------------------------------------------ Parquet


def require_pyarrow() -> Any:
    """The ``pyarrow`` module with ``pyarrow.parquet`` loaded, or a :class:`TableError` saying how to install it."""
    _require("pyarrow.parquet", ".parquet", "pyarrow")
    return _require("pyarrow", ".parquet", "pyarrow")


def _open_parquet(path: Path) -> Table:
    pa = require_pyarrow()
    try:
        parquet = pa.parquet.ParquetFile(path)
        schema = parquet.schema_arrow
    except Exception as exc:  # pyarrow.ArrowInvalid for a file that is no Parquet
        raise TableError(f"{path}: not a readable Parquet file ({exc})") from None
    _check_parquet_sizes(path, parquet.metadata)
    return Table(path, "parquet", list(schema.names))


def _check_parquet_sizes(path: Path, meta: Any) -> None:
    """Refuse a column chunk that inflates like a decompression bomb (over :data:`XLSX_BOMB_BYTES` and
    :data:`XLSX_BOMB_RATIO` times its compressed size), from the file's metadata, before a page is read."""
    for group in range(meta.num_row_groups):
        chunks = meta.row_group(group)
        for index in range(chunks.num_columns):
            chunk = chunks.column(index)
            inflated, packed = chunk.total_uncompressed_size, max(chunk.total_compressed_size, 1)
            if inflated > XLSX_BOMB_BYTES and inflated > XLSX_BOMB_RATIO * packed:
                raise TableError(f"{path}: column {chunk.path_in_schema!r} of row group {group + 1} inflates from "
                                 f"{packed:,} to {inflated:,} bytes (over {XLSX_BOMB_RATIO}×); refused as a "
                                 f"decompression bomb")


def _parquet_rows(table: Table) -> Iterator[Row]:
    pa = require_pyarrow()
    number = 0
    for batch in pa.parquet.ParquetFile(table.path).iter_batches(batch_size=1024):
        for record in batch.to_pylist():
            number += 1
            yield Row(number, {k: _parquet_text(v) for k, v in record.items()})


def _parquet_text(value: Any) -> str | None:
    """A Parquet cell as text: binary as UTF-8 (bytes that are not UTF-8 kept as surrogate escapes, so the
    row is rejected as undecodable), a struct, list or map as JSON (as a JSONL cell), anything else as
    :func:`_cell_text` writes it; never a Python repr such as ``b'…'`` or ``{'x': …}``."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="surrogateescape")
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(_plain(value), ensure_ascii=False)
    return _cell_text(value)


def _plain(value: Any) -> Any:
    """A nested Parquet value with its bytes decoded and its other non-JSON values as text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return _parquet_text(value)
