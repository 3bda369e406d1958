"""The one CSV writer for every export: cells that a spreadsheet would run as a formula are neutralised.

A text cell starting with =, +, -, @, a tab or a carriage return is prefixed with a single quote, so Excel,
LibreOffice and Google Sheets show it as text instead of evaluating it (CSV/formula injection, OWASP). Numbers stay
numbers: int, Decimal and float cells, and text that is a plain number such as "-12.50" or "+3", are written as is.
"""

from __future__ import annotations

import csv
import re

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def safe_cell(value):
    """The value as it may go into a CSV cell."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


class SafeCsvWriter:
    """csv.writer with every cell passed through safe_cell."""

    def __init__(self, stream, **kwargs):
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row):
        return self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows):
        for row in rows:
            self.writerow(row)


def csv_writer(stream, **kwargs) -> SafeCsvWriter:
    return SafeCsvWriter(stream, **kwargs)


__all__ = ["csv_writer", "safe_cell"]
