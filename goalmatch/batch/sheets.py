"""The worksheet of a scored table as a person opens it: header frozen and filtered, columns wide enough.

Used by :class:`goalmatch.batch.writers.TableWriter` for ``.xlsx`` (openpyxl's write-only
mode, so memory stays flat): :func:`start_sheet` sets the column widths (from the headers
and the first rows) and writes the bold, wrapped header row, frozen; :func:`xlsx_row` turns
a row into cells (probabilities as numbers shown with two decimals, the input's plain numbers as
numbers, text that would be a formula kept as text); :func:`finish_sheet` puts an autofilter over the table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["PROBABILITY_FORMAT", "finish_sheet", "start_sheet", "xlsx_cell", "xlsx_row"]

PROBABILITY_FORMAT = "0.00"
"""The number format of float cells (probabilities): two decimals, with the reader's own decimal mark."""
MIN_WIDTH, MAX_WIDTH, HEADER_WIDTH = 6, 60, 22
"""Column widths in characters: at least, at most, and the most a header alone widens a column (it wraps)."""
_NUMBER_WIDTH = {"float": 6, "int": 6, "bool": 6}
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?\Z")
"""A text cell written as a number where its type is ``number?`` (the input's own cells): no leading zero, no
grouping, a decimal point (``1200``, ``-3.5``; ``007``, ``1 200`` and ``2026-0001`` stay text)."""


def xlsx_cell(value: Any) -> Any:
    """A value for a workbook cell: text starting with ``=`` is kept as text, not stored as a formula."""
    if isinstance(value, str) and value.startswith("="):
        return "'" + value  # openpyxl would store it as a formula
    return value


def start_sheet(book: Any, title: str, headers: Sequence[str], keys: Sequence[str], types: dict[str, str],
                sample: Sequence[dict[str, Any]]) -> Any:
    """A new write-only sheet of ``book`` with its column widths set and its header row written and frozen."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    sheet = book.create_sheet(title)
    for i, (header, key) in enumerate(zip(headers, keys, strict=True), start=1):
        width = _width(header, key, types, sample[:50])
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="top")
    cells = []
    for header in headers:
        cell = WriteOnlyCell(sheet, value=xlsx_cell(header))
        cell.font, cell.alignment = bold, wrap
        cells.append(cell)
    sheet.append(cells)
    return sheet


def _width(header: str, key: str, types: dict[str, str], sample: Sequence[dict[str, Any]]) -> float:
    longest = max((len(str(r[key])) for r in sample if r.get(key) is not None), default=0)
    content = _NUMBER_WIDTH.get(types.get(key, ""), longest)
    longest_word = max((len(w) for w in header.split()), default=0)
    return float(max(MIN_WIDTH, min(MAX_WIDTH, max(content, min(len(header), HEADER_WIDTH), longest_word) + 2)))


def xlsx_row(sheet: Any, values: Sequence[Any], keys: Sequence[str], types: dict[str, str]) -> list[Any]:
    """The cells of one row: float cells with :data:`PROBABILITY_FORMAT`, the rest through :func:`xlsx_cell`."""
    from openpyxl.cell import WriteOnlyCell

    cells: list[Any] = []
    for value, key in zip(values, keys, strict=True):
        if types.get(key) == "number?" and isinstance(value, str) and _NUMBER.match(value):
            cells.append(float(value) if "." in value else int(value))
        elif types.get(key) == "float" and isinstance(value, float):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = PROBABILITY_FORMAT
            cells.append(cell)
        else:
            cells.append(xlsx_cell(value))
    return cells


def finish_sheet(sheet: Any, columns: int, rows: int) -> None:
    """An autofilter over the header and the ``rows`` rows under it."""
    from openpyxl.utils import get_column_letter

    if columns:
        sheet.auto_filter.ref = f"A1:{get_column_letter(columns)}{rows + 1}"
