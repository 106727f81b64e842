"""Profile ingestion: shapes, time zones, conventions, resampling and the data-quality report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.profiles import DEFAULT_MAX_BYTES, ProfileError, load_profile


def _utc_week(start_local: str = "2026-10-19") -> pd.DatetimeIndex:
    first = pd.Timestamp(start_local, tz="Europe/London")
    local = pd.date_range(first, first + pd.DateOffset(days=7), freq="30min", inclusive="left")
    return local.tz_convert("UTC")


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------- long profiles, time zones


def test_naive_local_and_utc_files_give_the_same_series(tmp_path) -> None:
    utc = _utc_week()  # 19-25 Oct 2026: 338 half hours, 25 Oct repeats 01:00-02:00
    kwh = np.arange(utc.size, dtype=float)
    local = utc.tz_convert("Europe/London").tz_localize(None)
    naive = pd.DataFrame({"timestamp": local.strftime("%Y-%m-%d %H:%M"), "kwh": kwh})
    offset = pd.DataFrame({"datetime": utc.strftime("%Y-%m-%dT%H:%M:%SZ"), "kWh": kwh})
    naive.to_csv(tmp_path / "local.csv", index=False)
    offset.to_csv(tmp_path / "utc.csv", index=False)
    from_local = load_profile(tmp_path / "local.csv")
    from_utc = load_profile(tmp_path / "utc.csv")
    pd.testing.assert_frame_equal(from_local.data, from_utc.data)
    assert from_local.data.index.equals(utc.as_unit("ns").rename("timestamp_utc"))
    # Rows 290-293 are 01:00, 01:30, 01:00, 01:30 on 25 Oct: the first pair in row order is
    # BST (00:00, 00:30 UTC), the second GMT (01:00, 01:30 UTC).
    assert local[290:294].strftime("%H:%M").tolist() == ["01:00", "01:30", "01:00", "01:30"]
    repeated = from_local.data.loc["2026-10-25 00:00":"2026-10-25 01:30", "kwh"]
    assert repeated.tolist() == [290.0, 291.0, 292.0, 293.0]
    assert from_local.quality.missing_half_hours == 0
    assert from_local.quality.warnings == ()


def test_naive_march_times_in_the_skipped_hour_say_use_utc(tmp_path) -> None:
    path = _write(
        tmp_path,
        "p.csv",
        "timestamp,kwh\n2026-03-29 00:30,1\n2026-03-29 01:00,1\n2026-03-29 01:30,1\n",
    )
    with pytest.raises(ProfileError, match=r"row 2: 2026-03-29 01:00:00 does not exist.*tz='UTC'"):
        load_profile(path)
    assert load_profile(path, tz="UTC").data.index[1] == pd.Timestamp("2026-03-29 01:00", tz="UTC")


def test_period_ending_convention_shifts_back_half_an_hour(tmp_path) -> None:
    path = _write(tmp_path, "p.csv", "timestamp,kwh\n2026-06-01 00:30,1\n2026-06-01 01:00,2\n")
    start = load_profile(path, timestamp_convention="start").data
    end = load_profile(path, timestamp_convention="end").data
    assert start.index[0] == pd.Timestamp("2026-05-31 23:30", tz="UTC")  # 00:30 BST
    assert end.index[0] == pd.Timestamp("2026-05-31 23:00", tz="UTC")  # period 00:00-00:30 BST
    assert load_profile(path).quality.timestamp_convention == "start"  # config default


def test_kw_column_is_converted_and_kvarh_kept(tmp_path) -> None:
    path = _write(
        tmp_path,
        "p.csv",
        "Timestamp,Demand (kW),Reactive kVArh\n2026-06-01 00:00,10,3\n2026-06-01 00:30,20,4\n",
    )
    data = load_profile(path).data
    assert data["kwh"].tolist() == [5.0, 10.0]  # kWh = kW x 0.5
    assert data["kvarh"].tolist() == [3.0, 4.0]


def test_date_and_time_columns_day_first(tmp_path) -> None:
    path = _write(tmp_path, "p.csv", "Date,Time,kWh\n02/06/2026,00:00,1\n02/06/2026,00:30,2\n")
    data = load_profile(path).data
    assert data.index[0] == pd.Timestamp("2026-06-01 23:00", tz="UTC")  # 2 June 00:00 BST


def test_xlsx_and_parquet(tmp_path) -> None:
    utc = _utc_week("2026-06-08")
    frame = pd.DataFrame({"timestamp": utc.tz_convert(None), "kwh": 1.5})
    frame.to_excel(tmp_path / "p.xlsx", index=False)
    pd.DataFrame({"timestamp": utc, "kwh": 1.5}).to_parquet(tmp_path / "p.parquet")
    from_xlsx = load_profile(tmp_path / "p.xlsx", tz="UTC").data
    from_parquet = load_profile(tmp_path / "p.parquet").data
    assert from_xlsx.index.equals(from_parquet.index)
    assert from_parquet["kwh"].sum() == 1.5 * 336


def test_dataframe_with_datetime_index() -> None:
    utc = _utc_week("2026-06-08")
    profile = load_profile(pd.DataFrame({"consumption_kwh": 1.0}, index=utc))
    assert profile.data.shape == (336, 1)


# ---------------------------------------------------------------- wide profiles


def _wide_rows(dates: list[str], counts: list[int], width: int = 50) -> pd.DataFrame:
    rows = []
    for date, count in zip(dates, counts, strict=True):
        values = [float(i + 1) for i in range(count)] + [np.nan] * (width - count)
        rows.append([date, *values])
    return pd.DataFrame(rows, columns=["Date", *[f"HH{i:02d}" for i in range(1, width + 1)]])


def test_wide_numbered_periods_with_46_and_50_period_days(tmp_path) -> None:
    frame = _wide_rows(["2026-03-29", "2026-03-30", "2026-10-25"], [46, 48, 50])
    frame.to_csv(tmp_path / "wide.csv", index=False)
    profile = load_profile(tmp_path / "wide.csv")
    data = profile.data
    assert profile.quality.shape == "wide"
    assert data.shape[0] == 46 + 48 + 50
    # 29 March: period 3 is 01:00 UTC (02:00 BST), period 46 is 22:30 UTC (23:30 BST).
    assert data.loc["2026-03-29 01:00", "kwh"] == 3.0
    assert data.loc["2026-03-29 22:30", "kwh"] == 46.0
    # 25 October: period 1 is 23:00 UTC on the 24th (00:00 BST); period 50 is 23:30 UTC.
    assert data.loc["2026-10-24 23:00", "kwh"] == 1.0
    assert data.loc["2026-10-25 23:30", "kwh"] == 50.0


def test_wide_surplus_period_on_a_48_period_day_is_an_error(tmp_path) -> None:
    _wide_rows(["2026-06-01"], [49]).to_csv(tmp_path / "wide.csv", index=False)
    with pytest.raises(ProfileError, match=r"period 49 but that day has 48 half hours"):
        load_profile(tmp_path / "wide.csv")


def test_wide_clock_labelled_period_ending(tmp_path) -> None:
    labels = [f"{m // 60:02d}:{m % 60:02d}" for m in range(30, 1441, 30)]  # 00:30 .. 24:00
    frame = pd.DataFrame([["01/06/2026", *range(1, 49)]], columns=["Date", *labels])
    frame.to_csv(tmp_path / "wide.csv", index=False)
    profile = load_profile(tmp_path / "wide.csv")
    assert profile.quality.timestamp_convention == "end"
    # Label 00:30 ends the period 00:00-00:30 BST = 23:00 UTC on 31 May.
    assert profile.data.index[0] == pd.Timestamp("2026-05-31 23:00", tz="UTC")
    assert profile.data["kwh"].iloc[0] == 1
    with pytest.raises(ProfileError, match="period-end times"):
        load_profile(tmp_path / "wide.csv", timestamp_convention="start")


# ---------------------------------------------------------------- resolution


def test_hourly_cambridge_file_needs_split(reference_data) -> None:
    path = (
        reference_data
        / "profiles/cambridge_estates/UCam_Building_b0_electricity_2019_hourly_kwh.csv"
    )
    with pytest.raises(ProfileError, match=r"hourly, not half-hourly.*resample='split'"):
        load_profile(path)
    profile = load_profile(path, resample="split", tz="UTC")
    raw = pd.read_csv(path)
    assert profile.data.shape[0] == 2 * len(raw) == 17520
    assert profile.data["kwh"].sum() == pytest.approx(raw["equipment load [kWh]"].sum())
    assert profile.data["kwh"].iloc[:2].tolist() == [10.9 / 2, 10.9 / 2]
    assert profile.quality.resampled == "split"


def test_fifteen_minute_data_is_named_and_aggregated_on_request(tmp_path) -> None:
    stamps = pd.date_range("2026-06-01 00:00", periods=8, freq="15min")
    frame = pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M"), "kwh": range(1, 9)})
    frame.to_csv(tmp_path / "q.csv", index=False)
    with pytest.raises(ProfileError, match=r"15-minute data.*resample='aggregate'"):
        load_profile(tmp_path / "q.csv")
    data = load_profile(tmp_path / "q.csv", resample="aggregate").data
    assert data["kwh"].tolist() == [3.0, 7.0, 11.0, 15.0]


# ---------------------------------------------------------------- bad files


def test_missing_columns_say_what_was_found_and_expected(tmp_path) -> None:
    path = _write(tmp_path, "p.csv", "when,load\n2026-06-01 00:00,1\n")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert "columns found: ['when', 'load']" in message
    assert "timestamp column" in message and "kwh (or kw)" in message and "48 half-hour" in message


def test_text_in_numbers_names_the_row(tmp_path) -> None:
    path = _write(tmp_path, "p.csv", "timestamp,kwh\n2026-06-01 00:00,1\n2026-06-01 00:30,n/a?\n")
    with pytest.raises(ProfileError, match=r"'kwh' row 2 \(line 3.*'n/a\?' is not a number"):
        load_profile(path)


def test_bad_timestamp_names_the_row(tmp_path) -> None:
    path = _write(tmp_path, "p.csv", "timestamp,kwh\n2026-06-01 00:00,1\nyesterday,2\n")
    with pytest.raises(ProfileError, match=r"row 2: 'yesterday' is not a date/time"):
        load_profile(path)


def test_identical_duplicate_rows_warn_and_conflicting_ones_fail(tmp_path) -> None:
    same = _write(
        tmp_path,
        "same.csv",
        "timestamp,kwh\n2026-06-01 00:00,1\n2026-06-01 00:30,2\n2026-06-01 00:30,2\n",
    )
    profile = load_profile(same)
    assert profile.quality.duplicates == 1
    assert profile.data["kwh"].tolist() == [1.0, 2.0]
    assert any("duplicated" in w for w in profile.quality.warnings)
    clash = _write(
        tmp_path,
        "clash.csv",
        "timestamp,kwh\n2026-06-01 00:00,1\n2026-06-01 00:30,2\n2026-06-01 00:30,5\n",
    )
    with pytest.raises(ProfileError, match="appear more than once with different values"):
        load_profile(clash)


def test_empty_and_header_only_files(tmp_path) -> None:
    with pytest.raises(ProfileError, match=r"is empty \(0 bytes\)"):
        load_profile(_write(tmp_path, "empty.csv", ""))
    with pytest.raises(ProfileError, match="no data rows"):
        load_profile(_write(tmp_path, "header.csv", "timestamp,kwh\n"))


def test_missing_file_and_folder_are_named(tmp_path) -> None:
    with pytest.raises(ProfileError, match=r"none\.csv' not found"):
        load_profile(tmp_path / "none.csv")
    with pytest.raises(ProfileError, match="is a folder: give the profile file itself"):
        load_profile(tmp_path)


def test_huge_file_is_refused_before_reading(tmp_path) -> None:
    path = tmp_path / "huge.csv"
    with open(path, "wb") as handle:  # sparse: 2 GB of apparent size, no blocks written
        handle.truncate(2 * 1024**3)
    assert path.stat().st_size > DEFAULT_MAX_BYTES
    with pytest.raises(ProfileError, match=r"2,048 MB, over the 200 MB limit"):
        load_profile(path)


def test_unsupported_type_and_unreadable_xlsx(tmp_path) -> None:
    with pytest.raises(ProfileError, match=r"unsupported type '\.json'"):
        load_profile(_write(tmp_path, "p.json", "{}"))
    with pytest.raises(ProfileError, match="could not be read as xlsx"):
        load_profile(_write(tmp_path, "p.xlsx", "not a zip"))


def test_quality_report_counts_gaps_nans_negatives_spikes(tmp_path) -> None:
    stamps = pd.date_range("2026-06-01 00:00", periods=200, freq="30min")
    kwh = np.ones(200)
    kwh[10] = np.nan
    kwh[20] = -1.0
    kwh[30] = 500.0
    frame = pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%d %H:%M"), "kwh": kwh})
    frame = frame.drop(index=[50, 51, 52])
    frame.to_csv(tmp_path / "p.csv", index=False)
    q = load_profile(tmp_path / "p.csv").quality
    assert q.nans == 1
    assert q.missing_half_hours == 4  # three dropped rows + the NaN row
    assert q.gaps[0] == ("2026-06-01 04:00", "2026-06-01 04:00")  # 05:00 BST, the NaN
    # Rows 50-52 are 01:00-02:00 BST on 2 June = 00:00-01:00 UTC.
    assert q.gaps[1] == ("2026-06-02 00:00", "2026-06-02 01:00")
    assert q.negatives == 1 and q.spikes == 1
    assert q.half_hours == 196 and q.expected_half_hours == 200
    assert len(q.warnings) == 4
    assert q.to_dict()["gaps"][1] == ["2026-06-02 00:00", "2026-06-02 01:00"]


def test_off_grid_timestamps_are_an_error(tmp_path) -> None:
    path = _write(tmp_path, "p.csv", "timestamp,kwh\n2026-06-01 00:10,1\n2026-06-01 00:40,1\n")
    with pytest.raises(ProfileError, match="not on the half hour"):
        load_profile(path)


def test_hourly_kw_becomes_kwh_by_its_step_before_the_split(tmp_path) -> None:
    # 40 kW average over an hour is 40 kWh, i.e. 20 kWh in each half hour (not 40 x 0.5 / 2).
    path = _write(tmp_path, "p.csv", "timestamp,kW\n2026-06-01 00:00,40\n2026-06-01 01:00,40\n")
    data = load_profile(path, resample="split").data
    assert data["kwh"].tolist() == [20.0, 20.0, 20.0, 20.0]


def test_semicolon_separated_file(tmp_path) -> None:
    path = _write(tmp_path, "p.csv", "timestamp;kwh\n2026-06-01 00:00;1.5\n2026-06-01 00:30;2\n")
    assert load_profile(path).data["kwh"].tolist() == [1.5, 2.0]


def test_date_and_time_columns_that_both_hold_datetimes_are_refused_by_row() -> None:
    # Found by tests/test_hardening_property.py: pandas raised "Mixed timezones detected" even
    # when coercing, a 500 from the webhook.
    stamps = pd.date_range("2000-01-01", periods=49, freq="30min").strftime("%Y-%m-%d %H:%M")
    kwh = [0.5 + i % 7 for i in range(49)]
    content = ("kwh,kw,date,time\n" + "\n".join(
        f"{v},{v},{s},{s}" for v, s in zip(kwh, stamps, strict=True))).encode()
    with pytest.raises(ProfileError, match=r"timestamp row 1: '2000-01-01 2000-01-01 00:00' is "
                                           r"not a date/time"):
        load_profile(content, name="p.csv")
