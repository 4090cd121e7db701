"""CSV for spreadsheets, the one place exports are written (the audit export, the not-enrolled list).

Threat: CSV injection (OWASP "CSV Injection"). A cell that starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return is run as a formula by Excel or LibreOffice when the administrator opens
the file, so a user who signs up as ``=HYPERLINK(...)`` could act in their spreadsheet. Such a cell
gets a leading apostrophe (shown as text, the value otherwise intact). Every cell goes through
``safe_cell``: ``csv_row`` applies it to all of them, so no column can be forgotten.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """``value`` as text, with a leading apostrophe when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_row(values: Iterable[object]) -> str:
    """One CSV line (RFC 4180 quoting, CRLF), every cell through ``safe_cell``."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(value) for value in values])
    return buffer.getvalue()
