"""CSV cells that a spreadsheet will not run: formula injection neutralised on export.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return, which
some spreadsheets skip before looking) is read as a formula by Excel, LibreOffice and
Google Sheets. Text that users wrote (site names, addresses, reasons) reaches the readiness
and SLA exports, so every text cell written there passes through :func:`neutralise`,
which prefixes such a cell with an apostrophe (the OWASP recommendation): the sheet shows
the text, and runs nothing. Numbers are not text and pass unchanged.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import Any

#: First characters that make a spreadsheet evaluate a cell.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """``value`` made inert for a spreadsheet: text starting a formula gets a ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` whose every text cell is :func:`neutralise`\\ d."""

    def __init__(self, stream: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row: Iterable[Any]) -> None:
        """Write one row."""
        self._writer.writerow([neutralise(v) for v in row])


class SafeDictWriter(csv.DictWriter):  # type: ignore[type-arg]
    """``csv.DictWriter`` whose every text cell (not the header) is neutralised."""

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        """Write one row."""
        return super().writerow({k: neutralise(v) for k, v in rowdict.items()})
