"""Import one workbook: Annex 1 tariffs, HH/UMS time bands, Annex 2 EHV sites, residual bands."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bess_duos.core.tariff_import.annex1 import TariffRow, tariff_rows
from bess_duos.core.tariff_import.annex2 import EhvRow, ehv_rows
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


def stated_year(book: Workbook, sheet: str) -> int | None:
    """The charging year the sheet's title states ('Effective from 1 April 2026' -> 2026)."""
    for row in book.rows(sheet)[:4]:
        for value in row:
            match = _EFFECTIVE.search(norm(value))
            if match:
                return int(match.group(1))
    return None


def import_workbook(
    book: Workbook, distributor_id: int, year: int, *, with_ehv: bool = True
) -> ImportedWorkbook:
    """Read every table the product uses; raises `TariffImportError` naming workbook and table."""
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
            result.annex2_sheet = annex2
            result.super_red = super_red_table(book, annex2)
            result.ehv = ehv_rows(book, annex2)
    residual = book.find_sheet("residual", table="Residual Charging Bands", required=False)
    if residual is not None:
        result.residual_sheet = residual
        result.residual = residual_bands(book, residual)
    return result
