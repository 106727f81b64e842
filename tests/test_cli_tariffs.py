"""`bess-duos tariffs show|list` over the shipped config/."""

from __future__ import annotations

import csv
import io
import json
import pathlib

import pytest
from bess_duos.core.paths import config_dir
from bess_duos.webhook.cli import build_parser, main


def test_show_mide_hv_for_2026_27(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tariffs", "show", "--dno", "14", "--voltage", "HV", "--date", "2026-11-24"]) == 0
    out = capsys.readouterr().out
    # MIDE 2026 'Annex 1 LV, HV and UMS charges'!D31:F31
    assert "unit rates p/kWh:  red 1.764  amber 0.205  green 0.011" in out
    assert "charging year 2026/27" in out and "row 31" in out
    assert "Mon–Fri 16:00–19:00" in out and "Sat–Sun 00:00–24:00" in out
    assert "Including Bank Holidays" in out


def test_show_half_hour_bands_and_kva(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "tariffs",
        "show",
        "--dno",
        "18",
        "--voltage",
        "lv sub",
        "--date",
        "2026-06-01",
        "--kva",
        "200",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "LV Sub Site Specific Band 3" in out and "150 < kVA <= 250" in out
    assert "Mon–Fri 16:30–19:30" in out and "Sat–Sun 16:00–20:00" in out


def test_show_idno_needs_area(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tariffs", "show", "--dno", "25", "--voltage", "HV"]) == 2
    assert "is an IDNO, which has no single area: give --area" in capsys.readouterr().err
    assert (
        main(
            [
                "tariffs",
                "show",
                "--dno",
                "25",
                "--area",
                "17",
                "--voltage",
                "HV",
                "--date",
                "2026-11-24",
            ]
        )
        == 0
    )
    # ESP GSP_P 2026 'Annex 1 LV, HV and UMS charges'!D33:F33
    assert "red 1.97  amber 0.525  green 0.323" in capsys.readouterr().out


def test_show_missing_year_explains(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tariffs", "show", "--dno", "21", "--date", "2021-05-01"]) == 3  # not found
    err = capsys.readouterr().err
    assert "distributor area 21" in err and "2021/22" in err and "tariffs import" in err


def test_years(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tariffs", "years"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 14 and out[0] == "area 10: charging years 2022, 2023, 2024, 2025, 2026, 2027"


def test_import_bad_file(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "14" / "broken.xlsx"
    bad.parent.mkdir()
    bad.write_text("not a workbook")
    assert main(["tariffs", "import", str(bad), "--year", "2026", "--config", str(tmp_path)]) == 2
    assert "broken.xlsx: workbook: cannot be opened" in capsys.readouterr().err


def test_show_unknown_dno_and_wrong_area_name_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tariffs", "show", "--dno", "99999"]) == 2
    assert "error: --dno 99999: unknown distributor '99999': give an ID" in capsys.readouterr().err
    assert main(["tariffs", "show", "--dno", "14", "--area", "15"]) == 2
    assert "--area 15: --dno 14 is a DNO" in capsys.readouterr().err
    # an MPID works as well as the ID: MIDE 2026 'Annex 1 LV, HV and UMS charges'!D31:F31
    args = ["tariffs", "show", "--dno", "MIDE", "--voltage", "HV", "--date", "2026-11-24"]
    assert main(args) == 0
    assert "red 1.764  amber 0.205  green 0.011" in capsys.readouterr().out


def test_import_missing_file_says_what_to_give(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    assert main(["tariffs", "import", str(tmp_path / "none.xlsx"), "--year", "2026"]) == 2
    err = capsys.readouterr().err
    assert "none.xlsx' not found" in err and "Schedule of charges" in err


def test_import_unreadable_zip_names_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    bundle = tmp_path / "bundle.zip"
    bundle.write_text("not a zip")
    assert main(["tariffs", "import", str(bundle), "--year", "2026", "--dno", "25"]) == 2
    err = capsys.readouterr().err
    assert f"import failed: {bundle}: cannot be read (File is not a zip file)" in err


def test_show_json_and_csv_carry_the_published_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["tariffs", "show", "--dno", "14", "--voltage", "HV", "--date", "2026-11-24"]
    assert main([*base, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # MIDE 2026 'Annex 1 LV, HV and UMS charges'!D31:F31
    assert (data["red_rate_p_per_kwh"], data["amber_rate_p_per_kwh"],
            data["green_rate_p_per_kwh"]) == (1.764, 0.205, 0.011)
    assert data["charging_year"] == 2026 and data["distributor_id"] == 14
    assert "Mon–Fri 16:00–19:00" in data["time_bands"]["red"]
    assert main([*base, "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1 and rows[0]["red_rate_p_per_kwh"] == "1.764"
    assert "Mon–Fri 16:00–19:00" in rows[0]["time_bands.red"]


def test_years_json_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tariffs", "years", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["area"] for r in rows] == list(range(10, 24))
    assert rows[0]["charging_years"] == [2022, 2023, 2024, 2025, 2026, 2027]
    assert main(["tariffs", "years", "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "area,charging_years"
    assert lines[1] == "10,2022; 2023; 2024; 2025; 2026; 2027"


@pytest.mark.parametrize("kva", ["-5", "0", "abc"])
def test_negative_kva_is_a_usage_error_naming_the_flag(
    capsys: pytest.CaptureFixture[str], kva: str
) -> None:
    """Issue 20 item 7: `--kva -5` exits 2 on `tariffs show` as on `duos`."""
    assert main(["tariffs", "show", "--dno", "14", f"--kva={kva}"]) == 2
    err = capsys.readouterr().err
    assert f"argument --kva: {kva!r} is not an agreed capacity: give a number of kVA above 0" \
        in err


# ------------------------------------------------------------------ issue 17: every tariff


def _show_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["tariffs", "show", *args, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_show_mide_hv_2023_24_json(capsys: pytest.CaptureFixture[str]) -> None:
    got = _show_json(capsys, "--dno", "14", "--voltage", "HV", "--date", "2023-11-24")
    # MIDE 2023 V.0.2 'Annex 1 LV, HV and UMS charges' row 33, read by hand: A33 'HV Site
    # Specific Band 1', B33 '365, 367', D33 1.183, E33 0.208, F33 0.017, G33 1252.15,
    # H33 5.64, I33 7.34, J33 0.03
    assert (got["tariff_name"], got["llfcs"], got["charging_year"]) == (
        "HV Site Specific Band 1", ["365", "367"], 2023)
    assert [got[k] for k in ("red_rate_p_per_kwh", "amber_rate_p_per_kwh", "green_rate_p_per_kwh",
                             "fixed_p_per_day", "capacity_p_per_kva_per_day",
                             "exceeded_capacity_p_per_kva_per_day", "reactive_p_per_kvarh")] == [
        1.183, 0.208, 0.017, 1252.15, 5.64, 7.34, 0.03]
    assert got["source"].endswith("/ row 33") and "2023" in got["source"]
    assert "band 1 assumed" in got["selection_note"]
    assert "Mon–Fri 16:00–19:00" in got["time_bands"]["red"]


@pytest.mark.parametrize(
    ("area", "group", "gsp", "row", "cells"),
    [
        # IPNL 2023-2024 FINAL bundle, 'GSP X - ... IPNL 2023-2024 FINAL.xlsx', Annex 1 'HV Site
        # Specific Band 1': D red, E amber, F green, G fixed, H capacity (read by hand)
        (19, "UKPN", "J", 33, (4.902, 0.169, 0.045, 627.33, 4.25)),
        (17, "SSEN", "P", 33, (1.894, 0.41, 0.184, 854.82, 13.9)),
        (18, "SPEN", "N", 33, (2.687, 0.204, 0.003, 3044.35, 5.23)),
        (23, "NPg", "M", 33, (1.652, 0.419, 0.059, 1703.33, 1.88)),
        (16, "ENWL", "G", 31, (4.248, 0.632, 0.063, 1150.21, 3.76)),
    ],
)
def test_show_hv_2023_24_from_idno_bundles(
    capsys: pytest.CaptureFixture[str], area: int, group: str, gsp: str, row: int,
    cells: tuple[float, ...],
) -> None:
    got = _show_json(capsys, "--dno", str(area), "--voltage", "HV", "--date", "2023-11-24")
    assert got["source"].startswith(f"GSP {gsp} - Schedule of Charges and other tables IPNL "
                                    "2023-2024 FINAL.xlsx") and got["source"].endswith(f"row {row}")
    fields = ("red_rate_p_per_kwh", "amber_rate_p_per_kwh", "green_rate_p_per_kwh",
              "fixed_p_per_day", "capacity_p_per_kva_per_day")
    assert tuple(got[k] for k in fields) == cells


def _shipped_rows() -> list[dict[str, str]]:
    root = config_dir() / "tariffs"
    # tariff files: YYYY/DD.csv and YYYY/idno/NN_DD.csv (not *_ehv.csv, *_llfcs_mdd.csv)
    paths = [p for pattern in ("[0-9]*/*.csv", "[0-9]*/idno/*.csv")
             for p in sorted(root.glob(pattern)) if p.stem.replace("_", "").isdigit()]
    return [row for p in paths for row in csv.DictReader(p.open(encoding="utf-8"))]


def test_every_shipped_tariff_is_reachable_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    """Every row of every area-year (DNO area files and IDNOs' own), through the CLI's parser
    and `tariffs show` command (the parser is built once: building it is most of a call)."""
    parser = build_parser()
    rows = _shipped_rows()
    areas = {(r["year"], r["area_distributor_id"]) for r in rows if r["distributor_id"] == r[
        "area_distributor_id"]}
    assert len(areas) == 6 * 14
    for row in rows:
        where = ["--dno", row["distributor_id"], "--date", f"{row['year']}-06-01"]
        if row["distributor_id"] != row["area_distributor_id"]:
            where += ["--area", row["area_distributor_id"]]
        args = parser.parse_args(["tariffs", "show", *where, "--tariff", row["tariff_name"],
                                  "--json"])
        assert args.func(args) == 0, capsys.readouterr().err
        got = json.loads(capsys.readouterr().out)
        assert (got["tariff_name"], got["llfcs"], got["source"].rsplit(" ", 1)[-1]) == (
            row["tariff_name"], row["llfcs"].split(), row["source_row"])
        assert got["fixed_p_per_day"] == float(row["fixed_p_per_mpan_per_day"] or 0)
        assert got["red_rate_p_per_kwh"] == float(row["red_p_per_kwh"] or 0)


def test_tariff_name_close_match_and_case(capsys: pytest.CaptureFixture[str]) -> None:
    where = ["tariffs", "show", "--dno", "13", "--date", "2024-06-01", "--tariff"]
    assert main([*where, "Non-Domestic Aggregate Band 3"]) == 3  # not found
    err = capsys.readouterr().err
    assert "no tariff named 'Non-Domestic Aggregate Band 3' for area 13 in 2024/25" in err
    assert "did you mean 'Non-Domestic Aggregated Band 3'" in err
    # the example: unreachable before by voltage or LLFC. IPNL GSP D 2024-2025 row 19
    assert main([*where, "non-domestic aggregated  band 3"]) == 0
    out = capsys.readouterr().out
    assert "Non-Domestic Aggregated Band 3" in out and "row 19" in out and "as named" in out


def test_list_filters_and_formats(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["tariffs", "list", "--dno", "SWEB", "--date", "2025-01-01", "--voltage", "LV"]
    assert main([*base, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["charging_year"] for r in rows} == {2024}
    assert {r["voltage_level"] for r in rows} == {"LV"}
    both = [r["tariff_name"] for r in rows if "581" in r["llfcs"]]
    assert both == ["LV Generation Aggregated", "LV Generation Site Specific"]
    assert main([*base, "--csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["tariff_name"] for r in table] == [r["tariff_name"] for r in rows]
    assert main(["tariffs", "list", "--dno", "16", "--date", "2023-06-01"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 32 and lines[0].startswith("2023/24  area 16")
    assert main(["tariffs", "list", "--dno", "24", "--area", "16", "--date", "2023-06-01"]) == 0
    assert "IDNO 24 in area 16" in capsys.readouterr().out


def test_ambiguous_llfc_is_refused_naming_both(capsys: pytest.CaptureFixture[str]) -> None:
    where = ["tariffs", "show", "--dno", "22", "--date", "2024-06-01", "--llfc", "581"]
    assert main(where) == 3  # not found: refused, naming both
    err = capsys.readouterr().err
    assert "'LV Generation Aggregated' and 'LV Generation Site Specific'" in err
    assert "--tariff" in err
    got = _show_json(capsys, *where[2:], "--tariff", "LV Generation Site Specific")
    # SWEB 2024 V.0.1 Annex 1 'LV Generation Site Specific': reactive 0.153 p/kVArh
    assert (got["tariff_name"], got["reactive_p_per_kvarh"]) == ("LV Generation Site Specific",
                                                               0.153)


def test_area_11_2027_residual_doubt_and_settling(capsys: pytest.CaptureFixture[str]) -> None:
    # 85 kVA: band 2 under the _B sheets' 80/150/231, band 1 under the other 2027 NGED sheets'
    # 90/150/250; fixed charges IPNL GSP B 2027-2028 Annex 1 G24 226.69 and G23 139.65
    lv = ["--dno", "11", "--date", "2027-06-01", "--voltage", "LV"]
    got = _show_json(capsys, *lv, "--kva", "85")
    doubt = got["residual_doubt"]
    assert "band 2: 'LV Site Specific Band 2', fixed 226.69 p/MPAN/day" in doubt
    assert "band 1: 'LV Site Specific Band 1', fixed 139.65 p/MPAN/day" in doubt
    assert doubt in got["selection_note"] and "--residual-band" in doubt
    settled = _show_json(capsys, *lv, "--kva", "85", "--residual-band", "1")
    assert (settled["tariff_name"], settled["residual_doubt"]) == ("LV Site Specific Band 1", "")
    assert settled["fixed_p_per_day"] == 139.65


def test_every_annex_3_and_4_row_is_reachable_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    """Every shipped Annex 3 and 4 row, through the CLI with --annex; Annex 4 names are unique
    to Annex 4, so they are reached without --annex too (Annex 3 names repeat Annex 1's)."""
    parser = build_parser()
    paths = sorted((config_dir() / "tariffs").glob("[0-9]*/*_annex[34].csv"))
    rows = [row for p in paths for row in csv.DictReader(p.open(encoding="utf-8"))]
    assert len(rows) == 61 + 190 * 29
    for row in rows:
        base = ["tariffs", "show", "--dno", row["distributor_id"], "--date",
                f"{row['year']}-06-01", "--tariff", row["tariff_name"], "--json"]
        tries = [[*base, "--annex", row["annex"]]]
        if row["annex"] == "4" and row["source_row"] in ("14", "15", "203"):
            tries.append(base)  # a few without --annex (each parse+show is ~ms)
        for argv in tries:
            args = parser.parse_args(argv)
            assert args.func(args) == 0, capsys.readouterr().err
            got = json.loads(capsys.readouterr().out)
            assert (got["annex"], got["tariff_name"], got["source"].rsplit(" ", 1)[-1]) == (
                int(row["annex"]), row["tariff_name"], row["source_row"])
            assert got["billing_ids"] == row["billing_ids"].split()
            assert got["closed_llfcs"] == row["closed_llfcs"].split()
            assert got["fixed_p_per_day"] == float(row["fixed_p_per_mpan_per_day"] or 0)
            assert got["green_rate_p_per_kwh"] == float(row["green_p_per_kwh"] or 0)


def test_list_annex_column_and_filter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tariffs", "list", "--dno", "20", "--date", "2026-06-01", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    counts = {a: sum(1 for r in rows if r["annex"] == a) for a in (1, 3, 4)}
    assert counts == {1: 32, 3: 8, 4: 190}
    assert main(["tariffs", "list", "--dno", "20", "--date", "2026-06-01", "--annex", "3",
                 "--csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["annex"], r["closed_llfcs"]) for r in table][:2] == [
        ("3", "124-125"), ("3", "112-114; 116-120; 122-123")]  # lists: "; "
    assert main(["tariffs", "list", "--dno", "12", "--date", "2026-06-01", "--annex", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 190
    assert lines[0].startswith("2026/27  area 12") and " annex 4 " in lines[0]
    assert lines[0].endswith("billing IDs A00")
    # an IDNO has Annex 1 only: asking it for Annex 4 finds nothing (exit 3)
    assert main(["tariffs", "list", "--dno", "24", "--area", "16", "--date", "2023-06-01",
                 "--annex", "4"]) == 3


def test_show_annex_flag_errors(capsys: pytest.CaptureFixture[str]) -> None:
    where = ["tariffs", "show", "--dno", "14", "--date", "2026-06-01"]
    assert main([*where, "--tariff", "LDNO HV: HV Site Specific Band 2", "--annex", "3"]) == 3
    assert "area 14 publishes no Annex 3 (preserved tariffs) rows for 2026/27" in (
        capsys.readouterr().err)
    assert main([*where, "--voltage", "HV", "--annex", "4"]) == 2  # needs --tariff
    assert "give the tariff name too" in capsys.readouterr().err
    assert main([*where, "--tariff", "LDNO HV: HV Site Specfic Band 2"]) == 3
    assert "did you mean 'LDNO HV: HV Site Specific Band 2'" in capsys.readouterr().err


def test_unmetered_tariff_json_gives_its_ums_bands(capsys: pytest.CaptureFixture[str]) -> None:
    where = ["tariffs", "show", "--dno", "18", "--date", "2026-06-01", "--json", "--tariff"]
    assert main([*where, "Unmetered Supplies"]) == 0
    got = json.loads(capsys.readouterr().out)
    # SPD 2026 Annex 1 row 7: black 16.30 - 19.30, Mon-Fri November to February
    assert {"band": "black", "days": "weekday", "start": "16:30", "end": "19:30",
            "months": [11, 12, 1, 2]} in got["ums_time_bands"]
    assert {p["band"] for p in got["ums_time_bands"]} == {"black", "yellow", "green"}
    assert main([*where, "HV Site Specific Band 1"]) == 0
    assert json.loads(capsys.readouterr().out)["ums_time_bands"] is None
