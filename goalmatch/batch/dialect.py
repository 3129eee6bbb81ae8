"""How a written CSV/TSV looks: its delimiter, encoding and decimal mark (``goalmatch score --dialect``).

A Swedish Excel opens a double-clicked ``.csv`` by its own list separator (``;``) and
decimal mark (``,``): a comma-separated file lands in column A. So the output and the
rejects file are by default written the way the input was (``auto``); named dialects:

- ``excel-sv``: ``;``, decimal comma, UTF-8 with a byte-order mark (Excel 2016 and later
  read it; unlike Windows-1252 it holds every character, so no text is ever lost);
- ``excel``: ``,``, decimal point, UTF-8 with a byte-order mark (an English-locale Excel;
  what ``goalmatch score`` wrote before dialects, and ``auto``'s choice when the input is
  not a CSV/TSV: Excel, JSONL, Parquet);
- ``utf8``: ``,``, decimal point, UTF-8 without a byte-order mark (for programs).

``auto`` mirrors a CSV/TSV input: its delimiter, its encoding (the byte-order mark kept or
left out as it was; Windows-1252 stays Windows-1252), and a decimal comma when the
delimiter is ``;``. A ``.tsv`` output is always tab-separated. A file in a single-byte code
page that meets a character the code page lacks (``€`` is in Windows-1252, ``ő`` or ``→``
are not) is written whole in UTF-8 with a byte-order mark instead, and a warning says so:
no character is replaced or dropped (:func:`goalmatch.batch.writers.publish`).

>>> DIALECTS["excel-sv"]
Dialect(name='excel-sv', delimiter=';', encoding='utf-8-sig', decimal=',')
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from goalmatch.errors import BatchError

if TYPE_CHECKING:
    from goalmatch.batch.tables import Table

__all__ = ["DEFAULT", "DIALECTS", "DIALECT_NAMES", "Dialect", "choose_dialect"]


@dataclass(frozen=True)
class Dialect:
    """A CSV/TSV writing convention. ``encoding`` is a Python codec name (``utf-8-sig`` writes the BOM)."""

    name: str
    delimiter: str = ","
    encoding: str = "utf-8-sig"
    decimal: str = "."

    @property
    def single_byte(self) -> bool:
        """Whether the encoding is a code page that cannot hold every character (Windows-1252, Latin-1, …)."""
        return not codecs.lookup(self.encoding).name.startswith("utf")

    def fallback(self) -> Dialect:
        """The same dialect in UTF-8 with a BOM: for a file with characters the code page lacks."""
        return replace(self, encoding="utf-8-sig")


DIALECTS = {
    "excel-sv": Dialect("excel-sv", ";", "utf-8-sig", ","),
    "excel": Dialect("excel", ",", "utf-8-sig", "."),
    "utf8": Dialect("utf8", ",", "utf-8", "."),
}
DIALECT_NAMES = ("auto", *DIALECTS)
DEFAULT = DIALECTS["excel"]
"""``auto``'s dialect for an input that is no CSV/TSV."""


def choose_dialect(name: str, table: Table | None) -> Dialect:
    """The dialect ``name`` (one of :data:`DIALECT_NAMES`) names; ``auto`` mirrors ``table`` (see above)."""
    if name != "auto":
        if name not in DIALECTS:
            raise BatchError(f"unknown dialect {name!r}; expected one of {', '.join(DIALECT_NAMES)}")
        return DIALECTS[name]
    if table is None or table.format not in ("csv", "tsv") or not table.encoding:
        return DEFAULT
    delimiter = table.delimiter or ","
    return Dialect("auto", delimiter, table.encoding, "," if delimiter == ";" else ".")
