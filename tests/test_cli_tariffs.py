"""`bess-duos tariffs show|list` over the shipped config/."""

from __future__ import annotations

import csv
import io
import json
import pathlib

import pytest
from bess_duos.webhook.cli import main


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
    assert main(["tariffs", "show", "--dno", "21", "--date", "2022-05-01"]) == 3  # not found
    err = capsys.readouterr().err
    assert "distributor area 21" in err and "2022/23" in err and "tariffs import" in err


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tariffs", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 14 and out[0] == "area 10: charging years 2024, 2025, 2026, 2027"


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


def test_list_json_and_csv(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tariffs", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["area"] for r in rows] == list(range(10, 24))
    assert rows[0]["charging_years"] == [2024, 2025, 2026, 2027]
    assert main(["tariffs", "list", "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "area,charging_years" and lines[1] == "10,2024; 2025; 2026; 2027"


@pytest.mark.parametrize("kva", ["-5", "0", "abc"])
def test_negative_kva_is_a_usage_error_naming_the_flag(
    capsys: pytest.CaptureFixture[str], kva: str
) -> None:
    """Issue 20 item 7: `--kva -5` exits 2 on `tariffs show` as on `duos`."""
    assert main(["tariffs", "show", "--dno", "14", f"--kva={kva}"]) == 2
    err = capsys.readouterr().err
    assert f"argument --kva: {kva!r} is not an agreed capacity: give a number of kVA above 0" \
        in err
