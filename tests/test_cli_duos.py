"""`bess-duos duos`: summary, JSON, per-half-hour CSV, and clean errors (exit 2, no traceback)."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
from bess_duos.webhook.cli import main


def _june_week_csv(path, kvarh: bool = False) -> None:
    """Mon 8 - Sun 14 June 2026 in UK clock time, naive local timestamps: red 10, amber 4,
    green 1 kWh per half hour on weekdays, 2 kWh at weekends (MIDE bands, 2026 workbook)."""
    first = pd.Timestamp("2026-06-08", tz="Europe/London")
    local = pd.date_range(first, first + pd.DateOffset(days=7), freq="30min", inclusive="left")
    minutes = local.hour * 60 + local.minute
    red = (minutes >= 960) & (minutes < 1140)
    amber = ((minutes >= 450) & (minutes < 960)) | ((minutes >= 1140) & (minutes < 1260))
    kwh = np.where(local.day_of_week >= 5, 2.0, np.where(red, 10.0, np.where(amber, 4.0, 1.0)))
    frame = pd.DataFrame({"timestamp": local.strftime("%Y-%m-%d %H:%M"), "kwh": kwh})
    if kvarh:
        frame["kvarh"] = 0.0
    frame.to_csv(path, index=False)


def test_summary_text_for_hv_300_kva(tmp_path, capsys) -> None:
    path = tmp_path / "site.csv"
    _june_week_csv(path)
    assert main(["duos", str(path), "--dno", "14", "--voltage", "HV", "--kva", "300"]) == 0
    out = capsys.readouterr().out
    # HV Site Specific Band 1, 2026 (row 31): units £6.18567 + fixed 7 x 824.91 p = £57.7437
    # + capacity 300 x 9.26 x 7 p = £194.46 -> £258.38937.
    assert "Total             £      258.39" in out
    assert "HV Site Specific Band 1" in out
    assert "red             300.0 kWh  £        5.29" in out
    assert "assumed power factor 0.95" in out


def test_json_and_out_csv(tmp_path, capsys) -> None:
    path, out_csv = tmp_path / "site.csv", tmp_path / "result.csv"
    _june_week_csv(path, kvarh=True)
    argv = ["duos", str(path), "--dno", "14", "--voltage", "HV", "--kva", "300"]
    assert main([*argv, "--json", "--out", str(out_csv)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["summary"]["total_gbp"] == pytest.approx(258.38937, abs=1e-9)
    assert payload["summary"]["assumed_power_factor"] is None  # kVArh given
    assert payload["quality"]["half_hours"] == 336
    written = pd.read_csv(out_csv)
    assert len(written) == 336
    assert {"timestamp_utc", "band", "duos_unit_cost", "duos_total_cost"} <= set(written.columns)
    assert written["duos_total_cost"].sum() == pytest.approx(258.38937, abs=1e-4)
    assert written.loc[0, "timestamp_utc"] == "2026-06-07T23:00:00Z"


def test_bad_file_gives_one_line_error_and_exit_2(tmp_path, capsys) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("when,load\n2026-06-01 00:00,1\n")
    assert main(["duos", str(path), "--dno", "14", "--voltage", "HV", "--kva", "300"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: columns found: ['when', 'load']")
    assert "Traceback" not in err


def test_hourly_file_split_by_the_policy_unless_told_otherwise(reference_data, capsys) -> None:
    name = "UCam_Building_b0_electricity_2019_hourly_kwh.csv"
    path = reference_data / "profiles" / "cambridge_estates" / name
    argv = ["duos", str(path), "--dno", "14", "--voltage", "LV", "--kva", "100"]
    # Asked to aggregate (a 15-minute rule), the hourly file is refused: exit 2.
    assert main([*argv, "--resample", "aggregate"]) == 2
    assert "the profile is hourly" in capsys.readouterr().err
    # By the policy (as `lookup` and the webhook) it is split, with a warning; Jan-Mar 2019 is
    # charging year 2018/19, with no bundled MIDE workbook: the tariff error says so, still
    # without a traceback.
    assert main(argv) == 3  # no tariff: not found
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "charging year 2018/19" in err


def test_unknown_distributor_is_a_clean_error(tmp_path, capsys) -> None:
    path = tmp_path / "site.csv"
    _june_week_csv(path)
    # 99 is RECCo's test IDNO: it names --dno, says to give --area, and not "got --area None"
    assert main(["duos", str(path), "--dno", "99", "--voltage", "HV"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --dno 99 (RECCo TEST ID C) is an IDNO")
    assert "give --area" in err and err.rstrip().endswith("no --area was given")
    assert main(["duos", str(path), "--dno", "9x", "--voltage", "HV"]) == 2
    assert capsys.readouterr().err.startswith("error: --dno 9x: unknown distributor '9x': give")


def test_negative_kva_is_a_usage_error(tmp_path, capsys) -> None:
    path = tmp_path / "site.csv"
    _june_week_csv(path)
    assert main(["duos", str(path), "--dno", "14", "--kva", "-5"]) == 2
    assert "argument --kva: '-5' is not an agreed capacity" in capsys.readouterr().err


def test_csv_summary(tmp_path, capsys) -> None:
    path = tmp_path / "site.csv"
    _june_week_csv(path)
    assert main(["duos", str(path), "--dno", "14", "--voltage", "HV", "--kva", "300",
                 "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1
    # the same £258.38937 as the text summary (HV Site Specific Band 1, 2026 row 31)
    assert float(rows[0]["summary.total_gbp"]) == pytest.approx(258.38937, abs=1e-9)
    assert rows[0]["quality.half_hours"] == "336"


BAD_FILES = {
    "missing.csv": ("when,load\n2026-06-01 00:00,1\n", "columns found"),
    "text.csv": ("timestamp,kwh\n2026-06-01 00:00,1\n2026-06-01 00:30,abc\n", "not a number"),
    "quarter.csv": (  # refused only when told to split: the policy sums 15-minute data
        "timestamp,kwh\n" + "".join(f"2026-06-01 00:{m:02d},1\n" for m in (0, 15, 30, 45)),
        "15-minute data", "--resample", "split"),
    "clash.csv": (
        "timestamp,kwh\n2026-06-01 00:00,1\n2026-06-01 00:00,2\n2026-06-01 00:30,1\n",
        "more than once with different values",
    ),
    "empty.csv": ("", "is empty"),
    "garbage.xlsx": ("PK not really a workbook", "could not be read as xlsx"),
    "skipped.csv": ("timestamp,kwh\n2026-03-29 00:30,1\n2026-03-29 01:00,1\n", "does not exist",
                    "--tz", "Europe/London"),  # refused when told these are UK clock times
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_exit_2_with_a_message_not_a_traceback(tmp_path, capsys, name) -> None:
    text, expected, *flags = BAD_FILES[name]
    path = tmp_path / name
    path.write_text(text)
    argv = ["duos", str(path), "--dno", "14", "--voltage", "HV", "--kva", "300", *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and "Traceback" not in err


def test_huge_file_refused_by_the_cli(tmp_path, capsys) -> None:
    path = tmp_path / "huge.csv"
    with open(path, "wb") as handle:  # sparse 2 GB file: nothing is written or read
        handle.truncate(2 * 1024**3)
    assert main(["duos", str(path), "--dno", "14", "--kva", "300"]) == 2
    assert "over the 200 MB limit" in capsys.readouterr().err


def test_duplicate_identical_rows_warn_on_stderr_and_still_charge(tmp_path, capsys) -> None:
    path = tmp_path / "dup.csv"
    _june_week_csv(path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[1]]) + "\n")  # first data row again
    assert main(["duos", str(path), "--dno", "14", "--voltage", "HV", "--kva", "300"]) == 0
    captured = capsys.readouterr()
    assert "warning: 1 duplicated row(s) with identical values dropped" in captured.err
    assert "Total             £      258.39" in captured.out


def test_idno_without_area_names_the_flag(tmp_path, capsys) -> None:
    path = tmp_path / "site.csv"
    _june_week_csv(path)
    assert main(["duos", str(path), "--dno", "25", "--voltage", "HV"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --dno 25 (ESP Electricity Limited) is an IDNO")
    assert "give --area" in err
    assert main(["duos", str(path), "--dno", "25", "--area", "14", "--voltage", "HV"]) == 0
    assert "IDNO 25 in area 14" in capsys.readouterr().out


def test_tariff_by_name(tmp_path, capsys) -> None:
    path = tmp_path / "site.csv"
    _june_week_csv(path)
    argv = ["duos", str(path), "--dno", "14", "--kva", "300", "--tariff", "HV Site Specific Band 1"]
    assert main(argv) == 0
    # the same row and total as --voltage HV --kva 300 (test_summary_text_for_hv_300_kva)
    out = capsys.readouterr().out
    assert "HV Site Specific Band 1" in out and "Total             £      258.39" in out
    assert main([*argv[:-1], "HV Site Specific Band 9"]) == 3  # not found
    err = capsys.readouterr().err
    assert "no tariff named 'HV Site Specific Band 9' for area 14 in 2026/27" in err
