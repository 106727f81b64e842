"""Independent audit of the DUoS numbers against the DNOs' (and IDNOs') own workbooks.

Nothing here uses the importer or config/ to get an expected value: rates are read from the
published workbook cells (openpyxl, cell named in each case), the time bands are typed by hand
from each workbook's 'Time Bands for LV and HV Designated Properties' table, UK clock time
comes from pandas' tz database, and the £ are computed with plain numpy. The product
(`core.tariffs.resolve_tariff`, `core.duos`) must agree to the penny (here: to 1e-9 £).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import zipfile

import openpyxl
import pytest

from core.paths import reference_data_dir
from core.tariffs import resolve_tariff

STATEMENTS = reference_data_dir() / "dno-charging-statements"
NOV_2026 = dt.date(2026, 11, 24)

# --------------------------------------------------------------------------- workbook cells

DNO_2026 = {
    12: "2026/12/london-power-networks-schedule-of-charges-and-other-tables-2026-v1-0.xlsx",
    14: "2026/14/MIDE - Schedule of charges and other tables- 2026 V.0.1 for publishing.xlsx",
    18: "2026/18/SPD-Schedule-of-charges-and-other-tables-2026-V0.2-Annex-6.xlsx",
    20: "2026/20/sepd---schedule-of-charges-and-other-tables--april-2026-v1.0.xlsx",
    22: "2026/22/SWEB - Schedule of charges and other tables- 2026 V.0.1 for publishing.xlsx",
}
IPNL_2026 = "2026/24/IPNL-Tariffs-2026-27.zip"
ESP_2026 = "2026/25/espe-use-of-system-charging-statement-2026-2027.zip"
ANNEX1 = "Annex 1 LV, HV and UMS charges"
RESIDUAL = "Residual Charging Bands"


@functools.cache
def _workbook(relative: str, member: str | None = None) -> openpyxl.Workbook:
    path = STATEMENTS / relative
    if member is None:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    with zipfile.ZipFile(path) as bundle:
        name = next(n for n in bundle.namelist() if n.endswith(member))
        data = bundle.read(name)
    return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)


@functools.cache
def _sheet_rows(relative: str, sheet: str, member: str | None = None) -> tuple[tuple, ...]:
    return tuple(_workbook(relative, member)[sheet].iter_rows(values_only=True))


def cell(relative: str, sheet: str, ref: str, member: str | None = None):
    """The cached value of one cell, e.g. cell(DNO_2026[14], ANNEX1, 'D21')."""
    column, row = openpyxl.utils.cell.coordinate_from_string(ref)
    values = _sheet_rows(relative, sheet, member)[row - 1]
    index = openpyxl.utils.cell.column_index_from_string(column) - 1
    return values[index] if index < len(values) else None


def tariff_cells(relative: str, sheet: str, row: int, member: str | None = None) -> dict:
    """Columns A, D-J of an Annex 1 row: name, red, amber, green, fixed, capacity, exceeded,
    reactive (blank = 0), exactly as the cells hold them."""
    def number(col: str) -> float:
        value = cell(relative, sheet, f"{col}{row}", member)
        return 0.0 if value in (None, "") else float(value)

    keys = ("red", "amber", "green", "fixed", "capacity", "exceeded", "reactive")
    out = {k: number(c) for k, c in zip(keys, "DEFGHIJ", strict=True)}
    out["name"] = str(cell(relative, sheet, f"A{row}", member)).strip()
    return out


# --------------------------------------------------------------------------- residual bands


def test_residual_band_thresholds_2026_lpn_lv_lv_sub_hv() -> None:
    # LPN 2026 'Residual Charging Bands': LV with MIC upper thresholds E10:E13 = 90, 150, 250,
    # ∞; HV E14:E17 = 500, 1100, 2000, ∞; A22: "All boundaries are inclusive of the upper
    # threshold and exclusive of the lower threshold i.e. Lower < x ≤ Upper."
    book = DNO_2026[12]
    assert [cell(book, RESIDUAL, f"E{r}") for r in range(10, 14)] == [90, 150, 250, "∞"]
    assert [cell(book, RESIDUAL, f"E{r}") for r in range(14, 18)] == [500, 1100, 2000, "∞"]
    assert "Lower < x ≤ Upper" in cell(book, RESIDUAL, "A22")
    cases = {
        "LV": [(1, 1), (90, 1), (90.5, 2), (91, 2), (150, 2), (150.5, 3), (250, 3), (250.5, 4)],
        "LV Sub": [(90, 1), (90.5, 2), (150, 2), (151, 3), (250, 3), (251, 4)],
        "HV": [(500, 1), (500.5, 2), (1100, 2), (1101, 3), (2000, 3), (2000.5, 4)],
    }
    for voltage, points in cases.items():
        for kva, band in points:
            t = resolve_tariff(12, on=NOV_2026, voltage=voltage, kva=kva)
            assert t.tariff_name == f"{voltage} Site Specific Band {band}", (voltage, kva)
            assert t.residual_band == str(band)


def test_residual_band_old_thresholds_2025_mide() -> None:
    # MIDE 2025 'Residual Charging Bands': LV with MIC E10:E12 = 80, 150, 231; HV E14:E16 =
    # 422, 1000, 1800 (the thresholds before 2026/27).
    book = "2025/14/MIDE - Schedule of charges and other tables- 2025 V.0.1 for publishing.xlsx"
    assert [cell(book, RESIDUAL, f"E{r}") for r in (10, 11, 12)] == [80, 150, 231]
    assert [cell(book, RESIDUAL, f"E{r}") for r in (14, 15, 16)] == [422, 1000, 1800]
    on = dt.date(2025, 11, 24)
    for voltage, kva, band in [("LV", 80, 1), ("LV", 85, 2), ("LV", 231, 3), ("LV", 240, 4),
                               ("HV", 422, 1), ("HV", 450, 2), ("HV", 1800, 3), ("HV", 1801, 4)]:
        t = resolve_tariff(14, on=on, voltage=voltage, kva=kva)
        assert t.tariff_name == f"{voltage} Site Specific Band {band}", (voltage, kva)


@pytest.mark.parametrize("area, letter", [(11, "B"), (15, "F"), (17, "P"), (19, "J"),
                                          (21, "K"), (23, "M")])
def test_residual_band_idno_sourced_areas_whole_kva_lower_thresholds(area, letter) -> None:
    # Bug found by this audit: the ESP 2026 workbooks (the residual bands of the IDNO-sourced
    # areas) publish the lower thresholds as the next whole kVA: 'Residual Charging Bands'
    # D10:E13 = 0-90, 91-150, 151-250, 251-∞ and D14:E17 = 0-500, 501-1100, ... with A22
    # "Lower < x ≤ Upper". Read literally, 91 kVA (and 90 < kVA < 91) was in no band and the
    # lookup failed; the bands are contiguous, so 91 kVA is band 2.
    member = f"GSP_{letter} ESP Electricity  - Schedule of charges and other tables - 2026.xlsx"
    assert cell(ESP_2026, RESIDUAL, "E10", member) == 90
    assert cell(ESP_2026, RESIDUAL, "D11", member) == 91
    assert cell(ESP_2026, RESIDUAL, "E14", member) == 500
    assert cell(ESP_2026, RESIDUAL, "D15", member) == 501
    for voltage, kva, band in [("LV", 90, 1), ("LV", 90.5, 2), ("LV", 91, 2), ("LV", 150, 2),
                               ("LV", 150.5, 3), ("LV", 251, 4), ("LV Sub", 91, 2),
                               ("HV", 500, 1), ("HV", 500.5, 2), ("HV", 501, 2),
                               ("HV", 2001, 4)]:
        t = resolve_tariff(area, on=NOV_2026, voltage=voltage, kva=kva)
        assert t.tariff_name == f"{voltage} Site Specific Band {band}", (area, voltage, kva)
