"""Independent audit of the DUoS numbers against the DNOs' (and IDNOs') own workbooks.

Nothing here uses the importer or config/ to get an expected value: rates are read from the
published workbook cells (openpyxl, cell named in each case), the time bands are typed by hand
from each workbook's 'Time Bands for LV and HV Designated Properties' table, UK clock time
comes from pandas' tz database, and the £ are computed with plain numpy. The product
(`core.tariffs.resolve_tariff`, `core.duos`) must agree to the penny (here: to 1e-9 £).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import io
import json
import re
import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest
from bess_duos.core.duos import duos_charges, duos_for_site
from bess_duos.core.paths import reference_data_dir
from bess_duos.core.tariffs import TariffQuery, load_time_bands, resolve_tariff

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
DNO_2027 = {
    14: "2027/14/MIDE - Schedule of charges and other tables- 2027 V.0.1 for publishing.xlsx",
}
IPNL_2026 = "2026/24/IPNL-Tariffs-2026-27.zip"
IPNL_2027 = "2027/24/IPNL-Schedule-Of-Charges-2027-2028.zip"
ESP_2026 = "2026/25/espe-use-of-system-charging-statement-2026-2027.zip"
# The IDNO workbook (zip, member) each IDNO-sourced area's 2026 tariffs come from.
IDNO_MEMBERS_2026 = {
    11: (IPNL_2026, "GSP B - Schedule of Charges and other tables IPNL 2026-2027.xlsx"),
    15: (IPNL_2026, "GSP F - Schedule of Charges and other tables IPNL 2026-2027.xlsx"),
    17: (ESP_2026, "GSP_P ESP Electricity  - Schedule of charges and other tables - 2026.xlsx"),
    19: (IPNL_2026, "GSP J - Schedule of Charges and other tables IPNL 2026-2027.xlsx"),
    21: (IPNL_2026, "GSP K - Schedule of Charges and other tables IPNL 2026-2027.xlsx"),
    23: (IPNL_2026, "GSP M - Schedule of Charges and other tables IPNL 2026-2027.xlsx"),
}
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


def annex1(relative: str, member: str | None = None) -> str:
    """The workbook's Annex 1 sheet name ('Annex 1 LV, HV and UMS charges' or, in most IPNL
    workbooks, 'Annex 1 LV and HV charges')."""
    return next(n for n in _workbook(relative, member).sheetnames if n.startswith("Annex 1"))


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


# --------------------------------------------------------------------------- time bands

# HH time bands typed from each workbook's 'Time Bands for LV and HV Designated Properties'
# table (Annex 1 sheet, rows 5-9; 'Monday to Friday (Including Bank Holidays) All Year' and
# 'Saturday and Sunday All Year'), 2026/27. Red and amber spans; every other half hour is green.
# (weekday {band: spans}, weekend {band: spans})
R, A = "red", "amber"
TYPED_BANDS_2026 = {
    # IPNL GSP A, B6:E7: red 16:00-19:00; amber 07:00-16:00, 19:00-23:00; weekend green.
    10: ({R: ["16:00-19:00"], A: ["07:00-16:00", "19:00-23:00"]}, {}),
    # IPNL GSP B, B6:E7: red 16:00-19:00; amber 07:30 to 16:00, 19:00 to 21:00.
    11: ({R: ["16:00-19:00"], A: ["07:30-16:00", "19:00-21:00"]}, {}),
    # LPN, B6:E7: two red periods, 11:00-14:00 and 16:00-19:00.
    12: ({R: ["11:00-14:00", "16:00-19:00"], A: ["07:00-11:00", "14:00-16:00", "19:00-23:00"]},
         {}),
    # IPNL GSP D, B6:E7: red 16.30-19.30; amber 08.00-16.30, 19.30-22.30; weekend amber
    # 16.00-20.00.
    13: ({R: ["16:30-19:30"], A: ["08:00-16:30", "19:30-22:30"]}, {A: ["16:00-20:00"]}),
    # MIDE, B6:E7: red 16:00-19:00; amber 07:30 to 16:00, 19:00 to 21:00.
    14: ({R: ["16:00-19:00"], A: ["07:30-16:00", "19:00-21:00"]}, {}),
    # IPNL GSP F, B6:E7: red 16:00 to 19:30; amber 08:00 to 16:00, 19:30 to 22:00.
    15: ({R: ["16:00-19:30"], A: ["08:00-16:00", "19:30-22:00"]}, {}),
    # ESP GSP_G, B6:E7: red 16:00-19:00; amber 09:00-16:00, 19:00-20:30; weekend amber 16-19.
    16: ({R: ["16:00-19:00"], A: ["09:00-16:00", "19:00-20:30"]}, {A: ["16:00-19:00"]}),
    # ESP GSP_P, B6:E9: red 16:00-19:00; amber 07:00-16:00, 19:00-21:00; weekend amber 12-20.
    17: ({R: ["16:00-19:00"], A: ["07:00-16:00", "19:00-21:00"]}, {A: ["12:00-20:00"]}),
    # SPD, B6:E7: red 16.30-19.30; amber 08.00-16.30, 19.30-22.30; weekend amber 16.00-20.00.
    18: ({R: ["16:30-19:30"], A: ["08:00-16:30", "19:30-22:30"]}, {A: ["16:00-20:00"]}),
    # IPNL GSP J, B6:E7: as Eastern.
    19: ({R: ["16:00-19:00"], A: ["07:00-16:00", "19:00-23:00"]}, {}),
    # SEPD, B6:E9: red 16:30-19:30; amber 07:00-16:30, 19:30-22:00; weekend amber 09:30-21:30.
    20: ({R: ["16:30-19:30"], A: ["07:00-16:30", "19:30-22:00"]}, {A: ["09:30-21:30"]}),
    # IPNL GSP K, B6:E7: red 17:00 to 19:30; amber 07:30-17:00, 19:30-22:00; weekend amber
    # 12:00 to 13:00 and 16:00 to 21:00.
    21: ({R: ["17:00-19:30"], A: ["07:30-17:00", "19:30-22:00"]},
         {A: ["12:00-13:00", "16:00-21:00"]}),
    # SWEB, B7:E8: red 17:00 to 19:00; amber 07:30-17:00, 19:00-21:30; weekend amber 16:30-19:30.
    22: ({R: ["17:00-19:00"], A: ["07:30-17:00", "19:00-21:30"]}, {A: ["16:30-19:30"]}),
    # IPNL GSP M, B6:E7: red 16:00 to 19:30; amber 08:00 to 16:00, 19:30 to 22:00.
    23: ({R: ["16:00-19:30"], A: ["08:00-16:00", "19:30-22:00"]}, {}),
}
BAND_INDEX = {"red": 0, "amber": 1, "green": 2}


def _slot(hhmm: str) -> int:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return hours * 2 + minutes // 30


def typed_table(area: int) -> np.ndarray:
    """[day type (0 weekday, 1 weekend), slot] -> band index, from TYPED_BANDS_2026."""
    table = np.full((2, 48), BAND_INDEX["green"])
    for day, rules in enumerate(TYPED_BANDS_2026[area]):
        for band, spans in rules.items():
            for span in spans:
                start, end = span.split("-")
                table[day, _slot(start):_slot(end)] = BAND_INDEX[band]
    return table


def test_typed_bands_match_the_workbook_cells() -> None:
    # A few of the cells the table above was typed from, so a typo in it cannot hide.
    assert cell(DNO_2026[12], ANNEX1, "B6") == "11:00 - 14:00\n16:00 - 19:00"
    assert cell(DNO_2026[18], ANNEX1, "B6") == "16.30 - 19.30"
    assert cell(DNO_2026[20], ANNEX1, "C9") == "09:30 - 21:30"
    assert cell(DNO_2026[22], ANNEX1, "C8") == "16:30 to 19:30"
    book, member = IDNO_MEMBERS_2026[21]
    assert cell(book, annex1(book, member), "C7", member) == "12:00 to 13:00\n16:00 to 21:00"
    book, member = IDNO_MEMBERS_2026[23]
    assert cell(book, annex1(book, member), "B6", member) == "16:00 to 19:30"
    assert "Including Bank Holidays" in cell(DNO_2026[14], ANNEX1, "A6")


DNO_OR_IDNO_2026 = {
    **{a: (book, None) for a, book in DNO_2026.items()},
    **IDNO_MEMBERS_2026,
    10: (IPNL_2026, "GSP A - Schedule of Charges and other tables IPNL 2026-2027.xlsx"),
    13: (IPNL_2026, "GSP D - Schedule of Charges and other tables IPNL 2026-2027.xlsx"),
    16: (ESP_2026, "GSP_G ESP Electricity  - Schedule of charges and other tables - 2026.xlsx"),
}


def _published_spans(text) -> list[str]:
    """'16.30 - 19.30' / '07:30 to 16:00' lines -> ['16:30-19:30', '07:30-16:00']."""
    out = []
    for line in str(text or "").splitlines():
        times = [t.replace(".", ":") for t in re.findall(r"\d{1,2}[:.]\d{2}", line)]
        if times:
            out.append("-".join(f"{int(t[:-3]):02d}:{t[-2:]}" for t in times))
    return out


@pytest.mark.parametrize("area", sorted(TYPED_BANDS_2026))
def test_typed_red_and_amber_spans_are_the_published_cells(area) -> None:
    # Columns B (red) and C (amber) of the HH table's day rows (A5:E9 of the Annex 1 sheet):
    # 'Monday to Friday ...' rows are weekdays, 'Saturday and Sunday ...' rows weekends.
    book, member = DNO_OR_IDNO_2026[area]
    sheet = annex1(book, member)
    published: tuple[dict, dict] = ({}, {})
    for row in range(5, 11):
        label = str(cell(book, sheet, f"A{row}", member) or "")
        day = 0 if label.startswith("Monday to Friday") else 1 if "Saturday" in label else None
        if day is None:
            continue
        for band, column in ((R, "B"), (A, "C")):
            spans = _published_spans(cell(book, sheet, f"{column}{row}", member))
            if spans:
                published[day].setdefault(band, []).extend(spans)
    assert published == TYPED_BANDS_2026[area]


@pytest.mark.parametrize("area", sorted(TYPED_BANDS_2026))
def test_load_time_bands_2026_equals_typed_bands(area) -> None:
    # Every month the same (all these HH tables say 'All Year').
    table = load_time_bands(area, 2026).slot_table()
    expected = typed_table(area)
    for month in range(12):
        assert (table[month] == expected).all(), (area, month + 1)


# --------------------------------------------------------------------------- one-week bills


def uk_week(first_day: str) -> pd.DataFrame:
    """Every half hour of 7 UK days from `first_day` (UTC index) with a distinct kWh each."""
    start = pd.Timestamp(first_day).tz_localize("Europe/London")
    end = (pd.Timestamp(first_day) + pd.Timedelta(days=7)).tz_localize("Europe/London")
    index = pd.date_range(start.tz_convert("UTC"), end.tz_convert("UTC"), freq="30min",
                          inclusive="left")
    return pd.DataFrame({"kwh": 1.0 + 0.013 * np.arange(index.size)}, index=index)


def hand_bill(profile: pd.DataFrame, area: int, rates_by_year: dict[int, dict], kva: float):
    """(unit £, fixed £, capacity £, band index per half hour) by the typed bands, UK clock."""
    local = profile.index.tz_convert("Europe/London")
    slot = np.asarray(local.hour * 2 + local.minute // 30)
    weekend = np.asarray(local.day_of_week >= 5).astype(int)
    band = typed_table(area)[weekend, slot]
    dates = np.asarray(local.date)
    year = np.array([d.year if d.month >= 4 else d.year - 1 for d in dates])
    unit = fixed = capacity = 0.0
    for y, rates in rates_by_year.items():
        mine = year == y
        per_band = np.array([rates["red"], rates["amber"], rates["green"]])
        unit += float((profile["kwh"].to_numpy()[mine] * per_band[band[mine]]).sum()) / 100
        days = len(set(dates[mine]))
        fixed += rates["fixed"] * days / 100
        capacity += rates["capacity"] * kva * days / 100
    return unit, fixed, capacity, band


def _rates(area: int, voltage: str, year: int = 2026) -> dict:
    """Residual band 2 site-specific rows (the band of 100 kVA LV / 600 kVA HV, both years)."""
    if year == 2026 and area in DNO_2026:
        book, member = DNO_2026[area], None
    elif year == 2027 and area in DNO_2027:
        book, member = DNO_2027[area], None
    elif year == 2026:
        book, member = IDNO_MEMBERS_2026[area]
    else:
        book, member = IPNL_2027, "GSP M - Schedule of Charges and other tables IPNL 2027-2028.xlsx"
    # Row of 'LV/HV Site Specific Band 2' in column A: LPN, SPD, SWEB 23/33; MIDE 22/32; SEPD
    # 24/34; IPNL and ESP 24/34. The name cell is checked below.
    rows = {12: (23, 33), 14: (22, 32), 18: (23, 33), 20: (24, 34), 22: (23, 33)}
    lv_row, hv_row = rows.get(area, (24, 34)) if member is None else (24, 34)
    rates = tariff_cells(book, annex1(book, member), lv_row if voltage == "LV" else hv_row,
                         member)
    assert rates["name"] == f"{voltage} Site Specific Band 2", (area, year, rates["name"])
    return rates


KVA = {"LV": 100.0, "HV": 600.0}  # band 2 by every year's thresholds (90 < 100 <= 150, ...)


def _assert_bill(profile, area, voltage, rates_by_year) -> None:
    kva = KVA[voltage]
    unit, fixed, capacity, band = hand_bill(profile, area, rates_by_year, kva)
    result = duos_for_site(profile, TariffQuery(area, voltage=voltage, kva=kva))
    s = result.summary
    assert s.unit_gbp == pytest.approx(unit, abs=1e-9)
    assert s.fixed_gbp == pytest.approx(fixed, abs=1e-9)
    assert s.capacity_gbp == pytest.approx(capacity, abs=1e-9)
    assert s.exceeded_capacity_gbp == 0  # max 2 x 5.4 kWh / 0.95 = 11.4 kVA < agreed
    assert s.total_gbp == pytest.approx(unit + fixed + capacity, abs=1e-9)
    assert (result.frame["band"].cat.codes.to_numpy() == band).all()
    if len(rates_by_year) == 1:  # the same through resolve_tariff + duos_charges
        (year,) = rates_by_year
        tariff = resolve_tariff(area, on=dt.date(year, 11, 24), voltage=voltage, kva=kva)
        again = duos_charges(profile, tariff, agreed_kva=kva).summary
        assert again.total_gbp == pytest.approx(unit + fixed + capacity, abs=1e-9)


@pytest.mark.parametrize("voltage", ["LV", "HV"])
@pytest.mark.parametrize("area", [12, 14, 18, 20, 22, 11, 23])
def test_june_week_bill_equals_hand_computation(area, voltage) -> None:
    # Mon 15 - Sun 21 June 2026, BST (UTC + 1): a band placed by UTC would be an hour out.
    profile = uk_week("2026-06-15")
    assert len(profile) == 7 * 48
    _assert_bill(profile, area, voltage, {2026: _rates(area, voltage)})


@pytest.mark.parametrize("area", [14, 20, 22, 23])
def test_october_clock_change_week(area) -> None:
    # Mon 19 - Sun 25 October 2026; the clock goes back on Sunday 25th (50 half hours), so
    # 01:00-02:00 happens twice, and after it the bands follow GMT clock time.
    profile = uk_week("2026-10-19")
    assert len(profile) == 7 * 48 + 2
    for voltage in ("LV", "HV"):
        _assert_bill(profile, area, voltage, {2026: _rates(area, voltage)})


@pytest.mark.parametrize("area", [18, 20])
def test_march_clock_change_week(area) -> None:
    # Mon 22 - Sun 28 March 2027; the clock goes forward on Sunday 28th (46 half hours).
    profile = uk_week("2027-03-22")
    assert len(profile) == 7 * 48 - 2
    for voltage in ("LV", "HV"):
        _assert_bill(profile, area, voltage, {2026: _rates(area, voltage)})


@pytest.mark.parametrize("area", [14, 23])
def test_week_spanning_1_april_2027_uses_both_years(area) -> None:
    # Mon 29 March (Easter Monday: a bank holiday, a weekday by 'Monday to Friday (Including
    # Bank Holidays)') - Sun 4 April 2027: 29-31 March charged at 2026/27, 1-4 April at 2027/28
    # (MIDE 2027 / IPNL GSP M 2027-2028 Annex 1; their HH time bands, rows 6-7, are the 2026
    # ones).
    profile = uk_week("2027-03-29")
    for voltage in ("LV", "HV"):
        rates = {2026: _rates(area, voltage, 2026), 2027: _rates(area, voltage, 2027)}
        assert rates[2026] != rates[2027]
        _assert_bill(profile, area, voltage, rates)


# --------------------------------------------------------------------------- capacity, reactive

# The rules, from the CDCM statement text (DCUSA Schedule 16) as ESP Electricity's "LC14 DUoS
# Charging Statement" April 2026 prints it (bundled in ESP_2026's zip as a PDF):
#   2.41 "Demand exceeded capacity = max(2 x sqrt(AI^2 + max(RI, RE)^2) - MIC, 0)" ... "charged
#        for the full duration of the billing period in which the breach occurs";
#   2.43 "This calculation is completed for every half hour and the maximum value from the
#        billing period is applied";
#   2.48 reactive charged when kVArh "exceeds 33% of its total active power ... in any given
#        half hour";
#   2.50 "Demand chargeable reactive power = max(max(RI, RE) - (sqrt(1/0.95^2 - 1) x AI), 0)";
#   2.52 "The square root calculation will be to two decimal places" -> 0.33;
#   2.42, 2.51 "Only reactive import and reactive export values occurring at times of active
#        import are used in the calculation".
# Charge Calculator (MIDE 2026 'Charge Calculator' H17 = H10*H13*F13/100, I17 = I10*I13/100):
# exceeded £ = rate x average daily exceeded kVA x days; reactive £ = rate x excess kVArh.


def _hv_band2_mide() -> dict:
    rates = tariff_cells(DNO_2026[14], ANNEX1, 32)  # MIDE 2026 A32:J32 'HV Site Specific Band 2'
    assert rates["name"] == "HV Site Specific Band 2"
    assert (rates["exceeded"], rates["reactive"]) == (9.26, 0.027)  # I32, J32
    return rates


def test_reactive_charge_is_kvarh_above_33_percent_of_kwh_per_half_hour() -> None:
    rates = _hv_band2_mide()
    profile = uk_week("2026-06-15")
    kwh = profile["kwh"].to_numpy()
    # kVArh from 0 to 0.6 x kWh, varying, so some half hours are under 33 % and some over;
    # one half hour at exactly 0.33 x kWh (not chargeable) and one between 0.3287 and 0.33.
    ratio = 0.6 * (np.arange(kwh.size) % 7) / 6
    ratio[3], ratio[10] = 0.33, 0.3295
    profile["kvarh"] = kwh * ratio
    chargeable = np.maximum(profile["kvarh"].to_numpy() - 0.33 * kwh, 0.0)
    assert chargeable[3] == 0 and chargeable[10] == 0
    s = duos_for_site(profile, TariffQuery(14, voltage="HV", kva=600)).summary
    assert s.chargeable_kvarh == pytest.approx(chargeable.sum(), abs=1e-9)
    assert s.reactive_gbp == pytest.approx(chargeable.sum() * rates["reactive"] / 100, abs=1e-12)


def test_exceeded_capacity_is_monthly_max_over_mic_for_each_day_of_the_month() -> None:
    # Mon 28 September - Sun 4 October 2026: 3 September days, 4 October days. MIC 40 kVA.
    # September peak 24 kWh + 10 kVArh in one half hour: 2 x sqrt(24^2 + 10^2) = 52 kVA, 12 over;
    # October peak 30 kWh, 0 kVArh: 60 kVA, 20 over. Elsewhere 5 kWh, 1 kVArh (10.2 kVA).
    rates = _hv_band2_mide()
    profile = uk_week("2026-09-28")
    profile["kwh"], profile["kvarh"] = 5.0, 1.0
    local = profile.index.tz_convert("Europe/London")
    sep_peak = np.flatnonzero((local.month == 9) & (local.hour == 17))[0]
    oct_peak = np.flatnonzero((local.month == 10) & (local.hour == 12))[0]
    profile.iloc[sep_peak, :] = [24.0, 10.0]
    profile.iloc[oct_peak, :] = [30.0, 0.0]
    s = duos_for_site(profile, TariffQuery(14, voltage="HV", kva=40)).summary
    assert s.exceeded_kva_by_month == {"2026-09": pytest.approx(12.0), "2026-10": 20.0}
    expected = (12.0 * 3 + 20.0 * 4) * rates["exceeded"] / 100
    assert s.exceeded_capacity_gbp == pytest.approx(expected, abs=1e-12)
    assert s.max_demand_kva == pytest.approx(60.0)
    assert s.capacity_gbp == pytest.approx(40 * rates["capacity"] * 7 / 100, abs=1e-12)


def test_export_half_hours_count_for_neither_demand_kva_nor_demand_reactive() -> None:
    # A battery site exporting 50 kWh (negative import) with 30 kVArh in one half hour: that
    # half hour has no active import, so (2.42, 2.51) its kVArh is not used: no 2 x sqrt(50^2 +
    # 30^2) = 116.6 kVA "breach" of a 40 kVA MIC and no chargeable reactive.
    profile = uk_week("2026-06-15")
    profile["kvarh"] = 0.0
    profile.iloc[100, :] = [-50.0, 30.0]
    s = duos_for_site(profile, TariffQuery(14, voltage="HV", kva=40)).summary
    assert s.exceeded_capacity_gbp == 0
    assert s.chargeable_kvarh == 0
    assert s.max_demand_kva == pytest.approx(2 * profile["kwh"].max())


# --------------------------------------------------------------------------- IDNO-sourced areas


@pytest.mark.parametrize("area", sorted(IDNO_MEMBERS_2026))
def test_idno_sourced_area_rows_equal_the_idno_workbook(area) -> None:
    # Three all-the-way end-user rows per area, 2026/27: 'LV Site Specific Band 1' (row 23),
    # 'LV Sub Site Specific Band 3' (row 30), 'HV Site Specific Band 4' (row 36), columns D:J.
    book, member = IDNO_MEMBERS_2026[area]
    sheet = annex1(book, member)
    for voltage, band, row in (("LV", 1, 23), ("LV Sub", 3, 30), ("HV", 4, 36)):
        cells = tariff_cells(book, sheet, row, member)
        assert cells["name"] == f"{voltage} Site Specific Band {band}"
        t = resolve_tariff(area, on=NOV_2026, voltage=voltage, residual_band=band)
        assert t.tariff_name == cells["name"]
        assert member in t.source
        got = (t.red_rate, t.amber_rate, t.green_rate, t.fixed_p_per_day,
               t.capacity_p_per_kva_per_day, t.exceeded_capacity_p_per_kva_per_day,
               t.reactive_p_per_kvarh)
        want = tuple(cells[k] for k in ("red", "amber", "green", "fixed", "capacity",
                                        "exceeded", "reactive"))
        assert got == want, (area, voltage, band)


# --------------------------------------------------------------------------- seed demo


def test_demo_annual_duos_equals_independent_computation(tmp_path) -> None:
    # `bess-duos demo` (seed MPAN ... 1405566778899, area 14, no voltage or kVA given): LV,
    # residual band 1 -> MIDE 2026 'LV Site Specific Band 1', A21:J21: red D21, amber E21,
    # green F21 p/kWh, fixed G21 p/day. Its synthetic profile is 365 UK days, so the annual
    # DUoS is the sum: units by the MIDE bands in UK clock time + fixed x 365.
    from bess_duos.webhook.cli import main

    saved = tmp_path / "demo.csv"
    args = ["demo", "--no-write", "--offline", "--json", "--date", "2026-11-24",
            "--save-profile", str(saved)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(args) == 0
    printed = json.loads(out.getvalue())  # --json: the JSON alone, no "Demo: ..." line
    annual = printed["fields"]["annual_duos_gbp"]

    rates = tariff_cells(DNO_2026[14], ANNEX1, 21)
    assert rates["name"] == "LV Site Specific Band 1"
    assert (rates["red"], rates["amber"], rates["green"], rates["fixed"]) == (
        6.515, 0.827, 0.1, 129.59)
    profile = pd.read_csv(saved)
    local = pd.to_datetime(profile["timestamp"], utc=True).dt.tz_convert("Europe/London")
    slot = (local.dt.hour * 2 + local.dt.minute // 30).to_numpy()
    weekend = (local.dt.day_of_week >= 5).to_numpy().astype(int)
    band = typed_table(14)[weekend, slot]
    per_band = np.array([rates["red"], rates["amber"], rates["green"]])
    units = float((profile["kwh"].to_numpy() * per_band[band]).sum()) / 100
    days = local.dt.date.nunique()
    assert days == 365
    assert annual == round(units + rates["fixed"] * days / 100, 2)
