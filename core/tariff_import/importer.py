"""Import one workbook: Annex 1 tariffs, HH/UMS time bands, Annex 2 EHV sites, residual bands."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bess_duos.core.tariff_import.annex1 import TariffRow, tariff_rows
from bess_duos.core.tariff_import.annex2 import EhvRow, ehv_rows
from bess_duos.core.tariff_import.annex34 import annex3_rows, annex4_rows
from bess_duos.core.tariff_import.errors import TariffImportError
from bess_duos.core.tariff_import.residual import ResidualBand, residual_bands
from bess_duos.core.tariff_import.timeband_table import (
    BandTable,
    hh_time_bands,
    super_red_table,
    ums_table,
)
from bess_duos.core.tariff_import.workbook import Workbook, norm
from bess_duos.core.timebands import TimeBands

_EFFECTIVE = re.compile(r"effective (?:from 1 april|between 01/04/)\s*(\d{4})")


@dataclass
class ImportedWorkbook:
    """Everything read from one workbook for one distributor (or IDNO in one area) and year."""

    workbook: str
    distributor_id: int
    year: int
    tariffs: list[TariffRow]
    time_bands: TimeBands
    hh_table: BandTable
    annex1_sheet: str
    ums: BandTable | None = None
    super_red: BandTable | None = None
    annex2_sheet: str | None = None
    ehv: list[EhvRow] = field(default_factory=list)
    residual: list[ResidualBand] = field(default_factory=list)
    residual_sheet: str | None = None
    annex2_unreadable: str | None = None  # why Annex 2 was left out (only when not required)
    annex3: list[TariffRow] | None = None  # None: not read (IDNO workbooks); []: none published
    annex4: list[TariffRow] | None = None
    annex4_band_findings: list[str] = field(default_factory=list)  # Annex 4 vs Annex 1 bands

    @property
    def ehv_sites(self) -> list[EhvRow]:
        """Annex 2 rows that are sites (a name and a super red rate), not 'we have none' text."""
        return [r for r in self.ehv if r.values.get("name") and any(
            isinstance(r.values.get(f"{side}_super_red_p_per_kwh"), int | float)
            for side in ("import", "export"))]


def _annex4_bands(book: Workbook, sheet: str, annex1: ImportedWorkbook) -> list[str]:
    """Where Annex 4's own HH and UMS time-band tables differ from Annex 1's ([] if equal)."""
    found: list[str] = []
    try:
        hh, _ = hh_time_bands(book, sheet, annex1.distributor_id, annex1.year)
    except TariffImportError as exc:
        found.append(f"Annex 4 HH time bands not read: {exc}")
    else:
        if (hh.slot_table() != annex1.time_bands.slot_table()).any():
            found.append(f"Annex 4 HH time bands ({hh.source}) differ from Annex 1's")
    ums, mine = ums_table(book, sheet), annex1.ums
    if ums is not None and ums.periods and mine is not None and mine.periods:
        a, b = (TimeBands(0, 0, tuple(t.periods)).slot_table() for t in (ums, mine))
        if (a != b).any():
            found.append(f"Annex 4 UMS time bands (rows {ums.first_row}-{ums.last_row}) "
                         "differ from Annex 1's")
    elif bool(ums and ums.periods) != bool(mine and mine.periods):
        found.append("Annex 4 and Annex 1 UMS time-band tables are not both structured")
    return found


def stated_year(book: Workbook, sheet: str) -> int | None:
    """The charging year the sheet's title states ('Effective from 1 April 2026' -> 2026)."""
    for row in book.rows(sheet)[:4]:
        for value in row:
            match = _EFFECTIVE.search(norm(value))
            if match:
                return int(match.group(1))
    return None


def import_workbook(
    book: Workbook, distributor_id: int, year: int, *, with_ehv: bool = True,
    ehv_required: bool = True, annexes_3_4: bool = False,
) -> ImportedWorkbook:
    """Read every table the product uses; raises `TariffImportError` naming workbook and table.

    With `ehv_required=False` (IDNO workbooks, whose Annex 2 lists their own few EHV sites if
    any) an unreadable Annex 2 is recorded in `annex2_unreadable` instead of failing the book.
    `annexes_3_4` (DNO workbooks) also reads Annex 3 (preserved) and Annex 4 (LDNO) tariffs.
    """
    annex1 = book.find_sheet("annex 1", table="Annex 1 (LV, HV and UMS charges)")
    stated = stated_year(book, annex1)
    if stated is not None and stated != year:
        raise TariffImportError(
            book.name, "Annex 1 title",
            f"states charging year {stated}/{(stated + 1) % 100:02d}, not {year}: check --year",
        )
    bands, hh = hh_time_bands(book, annex1, distributor_id, year)
    result = ImportedWorkbook(
        workbook=book.name, distributor_id=distributor_id, year=year,
        tariffs=tariff_rows(book, annex1), time_bands=bands, hh_table=hh,
        annex1_sheet=annex1, ums=ums_table(book, annex1),
    )
    if with_ehv:
        annex2 = next((s for s in book.sheet_names if re.match(r"annex 2 ", s.lower())), None)
        if annex2 is not None:
            try:
                super_red, ehv = super_red_table(book, annex2), ehv_rows(book, annex2)
            except TariffImportError as exc:
                if ehv_required:
                    raise
                result.annex2_unreadable = str(exc)
            else:
                result.annex2_sheet, result.super_red, result.ehv = annex2, super_red, ehv
    if annexes_3_4:
        result.annex3 = annex3_rows(book, book.find_sheet("annex 3", table="Annex 3 (preserved)"))
        annex4 = book.find_sheet("annex 4", table="Annex 4 (LDNO)")
        result.annex4 = annex4_rows(book, annex4)
        result.annex4_band_findings = _annex4_bands(book, annex4, result)
    residual = book.find_sheet("residual", table="Residual Charging Bands", required=False)
    if residual is not None:
        result.residual_sheet = residual
        result.residual = residual_bands(book, residual)
    return result
