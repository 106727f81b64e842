"""The workbook importer against the real DNO/IDNO workbooks in reference-data.

The whole import runs once per test module (about 15-20 s); the tests then check it
against the workbooks' cells read here independently, and against the shipped config/.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import shutil
import zipfile
from pathlib import Path

import openpyxl
import pytest
import yaml
from bess_duos.core.paths import config_dir
from bess_duos.core.tariff_import.build import (
    Report,
    annex3_against_annex1,
    compare,
    import_all,
)
from bess_duos.core.tariff_import.errors import TariffImportError
from bess_duos.core.tariff_import.importer import import_workbook
from bess_duos.core.tariff_import.sources import find_sources, gsp_letter
from bess_duos.core.tariff_import.timeband_table import months_of, time_ranges
from bess_duos.core.tariff_import.workbook import read_workbook
from bess_duos.core.tariffs import resolve_tariff
from bess_duos.core.timebands import BANDS, DAY_TYPES, BandPeriod, TimeBands

GENERATED = ("tariffs", "timebands", "residual_bands")
HAND_WRITTEN = {Path("tariffs/crosscheck_exceptions.yaml")}


@pytest.fixture(scope="module")
def statements(reference_data: Path) -> Path:
    return reference_data / "dno-charging-statements"


@pytest.fixture(scope="module")
def fresh(statements: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path]:
    out = tmp_path_factory.mktemp("config")
    return import_all(statements, out), out


# ------------------------------------------------------------------ independent cell reading

_BOOKS: dict[tuple[str, str], list[tuple]] = {}


def sheet_rows(path: Path, member: str | None, sheet: str) -> list[tuple]:
    """All values of one sheet, read straight with openpyxl (not the importer's code)."""
    key = (f"{path}!{member}", sheet)
    if key not in _BOOKS:
        source = io.BytesIO(zipfile.ZipFile(path).read(member)) if member else path
        book = openpyxl.load_workbook(source, read_only=True, data_only=True)
        _BOOKS[key] = [tuple(r) for r in book[sheet].iter_rows(values_only=True)]
        book.close()
    return _BOOKS[key]


# What each CSV column must equal in the Annex 1 row: the column whose heading starts so.
HEADINGS = {
    "red_p_per_kwh": "red/black unit charge",
    "amber_p_per_kwh": "amber/yellow unit charge",
    "green_p_per_kwh": "green unit charge",
    "fixed_p_per_mpan_per_day": "fixed charge",
    "capacity_p_per_kva_per_day": "capacity charge",
    "exceeded_capacity_p_per_kva_per_day": "exceeded capacity",
    "reactive_p_per_kvarh": "reactive power",
}


def _flat(value) -> str:
    return " ".join(str(value).split()).lower() if value is not None else ""


def _annex1_columns(rows: list[tuple], header_row: int) -> dict[str, int]:
    header = [_flat(v) for v in rows[header_row - 1]]
    out = {"tariff_name": header.index("tariff name")}
    for field, prefix in HEADINGS.items():
        out[field] = next(i for i, text in enumerate(header) if text.startswith(prefix))
    return out


def _header_row(rows: list[tuple]) -> int:
    return next(i + 1 for i, row in enumerate(rows) if any(_flat(v) == "tariff name" for v in row))


def test_import_report_failures_name_workbook_and_table(fresh: tuple[Report, Path]) -> None:
    report, _ = fresh
    # Last Mile's 2025 workbooks for GSP groups _D and _N publish an amber period equal to the
    # red one (16.30-19.30) and no weekend amber: the table overlaps itself, so it is refused.
    lmel = [f for f in report.failed if f["workbook"].startswith("LMEL_")]
    assert sorted(f["workbook"] for f in lmel) == ["LMEL_D_April2025.xlsx", "LMEL_N_April2025.xlsx"]
    for failure in lmel:
        assert failure["error"].startswith(f"{failure['workbook']}: Annex 1 HH time-band table")
        assert "16:30" in failure["error"] and "overlaps" in failure["error"]
    # ESP's 2022 workbooks for GSP groups _C.._F went out with a find-and-replace of one letter
    # by the group's own through their headings ('Red Time Cand', 'Open LLFDs', 'ReE Time BanE',
    # 'RFd TimF Band', 'DNOs paste value Dells'): the tables are not where their headings say, so
    # they are refused, not guessed. IPNL and ENC publish those four groups for 2022 too.
    esp = sorted((f["workbook"][:5], f["error"].split(": ")[1]) for f in report.failed
                 if f["year"] == 2022 and f["distributor_id"] == 25)
    assert esp == [
        ("GSP_C", "Annex 1 HH time-band table (Red/Amber/Green Time Band)"),
        ("GSP_D", "Annex 1 tariff table (heading 'Tariff name')"),
        ("GSP_E", "Annex 1 HH time-band table (Red/Amber/Green Time Band)"),
        ("GSP_F", "Annex 1 HH time-band table (Red/Amber/Green Time Band)"),
    ]
    gsp_d = next(f["error"] for f in report.failed if "GSP_D" in f["workbook"])
    assert "no column for llfcs" in gsp_d
    assert len(report.failed) == 6
    # 2024-2027: 226 workbooks; 2022: 3 DNO + 14 IPNL + 10 ESP + 14 ENC; 2023: 4 + 3 x 14
    assert len(report.imported) == 226 + 41 + 46


def test_reimport_reproduces_the_shipped_files_byte_for_byte(fresh: tuple[Report, Path]) -> None:
    _, out = fresh
    shipped = config_dir()
    made = {p.relative_to(out) for d in GENERATED for p in (out / d).rglob("*") if p.is_file()}
    have = {
        p.relative_to(shipped) for d in GENERATED for p in (shipped / d).rglob("*") if p.is_file()
    } - HAND_WRITTEN
    assert made == have
    different = [
        str(p) for p in sorted(made) if (out / p).read_bytes() != (shipped / p).read_bytes()
    ]
    assert different == []


def test_every_tariff_row_equals_its_workbook_cells(
    fresh: tuple[Report, Path], statements: Path
) -> None:
    """Each CSV row's numbers are the cells of its source row, read independently here."""
    report, out = fresh
    where = {(s.year, s.distributor_id, s.name): s for s, _ in report.imported}
    checked_books: set[tuple] = set()
    rows_checked = 0
    for path in sorted((out / "tariffs").rglob("*.csv")):
        if path.name.endswith(("_ehv.csv", "_llfcs_mdd.csv", "_annex3.csv", "_annex4.csv")):
            continue  # Annex 2, 3, 4 and MDD files: their own tests
        for row in csv.DictReader(path.open(encoding="utf-8")):
            source = where[
                (int(row["year"]), int(row["source_distributor_id"]), row["source_file"])
            ]
            cells = sheet_rows(source.path, source.member, row["source_sheet"])
            columns = _annex1_columns(cells, _header_row(cells))
            line = cells[int(row["source_row"]) - 1]
            assert " ".join(str(line[columns["tariff_name"]]).split()) == row["tariff_name"]
            for field in HEADINGS:
                value = line[columns[field]]
                expected = (
                    "" if value is None else repr(value) if isinstance(value, float) else str(value)
                )
                assert row[field] == expected, (path.name, row["source_row"], field)
            checked_books.add((source.year, source.distributor_id, source.name))
            rows_checked += 1
    # every imported workbook has its rows shipped and checked
    assert checked_books == set(where)
    # each workbook's own file, plus the area files filled from IDNO workbooks (55 area-years:
    # 2022 11, 2023 10, 2024 10, 2025 6, 2026 9, 2027 9)
    filled = [k for k, v in report.used.items() if v.startswith("IDNO ")]
    assert len(filled) == 11 + 10 + 10 + 6 + 9 + 9
    assert rows_checked == sum(len(i.tariffs) for _, i in report.imported) + 32 * len(filled)


def test_ehv_rows_equal_their_annex_2_cells(fresh: tuple[Report, Path]) -> None:
    """DNO workbooks: every Annex 2 row; IDNO workbooks: the sites they list (3 in all)."""
    report, out = fresh
    idno_files = 0
    for source, imported in report.imported:
        if imported.annex2_sheet is None:
            continue
        if source.is_idno:
            name = f"idno/{source.distributor_id}_{source.area:02d}_ehv.csv"
            path = out / "tariffs" / str(source.year) / name
            if not imported.ehv_sites:
                assert not path.exists()
                continue
            idno_files += 1
        else:
            path = out / "tariffs" / str(source.year) / f"{source.area:02d}_ehv.csv"
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
        expected = imported.ehv_sites if source.is_idno else imported.ehv
        assert len(rows) == len(expected) > 0
        cells = sheet_rows(source.path, source.member, imported.annex2_sheet)
        header_at = next(
            i
            for i, r in enumerate(cells)
            if any(_flat(v).startswith("import super red") for v in r)
        )
        header = [_flat(v) for v in cells[header_at]]
        red = header.index(next(t for t in header if t.startswith("import super red")))
        fixed = header.index(next(t for t in header if t.startswith("import fixed")))
        for row in rows:
            line = cells[int(row["source_row"]) - 1]
            for field, col in (
                ("import_super_red_p_per_kwh", red),
                ("import_fixed_p_per_day", fixed),
            ):
                value = line[col]
                assert row[field] == (
                    "" if value is None else repr(value) if isinstance(value, float) else str(value)
                )
    # ESP _A 2026 and 2027 (Maxwell Farm), ETCL _D 2027 (ICT Deeside); ESP's 2022 _G, _N and
    # _P Annex 2 headings have no 'Name' column, so those three (which list no site) are noted
    assert idno_files == 3
    assert [u.split(": ")[1][:5] for u in report.annex2_unreadable] == ["GSP_G", "GSP_N", "GSP_P"]


def test_idno_ehv_site_hand_checked() -> None:
    # ESP 2026 bundle 'GSP_A ESP Electricity  - 2026 with EHV.xlsx', 'Annex 2 Designated EHV
    # charges' row 10: A10 MAXWFM, B10 901, G10 'Maxwell Farm - Google', I10 0.012, J10 49630.48,
    # K10 1.95
    got = resolve_tariff(25, area_distributor_id=10, llfc="901", on=datetime.date(2026, 11, 24))
    assert (got.tariff_name, got.voltage_level, got.dno_id) == ("Maxwell Farm - Google", "EHV", 25)
    assert (got.red_rate, got.fixed_p_per_day, got.capacity_p_per_kva_per_day) == (
        0.012, 49630.48, 1.95)
    assert got.source.endswith("/ row 10")


def test_ehv_hand_checked_cells() -> None:
    # MIDE 2026 'Annex 2 Designated EHV charges' row 19: Takao Europe, LLFC 704,
    # I19 super red 2.979 p/kWh, J19 fixed 1537.66 p/day, K19 capacity 3.86 p/kVA/day.
    rows = list(csv.DictReader((config_dir() / "tariffs/2026/14_ehv.csv").open(encoding="utf-8")))
    takao = next(r for r in rows if r["import_llfcs"] == "704")
    assert (takao["name"], takao["source_row"]) == ("Takao Europe", "19")
    assert takao["import_super_red_p_per_kwh"] == "2.979"
    assert takao["import_fixed_p_per_day"] == "1537.66"
    assert takao["import_capacity_p_per_kva_per_day"] == "3.86"


def test_idno_tariffs_agree_with_their_host_dno(fresh: tuple[Report, Path]) -> None:
    report, _ = fresh
    unexplained = [d for d in report.disagreements if not d.get("reason")]
    assert unexplained == []
    compared_with_dno = {
        (d.year, d.area) for s, d in [(s, s) for s, _ in report.imported] if s.is_idno
    } & {(s.year, s.area) for s, _ in report.imported if not s.is_idno}
    # every DNO workbook has IDNO workbooks to check: 2022 3, 2023 4, 2024-2027 22
    assert len(compared_with_dno) == 3 + 4 + 22


def test_crosscheck_catches_a_changed_rate(fresh: tuple[Report, Path]) -> None:
    report, _ = fresh
    dno = next(i for s, i in report.imported if (s.year, s.area, s.is_idno) == (2026, 14, False))
    idno = next(i for s, i in report.imported if (s.year, s.area, s.is_idno) == (2026, 14, True))
    assert compare(idno, dno) == []
    row = next(r for r in idno.tariffs if r.tariff_name == "HV Site Specific Band 1")
    original = row.values["red_p_per_kwh"]
    row.values["red_p_per_kwh"] = 1.765
    try:
        found = compare(idno, dno)
    finally:
        row.values["red_p_per_kwh"] = original
    assert [(d["tariff_name"], d["field"], d["idno"], d["reference"]) for d in found] == [
        ("HV Site Specific Band 1", "red_p_per_kwh", 1.765, 1.764)
    ]


def test_all_fourteen_areas_have_every_year(fresh: tuple[Report, Path]) -> None:
    _, out = fresh
    for year in (2022, 2023, 2024, 2025, 2026, 2027):
        for area in range(10, 24):
            tariffs = out / "tariffs" / str(year) / f"{area}.csv"
            assert tariffs.exists() and (out / "timebands" / str(year) / f"{area}.yaml").exists()
            rows = list(csv.DictReader(tariffs.open(encoding="utf-8")))
            assert rows and all(
                r["source_file"].endswith(".xlsx") and r["source_row"] for r in rows
            )


# ------------------------------------------------------------------ errors on doctored copies


def _doctored(reference: Path, tmp_path: Path, find: str, replace: str) -> Path:
    src = (
        reference
        / "2026/14/MIDE - Schedule of charges and other tables- 2026 V.0.1 for publishing.xlsx"
    )
    book = openpyxl.load_workbook(src)
    sheet = book["Annex 1 LV, HV and UMS charges"]
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str) and cell.value.strip() == find:
                cell.value = replace
    out = tmp_path / "MIDE doctored.xlsx"
    book.save(out)
    return out


def test_missing_tariff_table_is_named(statements: Path, tmp_path: Path) -> None:
    path = _doctored(statements, tmp_path, "Tariff name", "Tariff")
    with pytest.raises(TariffImportError) as caught:
        import_workbook(read_workbook(path), 14, 2026)
    assert str(caught.value).startswith(
        "MIDE doctored.xlsx: Annex 1 tariff table (heading 'Tariff name'): no cell reading"
    )


def test_missing_time_band_table_is_named(statements: Path, tmp_path: Path) -> None:
    path = _doctored(statements, tmp_path, "Red Time Band", "Peak")
    with pytest.raises(TariffImportError, match=r"^MIDE doctored\.xlsx: Annex 1 HH time-band"):
        import_workbook(read_workbook(path), 14, 2026)


def test_missing_annex_1_sheet_is_named(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.title = "Overview"
    book.save(tmp_path / "empty.xlsx")
    with pytest.raises(TariffImportError, match=r"^empty\.xlsx: Annex 1 .*no sheet named like"):
        import_workbook(read_workbook(tmp_path / "empty.xlsx"), 14, 2026)


def test_wrong_year_is_refused(statements: Path) -> None:
    path = next((statements / "2026/14").glob("*.xlsx"))
    with pytest.raises(TariffImportError, match="states charging year 2026/27, not 2025"):
        import_workbook(read_workbook(path), 14, 2025)


# ------------------------------------------------------------------ parsing details


@pytest.mark.parametrize(
    ("label", "months"),
    [
        ("Monday to Friday \n(Including Bank Holidays)\nAll Year", ()),
        ("Monday to Friday (Including Bank Holidays) Nov to Feb Inclusive", (11, 12, 1, 2)),
        ("Monday to Friday June to August Inclusive", (6, 7, 8)),
        ("Monday to Friday March, April, May and September, October", (3, 4, 5, 9, 10)),
        ("Monday to Friday April to October Inclusive and March", (4, 5, 6, 7, 8, 9, 10, 3)),
        ("Monday to Friday April to March Inclusive", ()),
    ],
)
def test_months_of_labels(label: str, months: tuple[int, ...]) -> None:
    assert months_of(label) == months


def test_time_ranges_formats() -> None:
    assert time_ranges("16.30 - 19.30") == [("16:30", "19:30")]
    assert time_ranges("00.00 - 08.00\n22.30 - 00.00") == [("00:00", "08:00"), ("22:30", "24:00")]
    assert time_ranges("07:30 to 16:00\n19:00 to 21:00") == [("07:30", "16:00"), ("19:00", "21:00")]
    assert time_ranges("00:00-16:00\n20:00-00:00") == [("00:00", "16:00"), ("20:00", "24:00")]


def test_gsp_letters_and_stray_members(statements: Path) -> None:
    assert (
        gsp_letter("GSP_B ESP Electricity  - Schedule of charges and other tables - 2025.xlsx")
        == "B"
    )
    assert gsp_letter("GSP _A ESP Electricity - Schedule of charges - 2027-28.xlsx") == "A"
    assert gsp_letter("GSP P - Schedule of Charges and other tables IPNL 2024-2025.xlsx") == "P"
    assert gsp_letter("dir/LMEL_K_April2025.xlsx") == "K"
    _, skipped = find_sources(statements)
    assert skipped == [
        "2025/26/Last-Mile-Electricity-April-2025-Charges-incl_LLFs.zip: "
        "Last-Mile-Electricity-April-2025-Charges-incl_LLFs/LMEL_F_April2026.xlsx: "
        "states year 2026, not 2025"
    ]


def test_import_single_file_via_cli(statements: Path, tmp_path: Path) -> None:
    from bess_duos.webhook.cli import main

    src = next((statements / "2026/14").glob("*.xlsx"))
    copy = tmp_path / "14" / src.name
    copy.parent.mkdir()
    shutil.copy(src, copy)
    assert main(["tariffs", "import", str(copy), "--year", "2026", "--config", str(tmp_path)]) == 0
    made = (tmp_path / "tariffs/2026/14.csv").read_bytes()
    assert made == (config_dir() / "tariffs/2026/14.csv").read_bytes()


def _slot(hhmm: str) -> int:
    h, m = map(int, hhmm.split(":"))
    return h * 2 + m // 30


def test_hh_table_rows_are_the_published_text(fresh: tuple[Report, Path]) -> None:
    """The parsed periods reproduce every published HH cell's time ranges exactly."""
    report, _ = fresh
    for source, imported in report.imported:
        table = imported.time_bands.slot_table()
        for published in imported.hh_table.rows:
            day = 1 if re.search(r"saturday|sunday|weekend", published["days"], re.I) else 0
            for band in BANDS:
                for start, end in time_ranges(published[band]):
                    months = [m - 1 for m in (months_of(published["days"]) or range(1, 13))]
                    view = table[months, day, _slot(start) : _slot(end)]
                    assert (view == BANDS.index(band)).all(), (source.name, published, band)
    assert DAY_TYPES == ("weekday", "weekend")


def test_import_idno_bundle_via_cli(statements: Path, tmp_path: Path) -> None:
    from bess_duos.webhook.cli import main

    bundle = next((statements / "2026/26").glob("*.zip"))
    assert (
        main(["tariffs", "import", str(bundle), "--year", "2026", "--config", str(tmp_path)]) == 0
    )
    made = sorted(p.name for p in (tmp_path / "tariffs/2026/idno").iterdir())
    assert made == [f"26_{area}.csv" for area in range(10, 24)]
    for name in made:
        shipped = config_dir() / "tariffs/2026/idno" / name
        assert (tmp_path / "tariffs/2026/idno" / name).read_bytes() == shipped.read_bytes()


def test_residual_thresholds_are_national_per_year(fresh: tuple[Report, Path]) -> None:
    """Every area's kVA thresholds for a year are the same (they are set nationally)."""
    _, out = fresh
    for year, expected in ((2023, ("80", "150", "231")), (2025, ("80", "150", "231")),
                           (2026, ("90", "150", "250"))):
        for area in range(10, 24):
            rows = list(csv.DictReader((out / f"residual_bands/{year}/{area}.csv").open()))
            lv = [r["upper"] for r in rows if r["applies_to"] == "LV" and r["units"] == "kVA"]
            assert tuple(lv[:3]) == expected, (year, area)
            assert all(r["source_file"].endswith(".xlsx") and r["source_row"] for r in rows)


def test_residual_threshold_check_flags_area_11_2027_only(fresh: tuple[Report, Path]) -> None:
    """Area 11's 2027 sheets (ESP and Last Mile _B) repeat 2025's thresholds; nothing else."""
    report, out = fresh
    assert [(f["year"], f["area"]) for f in report.residual_findings] == [(2027, 11)]
    made = sorted(p.relative_to(out).as_posix() for p in out.rglob("*_check.yaml"))
    assert made == ["residual_bands/2027/11_check.yaml"]
    check = yaml.safe_load((out / made[0]).read_text(encoding="utf-8"))
    uppers = {(t["applies_to"], t["band"]): t["upper"] for t in check["published"]["thresholds"]}
    assert (uppers[("LV", "1")], uppers[("HV", "1")]) == ("80", "422")
    (alternative,) = check["alternatives"]
    other = {(t["applies_to"], t["band"]): t["upper"] for t in alternative["thresholds"]}
    assert (other[("LV", "1")], other[("LV", "3")], other[("HV", "1")]) == ("90", "250", "500")
    assert "area 14" in alternative["source"] and "area 22" in alternative["source"]
    assert "repeats its 2025 thresholds" in alternative["reason"]


def test_mdd_llfc_files_quote_elexon_mdd(fresh: tuple[Report, Path], reference_data: Path
                                         ) -> None:
    """One `DD_llfcs_mdd.csv` per area-year filled from an IDNO workbook; every record is a
    row of MDD 377's LLFC table for that DNO's MPID, read here with the csv module."""
    report, out = fresh
    filled = sorted(k for k, v in report.used.items() if v.startswith("IDNO "))
    made = sorted(f"{p.parent.name}/{p.name[:2]}"
                  for p in (out / "tariffs").glob("[0-9]*/*_llfcs_mdd.csv"))
    assert made == filled
    table = reference_data / "mdd-377/Line_Loss_Factor_Class_377.csv"
    with table.open(encoding="utf-8-sig", newline="") as handle:
        mdd = {(r["Market Participant ID"], r["Line Loss Factor Class ID"],
                r["Line Loss Factor Class Description"].strip(),
                r["Effective From Settlement Date (LLFC)"]) for r in csv.DictReader(handle)}
    mpids = {int(r["distributor_id"]): r["mpid"]
             for r in csv.DictReader(line for line in (config_dir() / "distributors.csv")
                                     .open(encoding="utf-8") if not line.startswith("#"))}
    for key in filled:
        year, area = key.split("/")
        path = out / "tariffs" / year / f"{area}_llfcs_mdd.csv"
        names = {r["tariff_name"] for r in csv.DictReader(
            (out / "tariffs" / year / f"{area}.csv").open(encoding="utf-8"))}
        for record in csv.DictReader(path.open(encoding="utf-8")):
            assert (mpids[int(area)], record["llfc"], record["description"],
                    record["effective_from"]) in mdd
            assert (record["tariff_name"] in names) != bool(record["reason"])


# ------------------------------------------------------------------ Annex 3 and Annex 4


def _cell_text(value) -> str:
    """A number cell as the CSVs write it: repr of a float, an int as is, '' if empty."""
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def _codes(value) -> str:
    """'Q36, Q41' / 'LV040, LV050' / 2 -> 'Q36 Q41' / 'LV040 LV050' / '2'."""
    if value is None:
        return ""
    return " ".join(p for p in re.split(r"[,\s]+", str(value)) if p)


def _annex3_tables(cells: list[tuple]) -> list[tuple[int, dict[str, int], list[int]]]:
    """(heading row, columns, data rows) of each 'Closed LLFCs' table, read here: the name is
    the unheaded column left of 'Closed LLFCs'; data rows run to the first row with no name."""
    tables = []
    for i, line in enumerate(cells):
        texts = [_flat(v) for v in line]
        if not any(t.startswith("closed llfc") for t in texts):
            continue
        closed = next(c for c, t in enumerate(texts) if t.startswith("closed llfc"))
        columns = {"tariff_name": closed - 1, "closed_llfcs": closed, "pcs": texts.index("pcs")}
        columns |= {f: next(c for c, t in enumerate(texts) if t.startswith(h))
                    for f, h in HEADINGS.items() if any(t.startswith(h) for t in texts)}
        data = []
        for j in range(i + 1, len(cells)):
            name = cells[j][closed - 1] if closed - 1 < len(cells[j]) else None
            if name is None or not str(name).strip() or _flat(name).startswith("notes"):
                break
            data.append(j + 1)
        tables.append((i + 1, columns, data))
    return tables


def test_annex3_and_annex4_rows_equal_their_workbook_cells(fresh: tuple[Report, Path]) -> None:
    """Every shipped Annex 3 and 4 row against its cells, read independently here; and every
    row of those tables is shipped (none left out, none extra)."""
    report, out = fresh
    checked = {3: 0, 4: 0}
    for source, _ in report.imported:
        if source.is_idno:
            continue
        book = openpyxl.load_workbook(source.path, read_only=True, data_only=True)
        sheets = {n: next(s for s in book.sheetnames if s.lower().startswith(f"annex {n} "))
                  for n in (3, 4)}
        book.close()
        for annex, sheet in sheets.items():
            cells = sheet_rows(source.path, None, sheet)
            if annex == 3:
                tables = _annex3_tables(cells)
                assert len(tables) == 2  # supercustomer and site-specific preserved charges
                expected = {r: cols for _, cols, data in tables for r in data}
            else:
                header = _header_row(cells)
                texts = [_flat(v) for v in cells[header - 1]]
                cols = {"tariff_name": texts.index("tariff name"),
                        "billing_ids": texts.index("unique billing identifier"),
                        "pcs": texts.index("pcs")}
                cols |= {f: next(c for c, t in enumerate(texts) if t.startswith(h))
                         for f, h in HEADINGS.items()}
                expected = {}
                for j in range(header, len(cells)):
                    if not str(cells[j][0] or "").startswith("LDNO "):
                        break
                    expected[j + 1] = cols
            path = out / "tariffs" / str(source.year) / f"{source.area:02d}_annex{annex}.csv"
            if not expected:
                assert not path.exists(), path
                continue
            rows = list(csv.DictReader(path.open(encoding="utf-8")))
            assert sorted(int(r["source_row"]) for r in rows) == sorted(expected)
            for row in rows:
                line = cells[int(row["source_row"]) - 1]
                cols = expected[int(row["source_row"])]
                assert (row["annex"], row["source_file"], row["source_sheet"]) == (
                    str(annex), source.name, sheet)
                assert " ".join(str(line[cols["tariff_name"]]).split()) == row["tariff_name"]
                codes = "closed_llfcs" if annex == 3 else "billing_ids"
                assert row[codes] == _codes(line[cols[codes]])
                assert row["pcs"] == (" ".join(str(line[cols["pcs"]]).split())
                                      if line[cols["pcs"]] is not None else "")
                for field in HEADINGS:
                    if field in cols:
                        assert row[field] == _cell_text(line[cols[field]]), (path, field)
                    else:  # Annex 3's supercustomer table has no capacity/reactive columns
                        assert row[field] == ""
                checked[annex] += 1
    # Annex 3: SEPD 8 rows x 6 years, SPM 2025 4, SPD 3 x 3 years; Annex 4: 190 x 29 workbooks
    assert checked == {3: 8 * 6 + 4 + 3 * 3, 4: 190 * 29}
    assert report.annexes_3_4["2026/14"] == {"annex3": 0, "annex4": 190}


def test_annex3_charges_equal_the_annex1_rows_listing_their_llfcs(
    fresh: tuple[Report, Path]
) -> None:
    report, _ = fresh
    assert report.annex3_vs_annex1 == []
    sepd = next(i for s, i in report.imported if (s.year, s.area, s.is_idno) == (2026, 20, False))
    assert annex3_against_annex1(sepd) == []
    row = next(r for r in sepd.annex3 if r.tariff_name == "Non-Domestic Aggregated or CT Band 1")
    original = row.values["fixed_p_per_mpan_per_day"]
    row.values["fixed_p_per_mpan_per_day"] = 13.58
    try:
        found = annex3_against_annex1(sepd)
    finally:
        row.values["fixed_p_per_mpan_per_day"] = original
    # SEPD 2026 Annex 3 row 8 (closed Q36, Q41) against Annex 1 row 17, which lists them closed
    assert [(d["annex3_row"], d["annex1_row"], d["field"], d["difference"]) for d in found] == [
        (8, 17, "fixed_p_per_mpan_per_day", "Annex 3 13.58, Annex 1 13.57")]


def test_ums_periods_reproduce_the_published_cells(fresh: tuple[Report, Path]) -> None:
    """Each shipped UMS table's periods give every half hour one band, and the band each
    published cell names (black/yellow/green, read here from the sheet) at its times."""
    report, out = fresh
    checked = 0
    for path in sorted((out / "timebands").rglob("*.yaml")):
        ums = yaml.safe_load(path.read_text(encoding="utf-8"))["ums"]
        assert ums["periods"], path  # every area-year's table is structured
        bands = TimeBands(0, 0, tuple(BandPeriod(p["band"], p["days"], str(p["start"]),
                                                 str(p["end"]), tuple(p["months"]))
                                      for p in ums["periods"]))
        table = bands.slot_table()  # raises unless each half hour is in exactly one band
        workbook, sheet = ums["source"].split(" / ")[:2]
        source = next(s for s, _ in report.imported if s.name == workbook)
        cells = sheet_rows(source.path, source.member, sheet)
        header = next(i for i, r in enumerate(cells)
                      if any(_flat(v).startswith("black time band") for v in r))
        black = next(c for c, v in enumerate(cells[header])
                     if _flat(v).startswith("black time band"))
        columns = {name: next(c for c, v in enumerate(cells[header])
                              if c >= black and _flat(v).startswith(f"{name} time band"))
                   for name in ("black", "yellow", "green")}  # the HH table's green is left
        for published in ums["published_rows"]:
            line = cells[int(published["row"]) - 1]
            day = 1 if re.search(r"saturday|sunday|weekend", published["days"], re.I) else 0
            months = [m - 1 for m in (months_of(published["days"]) or range(1, 13))]
            for name, band in zip(("black", "yellow", "green"), BANDS, strict=True):
                assert published[name] == str(line[columns[name]] or ""), (path, name)
                for start, end in time_ranges(published[name]):
                    view = table[months, day, _slot(start): _slot(end)]
                    assert (view == BANDS.index(band)).all(), (path, published, name)
        checked += 1
    assert checked == 6 * 14
    assert report.annex4_time_bands == []  # Annex 4's own HH and UMS tables equal Annex 1's
