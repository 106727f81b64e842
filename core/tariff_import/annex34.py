"""Annex 3 (preserved / closed tariffs) and Annex 4 (LDNO tariffs) of a DNO workbook.

Annex 3 holds two tables, "Supercustomer preserved charges" and "Site Specific preserved
charges", each headed by a row whose second cell reads `Closed LLFCs` (the name column has no
heading) and ending at the `Notes:` row. Annex 4 has one table headed `Tariff name`, with a
`Unique billing identifier` column (the DNO's identifier for billing the LDNO, not an LLFC);
each name starts with the LDNO's connection boundary ("LDNO HV: LV Site Specific Band 1").
"""

from __future__ import annotations

import re
from dataclasses import replace

from bess_duos.core.tariff_import.annex1 import (
    COLUMNS,
    TariffRow,
    classify,
    header_columns,
    table_rows,
)
from bess_duos.core.tariff_import.errors import TariffImportError
from bess_duos.core.tariff_import.workbook import Workbook, find_cell

ANNEX3_TABLE = "Annex 3 preserved tariff table (heading 'Closed LLFCs')"
ANNEX4_TABLE = "Annex 4 LDNO tariff table (heading 'Tariff name')"
ANNEX4_COLUMNS = (("billing_ids", lambda t: t.startswith("unique billing identifier")),
                  *COLUMNS)
_BOUNDARY = re.compile(r"^\s*(LDNO\s+[^:]+?)\s*:\s*(.+)$", re.IGNORECASE)
CHARGES = ("red_p_per_kwh", "amber_p_per_kwh", "green_p_per_kwh")


def annex3_rows(book: Workbook, sheet: str) -> list[TariffRow]:
    """Every preserved tariff row of both Annex 3 tables ([] when the DNO publishes none)."""
    rows = book.rows(sheet)
    out: list[TariffRow] = []
    headers = 0
    start = 0
    while True:
        found = find_cell(rows, lambda t: t.startswith("closed llfc"), start)
        if found is None:
            break
        r, c = found
        headers += 1
        columns = header_columns(rows[r])
        missing = [f for f in ("closed_llfcs", *CHARGES) if f not in columns]
        if missing:
            raise TariffImportError(book.name, ANNEX3_TABLE,
                                    f"header row {r + 1} has no column for {', '.join(missing)}")
        columns["tariff_name"] = c - 1  # the unheaded column left of 'Closed LLFCs'
        out += table_rows(book.name, ANNEX3_TABLE, sheet, rows, r, columns,
                          stop=lambda name: name.startswith("notes"))
        start = r + 1
    if headers == 0:
        raise TariffImportError(book.name, ANNEX3_TABLE, f"sheet {sheet!r}: no 'Closed LLFCs' "
                                "heading")
    return out


def annex4_rows(book: Workbook, sheet: str) -> list[TariffRow]:
    """Every LDNO tariff row of Annex 4, classified by the end-user tariff after the prefix."""
    rows = book.rows(sheet)
    found = find_cell(rows, lambda t: t == "tariff name")
    if found is None:
        raise TariffImportError(book.name, ANNEX4_TABLE, f"sheet {sheet!r}: no 'Tariff name'")
    r, _ = found
    columns = header_columns(rows[r], ANNEX4_COLUMNS)
    missing = [f for f in ("tariff_name", "billing_ids", *CHARGES) if f not in columns]
    if missing:
        raise TariffImportError(book.name, ANNEX4_TABLE,
                                f"header row {r + 1} has no column for {', '.join(missing)}")
    out = []
    for row in table_rows(book.name, ANNEX4_TABLE, sheet, rows, r, columns):
        match = _BOUNDARY.match(row.tariff_name)
        if match is None:
            raise TariffImportError(book.name, ANNEX4_TABLE, f"row {row.row}: "
                                    f"{row.tariff_name!r} does not start 'LDNO <boundary>:'")
        voltage, metering, generation, band = classify(match.group(2))
        out.append(replace(row, voltage_level=voltage, metering=metering,
                           is_generation=generation, residual_band=band))
    if not out:
        raise TariffImportError(book.name, ANNEX4_TABLE, f"no rows below header row {r + 1}")
    return out


def ldno_boundary(tariff_name: str) -> str:
    """'LDNO HVplus: LV Site Specific Band 1' -> 'LDNO HVplus' ('' for other names)."""
    match = _BOUNDARY.match(tariff_name)
    return " ".join(match.group(1).split()) if match else ""
