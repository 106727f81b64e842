"""Read a charging-statement workbook (a file, or a member of an IDNO zip) into plain rows.

Only the sheets the importer needs are read, with openpyxl in read-only, values-only mode
(cached formula results, exactly as the DNO published them).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
from bess_duos.core.tariff_import.errors import TariffImportError

Rows = list[tuple[Any, ...]]


def norm(value: Any) -> str:
    """Cell text, lower-cased, with runs of whitespace (incl. newlines) as one space."""
    return re.sub(r"\s+", " ", str(value)).strip().lower() if value is not None else ""


@dataclass
class Workbook:
    """The sheets of one workbook, read once; `name` is what `source_file` records."""

    name: str
    sheets: dict[str, Rows] = field(default_factory=dict)
    sheet_names: list[str] = field(default_factory=list)

    def find_sheet(self, *keywords: str, table: str, required: bool = True) -> str | None:
        """The first sheet whose name contains every keyword (case-insensitive)."""
        for sheet in self.sheet_names:
            if all(k.lower() in sheet.lower() for k in keywords):
                return sheet
        if required:
            raise TariffImportError(
                self.name, table, f"no sheet named like {' '.join(keywords)!r} "
                f"(sheets: {', '.join(self.sheet_names)})"
            )
        return None

    def rows(self, sheet: str) -> Rows:
        return self.sheets[sheet]


# Sheets the importer reads (Annex 1, Annex 2 but not 2a/2b, residual bands; and a DNO's
# Annex 3 and 4); others are skipped (read-only mode reads sheets lazily).
WANTED = re.compile(r"^\s*(annex 1\b|annex 2 |.*residual)", re.IGNORECASE)
WANTED_DNO = re.compile(r"^\s*(annex [134]\b|annex 2 |.*residual)", re.IGNORECASE)


def _load(source: Any, name: str, wanted: re.Pattern[str] = WANTED) -> Workbook:
    try:
        book = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise TariffImportError(name, "workbook", f"cannot be opened: {exc}") from exc
    try:
        result = Workbook(name=name, sheet_names=list(book.sheetnames))
        for sheet in book.worksheets:
            if wanted.match(sheet.title):
                result.sheets[sheet.title] = [tuple(r) for r in sheet.iter_rows(values_only=True)]
        return result
    finally:
        book.close()


def read_workbook(path: Path) -> Workbook:
    """A DNO workbook on disk (with its Annex 3 and Annex 4 sheets)."""
    return _load(path, path.name, WANTED_DNO)


def read_zip_member(zip_path: Path, member: str) -> Workbook:
    """One workbook inside an IDNO zip bundle; its name is the member's file name."""
    with zipfile.ZipFile(zip_path) as bundle:
        data = bundle.read(member)
    return _load(io.BytesIO(data), Path(member).name)


def find_cell(rows: Rows, predicate, start: int = 0) -> tuple[int, int] | None:
    """(row index, column index), 0-based, of the first cell whose normalised text matches."""
    for r in range(start, len(rows)):
        for c, value in enumerate(rows[r]):
            if value is not None and predicate(norm(value)):
                return r, c
    return None


def cell(rows: Rows, r: int, c: int) -> Any:
    """rows[r][c], or None past the end of a short row."""
    if r >= len(rows):
        return None
    row = rows[r]
    return row[c] if c < len(row) else None
