"""The tariff resolver and time bands over the shipped config/, hand-checked against the
published workbook cells (sheet and cell named in each case)."""

from __future__ import annotations

import csv
import datetime
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from bess_duos.core.paths import config_dir
from bess_duos.core.tariffs import (
    AmbiguousTariffError,
    DuosTariff,
    TariffNotFoundError,
    TariffQuery,
    available_years,
    charging_year,
    list_tariffs,
    llfc_matches,
    load_time_bands,
    load_ums_bands,
    normalise_voltage,
    resolve_query,
    resolve_tariff,
)
from bess_duos.core.timebands import BANDS

NOV_2026 = datetime.date(2026, 11, 24)
R, A, G = 0, 1, 2


def test_charging_year_runs_april_to_march() -> None:
    assert charging_year(datetime.date(2026, 11, 24)) == 2026
    assert charging_year(datetime.date(2027, 3, 31)) == 2026
    assert charging_year(datetime.date(2027, 4, 1)) == 2027


# (cell reference, area, year, voltage, red, amber, green, fixed p/day); every row is
# the band-1 site-specific HH tariff at that voltage (residual band 1 given explicitly).
HAND_CHECKED = [
    (
        "EPN 2025 'Annex 1 LV, HV and UMS charges'!D32:G32",
        10,
        2025,
        "HV",
        4.802,
        0.433,
        0.059,
        194.76,
    ),
    (
        "IPNL GSP B 2026 'Annex 1 LV and HV charges'!D33:G33",
        11,
        2026,
        "HV",
        2.837,
        0.257,
        0.009,
        360.65,
    ),
    ("LPN 2026 'Annex 1 LV, HV and UMS charges'!D32:G32", 12, 2026, "HV", 0.23, 0, 0, 0),
    (
        "SPM 2025 'Annex 1 LV, HV and UMS charges'!D32:G32",
        13,
        2025,
        "HV",
        6.613,
        1.166,
        0.083,
        3477.99,
    ),
    (
        "MIDE 2026 'Annex 1 LV, HV and UMS charges'!D31:G31",
        14,
        2026,
        "HV",
        1.764,
        0.205,
        0.011,
        824.91,
    ),
    (
        "MIDE 2025 'Annex 1 LV, HV and UMS charges'!D31:G31",
        14,
        2025,
        "HV",
        1.642,
        0.237,
        0.021,
        443.28,
    ),
    (
        "IPNL GSP F 2026 'Annex 1 LV and HV charges'!D33:G33",
        15,
        2026,
        "HV",
        3.403,
        0.427,
        0.066,
        681.69,
    ),
    (
        "ENWL 2025 'Annex 1 LV, HV and UMS charges'!D33:G33",
        16,
        2025,
        "HV",
        5.478,
        0.717,
        0.037,
        540.3,
    ),
    (
        "ESP GSP_P 2026 'Annex 1 LV, HV and UMS charges'!D33:G33",
        17,
        2026,
        "HV",
        1.97,
        0.525,
        0.323,
        111.58,
    ),
    (
        "SPD 2026 'Annex 1 LV, HV and UMS charges'!D32:G32",
        18,
        2026,
        "HV",
        4.377,
        0.322,
        0.01,
        1809.84,
    ),
    (
        "IPNL GSP J 2026 'Annex 1 LV, HV and UMS charges'!D33:G33",
        19,
        2026,
        "HV",
        6.01,
        0.177,
        0.056,
        360.69,
    ),
    ("SEPD 2026 'Annex 1 LV, HV and UMS charges'!D33:G33", 20, 2026, "HV", 1.266, 0, 0, 0),
    (
        "IPNL GSP K 2026 'Annex 1 LV and HV charges'!D33:G33",
        21,
        2026,
        "HV",
        5.953,
        0.327,
        0.096,
        692.19,
    ),
    (
        "SWEB 2026 'Annex 1 LV, HV and UMS charges'!D32:G32",
        22,
        2026,
        "HV",
        7.242,
        0.302,
        0.028,
        298.61,
    ),
    (
        "IPNL GSP M 2026 'Annex 1 LV and HV charges'!D33:G33",
        23,
        2026,
        "HV",
        2.514,
        0.588,
        0.052,
        1251.41,
    ),
    (
        "LPN 2024 'Annex 1 LV, HV and UMS charges'!D23:G23 (LV band 2)",
        12,
        2024,
        "LV",
        6.618,
        0.564,
        0.073,
        21.39,
    ),
    (
        "SWEB 2025 'Annex 1 LV, HV and UMS charges'!D28:G28 (LV Sub band 3)",
        22,
        2025,
        "LV Sub",
        9.919,
        0.449,
        0.049,
        120.71,
    ),
    (
        "SPD 2027 'Annex 1 LV, HV and UMS charges'!D29:G29 (LV Sub band 3)",
        18,
        2027,
        "lv sub",
        5.674,
        0.434,
        0.013,
        1385.29,
    ),
]


@pytest.mark.parametrize(
    ("cell", "area", "year", "voltage", "red", "amber", "green", "fixed"),
    HAND_CHECKED,
    ids=[h[0] for h in HAND_CHECKED],
)
def test_hand_checked_published_cells(cell, area, year, voltage, red, amber, green, fixed) -> None:
    band = "2" if "band 2" in cell else "3" if "band 3" in cell else "1"
    tariff = resolve_tariff(
        area, on=datetime.date(year, 10, 1), voltage=voltage, residual_band=band
    )
    assert tariff.unit_rates_p_per_kwh == (red, amber, green)
    assert tariff.fixed_p_per_day == fixed
    assert tariff.residual_band == band and tariff.year == year
    assert f"row {cell.split('!D')[1].split(':')[0]}" in tariff.source


def test_mide_2026_hv_on_the_sheet_date() -> None:
    tariff = resolve_tariff(14, on=NOV_2026, voltage="HV")
    assert tariff.unit_rates_p_per_kwh == (1.764, 0.205, 0.011)
    assert tariff.tariff_name == "HV Site Specific Band 1"
    assert tariff.source.endswith("/ Annex 1 LV, HV and UMS charges / row 31")
    assert tariff.capacity_p_per_kva_per_day == 9.26 and tariff.reactive_p_per_kvarh == 0.027
    assert "band 1 assumed" in tariff.selection_note
    assert tariff.time_bands is not None and tariff.time_bands.year == 2026


def test_kva_picks_the_band_with_that_years_thresholds() -> None:
    # 2026/27 HV thresholds 500/1100/2000 kVA ('Residual Charging Bands' rows 14-17):
    # 600 kVA is band 2 -> MIDE 2026 Annex 1 G32 = 2275.43
    t = resolve_tariff(14, on=NOV_2026, voltage="HV", kva=600)
    assert (t.residual_band, t.fixed_p_per_day) == ("2", 2275.43)
    assert "500 < kVA <= 1100" in t.selection_note
    # 2025/26 HV thresholds were 422/1000/1800: 450 kVA -> band 2 (MIDE 2025 G32 = 1096.97)
    t = resolve_tariff(14, on=datetime.date(2025, 6, 1), voltage="HV", kva=450)
    assert (t.residual_band, t.fixed_p_per_day) == ("2", 1096.97)
    # LV with MIC: 85 kVA is band 2 in 2025/26 (80 < x <= 150) but band 1 in 2026/27 (<= 90)
    assert (
        resolve_tariff(14, on=datetime.date(2025, 6, 1), voltage="LV", kva=85).residual_band == "2"
    )
    assert resolve_tariff(14, on=NOV_2026, voltage="LV", kva=85).residual_band == "1"
    # boundaries are inclusive of the upper threshold
    assert resolve_tariff(14, on=NOV_2026, voltage="LV", kva=90).residual_band == "1"
    assert resolve_tariff(14, on=NOV_2026, voltage="LV", kva=90.5).residual_band == "2"


def test_negative_residual_is_as_published() -> None:
    # LPN 2026 'Annex 1 LV, HV and UMS charges' row 33 (HV band 2): D33 0.009, E33 0, G33 0
    t = resolve_tariff(12, on=NOV_2026, voltage="HV", residual_band="Band 2")
    assert t.unit_rates_p_per_kwh == (0.009, 0.0, 0.0) and t.fixed_p_per_day == 0.0


def test_exceeded_capacity_kept_apart_from_capacity() -> None:
    # LPN 2024 row 32 HV Site Specific Band 1: H32 capacity 7.86, I32 exceeded 8.78
    t = resolve_tariff(12, on=datetime.date(2024, 9, 1), voltage="HV")
    assert (t.capacity_p_per_kva_per_day, t.exceeded_capacity_p_per_kva_per_day) == (7.86, 8.78)


def test_llfc_exact_match_wins() -> None:
    t = resolve_tariff(14, on=NOV_2026, voltage="LV", llfc="H02")
    assert t.tariff_name == "HV Site Specific Band 2" and "open LLFC" in t.selection_note
    assert resolve_tariff(14, on=NOV_2026, llfc="367").tariff_name == "HV Site Specific Band 1"
    # SEPD publishes ranges: '100-111' holds 105
    t = resolve_tariff(20, on=NOV_2026, llfc="105")
    assert t.tariff_name == "Domestic Aggregated or CT with Residual"
    # a closed LLFC still finds its tariff, and says it is closed
    t = resolve_tariff(14, on=NOV_2026, llfc="121")
    assert t.tariff_name == "LV Site Specific Band 1" and "closed LLFC" in t.selection_note


def test_llfc_matching_rules() -> None:
    assert llfc_matches("034", ("34",)) and llfc_matches("110", ("100-111",))
    assert not llfc_matches("112", ("100-111",)) and not llfc_matches("H1", ("H10",))


def test_unknown_llfc_is_a_clear_error() -> None:
    with pytest.raises(TariffNotFoundError, match=r"LLFC ZZZ is not in .* area 14 for 2026/27"):
        resolve_tariff(14, on=NOV_2026, llfc="ZZZ")
    with pytest.raises(TariffNotFoundError, match="IDNO workbook, which does not list the DNO"):
        resolve_tariff(11, on=NOV_2026, llfc="123")


def test_ehv_site_by_llfc() -> None:
    # MIDE 2026 'Annex 2 Designated EHV charges' row 19, Takao Europe: I19 2.979, J19 1537.66
    t = resolve_tariff(14, on=NOV_2026, llfc="704")
    assert (t.voltage_level, t.red_rate, t.amber_rate, t.green_rate) == ("EHV", 2.979, 0.0, 0.0)
    assert t.fixed_p_per_day == 1537.66 and t.capacity_p_per_kva_per_day == 3.86
    table = t.time_bands.slot_table()
    assert table[10, 0, 32] == R and table[1, 0, 37] == R  # Nov, Feb weekdays 16:00-18:30
    assert table[2, 0, 32] == G and table[10, 1, 32] == G  # March weekday, Nov weekend
    with pytest.raises(TariffNotFoundError, match="give the site's LLFC"):
        resolve_tariff(14, on=NOV_2026, voltage="EHV")


def test_generation_tariff_is_a_credit() -> None:
    # MIDE 2026 row 42 'HV Generation Site Specific': D42 -2.752, E42 -0.339, F42 -0.024
    t = resolve_tariff(14, on=NOV_2026, voltage="HV", generation=True)
    assert t.tariff_name == "HV Generation Site Specific" and t.is_generation
    assert t.unit_rates_p_per_kwh == (-2.752, -0.339, -0.024)


def test_idno_needs_its_area_and_uses_its_own_llfcs() -> None:
    t = resolve_tariff(24, area_distributor_id=14, on=NOV_2026, voltage="HV")
    assert t.unit_rates_p_per_kwh == (1.764, 0.205, 0.011) and "E5S" in t.llfcs
    assert "IDNO 24 in area 14" in t.selection_note
    assert resolve_tariff(26, area_distributor_id=14, on=NOV_2026, llfc="E5S").dno_id == 26
    with pytest.raises(ValueError, match="give area_distributor_id"):
        resolve_tariff(24, on=NOV_2026, voltage="HV")


def test_area_without_source_year_names_area_year_and_how_to_import() -> None:
    with pytest.raises(TariffNotFoundError) as caught:
        resolve_tariff(15, on=datetime.date(2021, 5, 1), voltage="HV")
    message = str(caught.value)
    assert "distributor area 15" in message and "2021/22" in message
    assert "bess-duos tariffs import" in message and "2022, 2023, 2024, 2025, 2026, 2027" in message


def test_voltage_names_are_tolerant() -> None:
    assert normalise_voltage(" lv sub ") == "LV Sub" and normalise_voltage("LV-Sub") == "LV Sub"
    with pytest.raises(ValueError, match="voltage 'MV'"):
        normalise_voltage("MV")


def test_available_years_cover_all_areas() -> None:
    years = available_years()
    assert sorted(years) == list(range(10, 24))
    assert all(v == [2022, 2023, 2024, 2025, 2026, 2027] for v in years.values())


def test_list_tariffs_returns_every_row_with_sources() -> None:
    rows = list_tariffs(22, 2026)
    assert len(rows) == 32 and all(isinstance(r, DuosTariff) and "row" in r.source for r in rows)
    assert sum(r.is_generation for r in rows) == 8


def test_hand_built_tariff_still_works() -> None:
    t = DuosTariff(14, "mine", "HV", 1.0, 0.5, 0.1, fixed_p_per_day=10.0)
    assert t.unit_rates_p_per_kwh == (1.0, 0.5, 0.1) and t.selection_note == ""


# ------------------------------------------------------------------ time bands per DNO


def _slot(hhmm: str) -> int:
    h, m = map(int, hhmm.split(":"))
    return h * 2 + m // 30


def _band_at(table: np.ndarray, month: int, day: str, hhmm: str) -> str:
    return BANDS[table[month - 1, 0 if day == "weekday" else 1, _slot(hhmm)]]


# (area, year, [(month, day type, time, band)]) read off each workbook's Annex 1 rows 5-9
TIME_BANDS = [
    (
        10,
        2025,
        [
            (1, "weekday", "15:30", "amber"),
            (1, "weekday", "16:00", "red"),
            (1, "weekday", "22:30", "amber"),
            (1, "weekday", "23:00", "green"),
            (7, "weekend", "17:00", "green"),
        ],
    ),
    (
        12,
        2026,
        [
            (6, "weekday", "11:00", "red"),
            (6, "weekday", "13:30", "red"),
            (6, "weekday", "14:00", "amber"),
            (12, "weekday", "18:30", "red"),
            (12, "weekday", "06:30", "green"),
            (12, "weekend", "12:00", "green"),
        ],
    ),
    (
        13,
        2025,
        [
            (1, "weekday", "16:00", "amber"),
            (1, "weekday", "16:30", "red"),
            (1, "weekday", "19:00", "red"),
            (1, "weekday", "19:30", "amber"),
            (1, "weekday", "22:30", "green"),
            (1, "weekend", "16:00", "amber"),
            (1, "weekend", "20:00", "green"),
        ],
    ),
    (
        14,
        2026,
        [
            (11, "weekday", "07:00", "green"),
            (11, "weekday", "07:30", "amber"),
            (11, "weekday", "16:00", "red"),
            (11, "weekday", "19:00", "amber"),
            (11, "weekday", "21:00", "green"),
            (11, "weekend", "17:00", "green"),
        ],
    ),
    (
        16,
        2025,
        [
            (1, "weekday", "08:30", "green"),
            (1, "weekday", "09:00", "amber"),
            (1, "weekday", "20:00", "amber"),
            (1, "weekday", "20:30", "green"),
            (1, "weekend", "16:00", "amber"),
            (1, "weekend", "19:00", "green"),
        ],
    ),
    (
        17,
        2026,
        [
            (1, "weekday", "16:00", "red"),
            (1, "weekday", "07:00", "amber"),
            (1, "weekday", "21:00", "green"),
            (1, "weekend", "12:00", "amber"),
            (1, "weekend", "19:30", "amber"),
            (1, "weekend", "20:00", "green"),
        ],
    ),
    (
        18,
        2027,
        [
            (1, "weekday", "16:00", "amber"),
            (1, "weekday", "16:30", "red"),
            (1, "weekday", "19:30", "amber"),
            (1, "weekday", "22:30", "green"),
            (1, "weekend", "15:30", "green"),
            (1, "weekend", "16:00", "amber"),
        ],
    ),
    (
        20,
        2026,
        [
            (1, "weekday", "16:30", "red"),
            (1, "weekday", "16:00", "amber"),
            (1, "weekday", "22:00", "green"),
            (1, "weekend", "09:00", "green"),
            (1, "weekend", "09:30", "amber"),
            (1, "weekend", "21:30", "green"),
        ],
    ),
    (
        21,
        2026,
        [
            (1, "weekday", "17:00", "red"),
            (1, "weekday", "19:00", "red"),
            (1, "weekday", "19:30", "amber"),
            (1, "weekend", "12:00", "amber"),
            (1, "weekend", "13:00", "green"),
            (1, "weekend", "16:00", "amber"),
        ],
    ),
    (
        22,
        2026,
        [
            (1, "weekday", "16:30", "amber"),
            (1, "weekday", "17:00", "red"),
            (1, "weekday", "21:00", "amber"),
            (1, "weekday", "21:30", "green"),
            (1, "weekend", "16:30", "amber"),
            (1, "weekend", "19:30", "green"),
        ],
    ),
    (
        11,
        2026,
        [
            (1, "weekday", "16:00", "red"),
            (1, "weekday", "07:30", "amber"),
            (1, "weekday", "07:00", "green"),
            (1, "weekend", "17:00", "green"),
        ],
    ),
    (
        15,
        2026,
        [
            (1, "weekday", "19:00", "red"),
            (1, "weekday", "19:30", "amber"),
            (1, "weekday", "08:00", "amber"),
            (1, "weekday", "07:30", "green"),
        ],
    ),
    (
        19,
        2026,
        [
            (1, "weekday", "16:00", "red"),
            (1, "weekday", "22:30", "amber"),
            (1, "weekend", "17:00", "green"),
        ],
    ),
    (
        23,
        2026,
        [
            (1, "weekday", "16:00", "red"),
            (1, "weekday", "19:00", "red"),
            (1, "weekday", "19:30", "amber"),
            (1, "weekday", "22:00", "green"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("area", "year", "checks"), TIME_BANDS, ids=[f"{a}-{y}" for a, y, _ in TIME_BANDS]
)
def test_time_bands_match_the_workbook(area: int, year: int, checks) -> None:
    bands = load_time_bands(area, year)
    table = bands.slot_table()
    for month, day, hhmm, band in checks:
        assert _band_at(table, month, day, hhmm) == band, (month, day, hhmm)
    assert any("bank holiday" in note.lower() for note in bands.notes)


def test_every_area_year_has_valid_time_bands() -> None:
    for area, years in available_years().items():
        for year in years:
            assert load_time_bands(area, year).slot_table().min() >= 0


def test_bank_holiday_wording_is_quoted() -> None:
    notes = load_time_bands(14, 2026).notes
    assert (
        "bank holidays: the workbook says 'Monday to Friday (Including Bank Holidays) All Year'"
        ", so bank holidays are charged as weekdays" in notes
    )
    # MIDE 2024's table says only 'Monday to Friday' and 'Weekends'
    assert any("does not mention them" in n for n in load_time_bands(14, 2024).notes)


def test_time_bands_for_unknown_year() -> None:
    with pytest.raises(TariffNotFoundError, match="no time bands for distributor area 14"):
        load_time_bands(14, 2019)


def test_sweb_super_red_date_exception_is_noted() -> None:
    # SWEB 2026 'Annex 2 Designated EHV charges'!A7: '... Nov to Feb Inclusive (excluding 22nd
    # Dec to 4th Jan inclusive)', D7 '17:00 to 19:00': months cannot express the exclusion.
    from bess_duos.core.tariffs import load_super_red_bands

    bands = load_super_red_bands(22, 2026)
    table = bands.slot_table()
    assert BANDS[table[11, 0, 34]] == "red" and BANDS[table[11, 0, 38]] == "green"
    assert any("excluding 22nd Dec to 4th Jan" in n for n in bands.notes)


def test_unmetered_llfc_says_its_bands_differ() -> None:
    t = resolve_tariff(14, on=NOV_2026, llfc="95")
    assert t.tariff_name == "Unmetered Supplies" and t.red_rate == 40.137
    assert "black/yellow/green UMS bands" in t.selection_note


# ------------------------------------------------------------------ issue 17


def _llfc_files() -> list[Path]:
    root = config_dir() / "tariffs"
    # tariff files: YYYY/DD.csv and YYYY/idno/NN_DD.csv (not *_ehv.csv, *_llfcs_mdd.csv)
    return [p for pattern in ("[0-9]*/*.csv", "[0-9]*/idno/*.csv")
            for p in sorted(root.glob(pattern)) if p.stem.replace("_", "").isdigit()]


def test_every_listed_llfc_resolves_to_one_tariff_or_is_refused_naming_them() -> None:
    resolved = refused = 0
    for path in _llfc_files():
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
        first = rows[0]
        dist, area = int(first["distributor_id"]), int(first["area_distributor_id"])
        on = datetime.date(int(first["year"]), 6, 1)
        for field in ("llfcs", "closed_llfcs"):
            for code in {c for r in rows for c in r[field].split()}:
                asked = code.split("-")[0]  # a range: its first LLFC
                open_rows = [r["tariff_name"] for r in rows
                             if llfc_matches(asked, tuple(r["llfcs"].split()))]
                listing = open_rows or [r["tariff_name"] for r in rows
                                        if llfc_matches(asked, tuple(r["closed_llfcs"].split()))]
                try:
                    got = resolve_tariff(dist, on=on, llfc=asked,
                                         area_distributor_id=None if dist == area else area)
                except AmbiguousTariffError as exc:
                    assert sorted(exc.candidates) == sorted(listing) and len(listing) > 1
                    assert all(f"'{name}'" in str(exc) for name in listing)
                    refused += 1
                    continue
                assert [got.tariff_name] == listing, (path, code)
                resolved += 1
    # SWEB lists 581 and 551 under two tariffs each, in all six years
    assert refused == 12 and resolved > 5000


def test_ambiguous_llfc_settled_by_profile_class() -> None:
    on = datetime.date(2026, 6, 1)
    with pytest.raises(AmbiguousTariffError, match="profile class 0 does not decide"):
        resolve_tariff(22, on=on, llfc="581", profile_class="0")
    nhh = resolve_tariff(22, on=on, llfc="581", profile_class="08")
    assert nhh.tariff_name == "LV Generation Aggregated"
    assert "profile class 08 is non-half-hourly" in nhh.selection_note
    named = resolve_tariff(22, on=on, llfc="551", tariff_name="LV Sub Generation Site Specific")
    assert named.tariff_name == "LV Sub Generation Site Specific"
    with pytest.raises(TariffNotFoundError, match="LLFC 999 is not listed for 'LV Sub Gen"):
        resolve_tariff(22, on=on, llfc="999", tariff_name="LV Sub Generation Site Specific")


def test_area_11_2027_hv_450_kva_reports_both_bands() -> None:
    on = datetime.date(2027, 11, 24)
    got = resolve_tariff(11, on=on, voltage="HV", kva=450)
    # as published by the _B sheets (422 < 450 <= 1000): band 2; under 2027's other NGED sheets
    # (0 < 450 <= 500): band 1. Fixed charges: IPNL GSP B 2027-2028 Annex 1 G34 and G33.
    assert (got.tariff_name, got.fixed_p_per_day) == ("HV Site Specific Band 2", 2585.12)
    assert "band 2: 'HV Site Specific Band 2', fixed 2585.12 p/MPAN/day" in got.residual_doubt
    assert "band 1: 'HV Site Specific Band 1', fixed 952.43 p/MPAN/day" in got.residual_doubt
    assert "0 < 450 kVA <= 500" in got.residual_doubt
    assert resolve_tariff(11, on=on, voltage="HV", kva=2500).residual_doubt == ""  # band 4 both
    assert resolve_tariff(14, on=on, voltage="HV", kva=450).residual_doubt == ""


def test_mdd_llfcs_map_only_unambiguous_descriptions() -> None:
    """Areas with no DNO workbook: each LLFC of Elexon MDD 377 in force that year resolves to
    the one tariff its description names, or is refused with the reason it names none."""
    mapped = refused = 0
    for path in sorted((config_dir() / "tariffs").glob("[0-9]*/*_llfcs_mdd.csv")):
        year, area = int(path.parent.name), int(path.name[:2])
        on = datetime.date(year, 6, 1)
        for record in csv.DictReader(path.open(encoding="utf-8")):
            if record["tariff_name"]:
                got = resolve_tariff(area, on=on, llfc=record["llfc"])
                assert got.tariff_name == record["tariff_name"]
                assert f"described in Elexon MDD 377 as {record['description']!r}" in \
                    got.selection_note
                mapped += 1
            else:
                with pytest.raises(TariffNotFoundError) as caught:
                    resolve_tariff(area, on=on, llfc=record["llfc"])
                assert record["reason"] in str(caught.value)
                refused += 1
    assert mapped > 500 and refused > mapped


def test_mdd_description_rule() -> None:
    from bess_duos.core.tariff_import.mdd_llfcs import map_llfcs, words

    assert words("BAND 2_HV Site Specific") == words("HV Site Specific Band 2")
    assert words("LVS - Res B3") == {"lvsub", "band3"}
    names = ["LV Site Specific Band 3", "LV Sub Site Specific Band 3",
             "Domestic Aggregated with Residual", "Domestic Aggregated (Related MPAN)"]

    def row(code: str, text: str) -> dict[str, str]:
        return {"Line Loss Factor Class ID": code, "Line Loss Factor Class Description": text,
                "Effective From Settlement Date (LLFC)": "01/04/2021",
                "Effective To Settlement Date (LLFC)": ""}

    got = map_llfcs([row("S03", "LVS - Res B3"), row("L03", "LV - Res B3"),
                     row("1A", "Domestic Aggregated"), row("9", "Domestic Heatwise")], names)
    assert [(g["llfc"], g["tariff_name"]) for g in got] == [
        ("S03", "LV Sub Site Specific Band 3"), ("L03", "LV Site Specific Band 3"),
        ("1A", ""), ("9", "")]
    assert got[2]["reason"].startswith("fits 2 tariffs: Domestic Aggregated with Residual;")
    assert got[3]["reason"] == "words that name no published tariff: heatwise"
    # NEEB's 7B, straight from MDD 377's LLFC table: 'BAND 2_HV Site Specific' from 01/04/2021
    neeb = resolve_tariff(15, on=datetime.date(2025, 6, 1), llfc="7B")
    assert neeb.tariff_name == "HV Site Specific Band 2" and "01/04/2021" in neeb.selection_note


# ------------------------------------------------------------------ Annex 3 and Annex 4

# 2026/27 default resolutions as they were before Annex 3 and 4 were shipped (computed on main
# at the branch point): per area, (source row, red p/kWh, fixed p/MPAN/day) for the queries
# in DEFAULT_QUERIES. All are Annex 1 rows; adding the annexes must change none of them.
DEFAULT_QUERIES = (
    ({}, "LV Site Specific Band 1"),
    ({"voltage": "LV Sub"}, "LV Sub Site Specific Band 1"),
    ({"voltage": "HV"}, "HV Site Specific Band 1"),
    ({"voltage": "HV", "kva": 600}, "HV Site Specific Band 2"),
    ({"voltage": "LV", "kva": 85}, "LV Site Specific Band 1"),
    ({"generation": True}, "LV Generation Site Specific"),
    ({"voltage": "HV", "generation": True}, "HV Generation Site Specific"),
)
DEFAULTS_2026 = {
    10: [(21, 8.149, 28.67), (26, 5.506, 25.12), (31, 4.837, 240.75), (32, 4.837, 305.47),
         (21, 8.149, 28.67), (38, -9.135, 0.0), (42, -5.466, 12.88)],
    11: [(23, 7.777, 55.73), (28, 5.147, 52.73), (33, 2.837, 360.65), (34, 2.837, 866.35),
         (23, 7.777, 55.73), (40, -7.711, 0.0), (44, -3.958, 61.51)],
    12: [(22, 4.444, 2.35), (27, 1.767, 0.0), (32, 0.23, 0.0), (33, 0.009, 0.0),
         (22, 4.444, 2.35), (39, -7.578, 0.0), (43, -4.094, 8.55)],
    13: [(23, 11.785, 547.49), (28, 9.068, 531.7), (33, 7.151, 2890.46), (34, 7.151, 8585.39),
         (23, 11.785, 547.49), (40, -10.986, 0.0), (44, -7.283, 95.24)],
    14: [(21, 6.515, 129.59), (26, 3.598, 126.37), (31, 1.764, 824.91), (32, 1.764, 2275.43),
         (21, 6.515, 129.59), (38, -7.093, 0.0), (42, -2.752, 66.24)],
    15: [(23, 8.522, 68.39), (28, 4.634, 68.39), (33, 3.403, 681.69), (34, 3.403, 1316.4),
         (23, 8.522, 68.39), (40, -7.736, 0.0), (44, -3.884, 70.64)],
    16: [(21, 7.832, 0.0), (26, 5.522, 70.64), (31, 1.998, 0.0), (32, 0.64, 0.0),
         (21, 7.832, 0.0), (38, -9.968, 0.0), (42, -5.982, 15.15)],
    17: [(23, 8.223, 0.0), (28, 3.483, 112.3), (33, 1.97, 111.58), (34, 1.463, 0.0),
         (23, 8.223, 0.0), (40, -8.397, 0.0), (44, -3.372, 1073.07)],
    18: [(22, 10.798, 376.44), (27, 6.092, 357.09), (32, 4.377, 1809.84), (33, 4.377, 5424.49),
         (22, 10.798, 376.44), (39, -9.415, 0.0), (43, -5.194, 116.68)],
    19: [(23, 11.311, 46.56), (28, 6.923, 43.13), (33, 6.01, 360.69), (34, 6.01, 636.85),
         (23, 11.311, 46.56), (40, -12.382, 0.0), (44, -7.007, 12.47)],
    20: [(23, 6.589, 0.0), (28, 3.863, 35.32), (33, 1.266, 0.0), (34, 0.377, 0.0),
         (23, 6.589, 0.0), (40, -8.447, 0.0), (44, -5.239, 471.07)],
    21: [(23, 12.885, 94.61), (28, 8.545, 90.69), (33, 5.953, 692.19), (34, 5.953, 1590.95),
         (23, 12.885, 94.61), (40, -12.886, 0.0), (44, -6.811, 80.63)],
    22: [(22, 14.833, 41.51), (27, 9.374, 37.71), (32, 7.242, 298.61), (33, 7.242, 525.1),
         (22, 14.833, 41.51), (39, -14.503, 0.0), (43, -7.786, 78.08)],
    23: [(23, 5.829, 154.8), (28, 3.714, 154.8), (33, 2.514, 1251.41), (34, 2.514, 2908.28),
         (23, 5.829, 154.8), (40, -4.895, 0.0), (44, -2.826, 93.7)],
}


def test_2026_default_resolutions_unchanged_by_annexes_3_and_4() -> None:
    on = datetime.date(2026, 6, 1)
    for area, expected in DEFAULTS_2026.items():
        for (query, name), (row, red, fixed) in zip(DEFAULT_QUERIES, expected, strict=True):
            got = resolve_tariff(area, on=on, **query)
            assert (got.tariff_name, got.source.rsplit(" ", 1)[-1], got.red_rate,
                    got.fixed_p_per_day, got.annex) == (name, str(row), red, fixed, 1), (
                area, query)
            assert got.source.split(" / ")[1].startswith("Annex 1")


# One Annex 4 (LDNO) row per DNO group, read off the workbook: (area, year, name, source row,
# billing ids, red, amber, green, fixed, capacity, reactive).
ANNEX4_HAND_CHECKED = [
    # UKPN: LPN 2026 'Annex 4 LDNO charges' row 14: B14 A00, D14 7.798, E14 0.35, F14 0, G14 0
    (12, 2026, "LDNO LV: Domestic Aggregated or CT with Residual", 14, ("A00",),
     7.798, 0.35, 0.0, 0.0, 0.0, 0.0),
    # NGED: MIDE 2026 row 50: B50 blank, D50 1.618, E50 0.189, F50 0.01, G50 2087.7, H50 8.5,
    # J50 0.025
    (14, 2026, "LDNO HV: HV Site Specific Band 2", 50, (), 1.618, 0.189, 0.01, 2087.7, 8.5,
     0.025),
    # SSE: SEPD 2026 row 17: D17 7.654, E17 1.019, F17 0.052, G17 8.61
    (20, 2026, "LDNO LV: Non-Domestic Aggregated or CT Band 1", 17, (), 7.654, 1.019, 0.052,
     8.61, 0.0, 0.0),
    # SPEN: SPD 2026 row 17: D17 8.448, E17 0.919, F17 0.023, G17 12.58
    (18, 2026, "LDNO LV: Non-Domestic Aggregated or CT Band 1", 17, (), 8.448, 0.919, 0.023,
     12.58, 0.0, 0.0),
    # ENWL: ENWL 2025 row 17: B17 'LV040, LV050, LV070, LV110', D17 11.262, E17 2.007,
    # F17 0.087, G17 7.4
    (16, 2025, "LDNO LV: Non-Domestic Aggregated or CT Band 1", 17,
     ("LV040", "LV050", "LV070", "LV110"), 11.262, 2.007, 0.087, 7.4, 0.0, 0.0),
]


@pytest.mark.parametrize("cell", ANNEX4_HAND_CHECKED, ids=lambda c: f"{c[0]}-{c[1]}")
def test_annex4_hand_checked_row_per_dno_group(cell) -> None:
    area, year, name, row, ids, red, amber, green, fixed, capacity, reactive = cell
    got = resolve_tariff(area, on=datetime.date(year, 6, 1), tariff_name=name)
    assert (got.annex, got.tariff_name, got.source.split(" / ")[1:]) == (
        4, name, ["Annex 4 LDNO charges", f"row {row}"])
    assert (got.billing_ids, got.llfcs, got.ldno_boundary) == (ids, (), name.split(":")[0])
    assert (got.red_rate, got.amber_rate, got.green_rate, got.fixed_p_per_day,
            got.capacity_p_per_kva_per_day, got.reactive_p_per_kvarh) == (
        red, amber, green, fixed, capacity, reactive)
    assert "an LDNO tariff" in got.selection_note and "Annex 4" in got.selection_note


# Annex 3 (preserved) rows where the group publishes any: (area, year, name, row, closed
# LLFCs, red, amber, green, fixed).
ANNEX3_HAND_CHECKED = [
    # SSE: SEPD 2026 'Annex 3 Preserved charges' row 8: B8 'Q36, Q41', D8 12.061, E8 1.606,
    # F8 0.082, G8 13.57
    (20, 2026, "Non-Domestic Aggregated or CT Band 1", 8, ("Q36", "Q41"),
     12.061, 1.606, 0.082, 13.57),
    # SPEN: SPM 2025 row 8: A8 'Unmetered Supplies', B8 '904, 905, 906, 907, 912', D8 29.056,
    # E8 6.091, F8 3.249, G8 blank
    (13, 2025, "Unmetered Supplies", 8, ("904", "905", "906", "907", "912"),
     29.056, 6.091, 3.249, 0.0),
    # SPEN: SPD 2027 row 6: 'Non-Domestic Aggregated (related MPAN)', PCs '3 & 4', D6 14.08,
    # E6 1.499, F6 0.035
    (18, 2027, "Non-Domestic Aggregated (related MPAN)", 6,
     ("223", "242", "243", "245", "246"), 14.08, 1.499, 0.035, 0.0),
]


@pytest.mark.parametrize("cell", ANNEX3_HAND_CHECKED, ids=lambda c: f"{c[0]}-{c[1]}")
def test_annex3_hand_checked_row_per_dno_group(cell) -> None:
    area, year, name, row, closed, red, amber, green, fixed = cell
    on = datetime.date(year, 6, 1)
    got = resolve_tariff(area, on=on, tariff_name=name, annex=3)
    assert (got.annex, got.source.split(" / ")[1:], got.closed_llfcs) == (
        3, ["Annex 3 Preserved charges", f"row {row}"], closed)
    assert (got.red_rate, got.amber_rate, got.green_rate, got.fixed_p_per_day) == (
        red, amber, green, fixed)
    # the same name without --annex is the Annex 1 row (the default), which says Annex 3 has it
    default = resolve_tariff(area, on=on, tariff_name=name)
    assert default.annex == 1 and "--annex 3 picks that row" in default.selection_note
    # its LLFCs still resolve to the Annex 1 row listing them closed, with equal charges
    by_llfc = resolve_tariff(area, on=on, llfc=closed[0])
    assert by_llfc.annex == 1 and by_llfc.source.split(" / ")[1].startswith("Annex 1")
    assert (by_llfc.red_rate, by_llfc.fixed_p_per_day) == (red, fixed)
    assert f"also listed in Annex 3 (preserved tariffs) as '{name}' (row {row})" in (
        by_llfc.selection_note)


@pytest.mark.parametrize("area", [10, 12, 14, 16, 22])
def test_groups_without_preserved_tariffs_publish_empty_annex_3(area: int) -> None:
    """UKPN, NGED and ENWL workbooks carry the Annex 3 tables with no rows ('... has no
    Preserved NHH Tariffs'): nothing is shipped, and asking for Annex 3 says so."""
    year = 2025
    assert not (config_dir() / "tariffs" / str(year) / f"{area:02d}_annex3.csv").exists()
    assert (config_dir() / "tariffs" / str(year) / f"{area:02d}_annex4.csv").exists()
    with pytest.raises(TariffNotFoundError, match=r"publishes no Annex 3 \(preserved"):
        resolve_tariff(area, on=datetime.date(year, 6, 1), tariff_name="x", annex=3)


def test_closed_llfc_only_in_annex_3_resolves_there(tmp_path: Path, monkeypatch) -> None:
    """A DNO could list a preserved LLFC in Annex 3 only: then the LLFC finds the Annex 3 row.
    (No shipped workbook does; here SEPD 2026's Annex 1 with its closed LLFCs blanked.)"""
    for sub in ("tariffs/2026", "timebands/2026"):
        (tmp_path / sub).mkdir(parents=True)
    src = config_dir()
    for name in ("tariffs/2026/20_annex3.csv", "timebands/2026/20.yaml"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    rows = list(csv.DictReader((src / "tariffs/2026/20.csv").open(encoding="utf-8")))
    with (tmp_path / "tariffs/2026/20.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "closed_llfcs": ""} for r in rows)
    monkeypatch.setenv("BESS_DUOS_CONFIG", str(tmp_path))
    got = resolve_tariff(20, on=datetime.date(2026, 6, 1), llfc="Q41")
    assert (got.annex, got.tariff_name, got.source.rsplit(" ", 1)[-1]) == (
        3, "Non-Domestic Aggregated or CT Band 1", "8")
    assert "a closed LLFC of 'Non-Domestic Aggregated or CT Band 1' in Annex 3" in (
        got.selection_note)
    with pytest.raises(ValueError, match="give the tariff name too"):
        resolve_tariff(20, on=datetime.date(2026, 6, 1), llfc="Q41", annex=3)


def test_ums_bands_hand_checked() -> None:
    # MIDE 2026 'Annex 1 LV, HV and UMS charges' H6 black '16:00 to 19:00' (Mon-Fri Nov to
    # Feb), I7 yellow '07:30 to 21:00' (Mon-Fri Mar to Oct), J8 green '00:00 to 24:00' weekends
    mide = load_ums_bands(14, 2026)
    table = mide.slot_table()  # black -> index 0 (red's), yellow -> 1, green -> 2
    assert table[11, 0, 32:38].tolist() == [R] * 6 and table[11, 0, 38] == A
    assert table[6, 0, 32:38].tolist() == [A] * 6  # July: no black
    assert set(table[:, 1, :].ravel()) == {G}
    # SPD 2026 row 9: weekends yellow '16.00 - 20.00'; black only Nov-Feb 16.30-19.30
    spd = load_ums_bands(18, 2026).slot_table()
    assert spd[5, 1, 32:40].tolist() == [A] * 8 and spd[5, 1, 31] == G
    assert set(np.argwhere(spd == R)[:, 0] + 1) == {11, 12, 1, 2}
    assert np.argwhere(spd == R)[:, 2].min() == 33 and np.argwhere(spd == R)[:, 2].max() == 38


def test_resolved_tariffs_are_remembered_until_a_file_read_changes(tmp_path, monkeypatch):
    """resolve_query keeps each answer with the files it read: the same object while they
    are unchanged, read afresh (new rates) once the tariff file is rewritten."""
    config = tmp_path / "config"
    shutil.copytree(config_dir(), config)
    monkeypatch.setenv("BESS_DUOS_CONFIG", str(config))
    query = TariffQuery(14, voltage="HV", on=datetime.date(2026, 11, 30))
    first = resolve_query(query)
    assert resolve_query(query) is first  # nothing changed: remembered
    path = config / "tariffs" / "2026" / "14.csv"
    text = path.read_text(encoding="utf-8")
    old = f"{first.red_rate}"
    rows = text.splitlines(keepends=True)
    at = next(i for i, row in enumerate(rows) if first.tariff_name in row and old in row)
    rows[at] = rows[at].replace(old, "99.125", 1)
    path.write_text("".join(rows), encoding="utf-8")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    second = resolve_query(query)
    assert second is not first and second.red_rate == 99.125
    assert resolve_query(query) is second
    # a time-band file rewritten is read afresh too (the same bands: an equal, new answer)
    bands = config / "timebands" / "2026" / "14.yaml"
    os.utime(bands, ns=(bands.stat().st_atime_ns, bands.stat().st_mtime_ns + 10**9))
    third = resolve_query(query)
    assert third is not second and third == second
    monkeypatch.delenv("BESS_DUOS_CONFIG")
    assert resolve_query(query) == first  # the shipped config again


def test_a_tariffs_remembered_hash_is_its_fields_hash_and_never_pickled() -> None:
    """A tariff remembers its hash (the dataclass's hash of its fields): equal tariffs, however
    made (resolved, replaced, copied, unpickled), hash equal and stay equal; the remembered
    hash is never pickled (string hashes differ between processes)."""
    import copy
    import pickle
    from dataclasses import fields, replace

    from bess_duos.core import tariffs

    def fields_hash(tariff: tariffs.DuosTariff) -> int:  # what the dataclass's hash is
        return hash(tuple(getattr(tariff, f.name) for f in fields(tariff)))

    for distributor, voltage in ((14, "LV"), (10, "HV"), (23, "LV Sub")):
        tariff = tariffs.resolve_tariff(distributor, on=datetime.date(2026, 11, 24),
                                        voltage=voltage)
        expected = fields_hash(tariff)
        assert hash(tariff) == expected == hash(tariff)  # computed, then remembered
        assert "_hash" in tariff.__dict__
        state = pickle.loads(pickle.dumps(tariff))
        assert "_hash" not in state.__dict__ and state == tariff and hash(state) == expected
        for twin in (replace(tariff), copy.copy(tariff), copy.deepcopy(tariff)):
            assert twin == tariff and hash(twin) == expected
        other = replace(tariff, red_rate=tariff.red_rate + 1.0)
        assert other != tariff and hash(other) == fields_hash(other)
