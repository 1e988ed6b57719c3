"""Exporting customer lists as CSV that spreadsheets open safely.

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula (and a leading tab or carriage return can hide one): a member id such as
``=HYPERLINK("http://…","click")`` sent by a visitor would become a live link or worse in the
marketer's sheet. Every text cell of an export goes through ``spreadsheet_safe``, which puts an
apostrophe in front of such a cell (OWASP's advice): the sheet shows the text as text. Numbers
are written as numbers."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import IO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """``value`` as a CSV cell: None → empty, text starting like a formula → ``'`` + text, any
    other value unchanged."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(out: IO[str], header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Write ``header`` and ``rows`` to ``out`` as CSV, every cell through ``spreadsheet_safe``;
    the number of rows written."""
    writer = csv.writer(out)
    writer.writerow([spreadsheet_safe(h) for h in header])
    count = 0
    for row in rows:
        writer.writerow([spreadsheet_safe(v) for v in row])
        count += 1
    return count
