"""Band assignment in UK clock time: DST offsets, clock-change days, bands per charging year."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.bands import (
    BandAssignmentError,
    assign_band_index,
    assign_bands,
    bst_transitions,
    uk_clock,
    uk_offset_ns,
)
from bess_duos.core.timebands import BandPeriod, TimeBands

from tests.mide_2026 import MIDE_PERIODS

# NGED West Midlands (14) time bands, 2025 and 2026 workbooks (same rows): tests/mide_2026.py.
MIDE_2025 = TimeBands(14, 2025, MIDE_PERIODS, source="MIDE 2025 Annex 1")
MIDE_2026 = TimeBands(14, 2026, MIDE_PERIODS, source="MIDE 2026 Annex 1")


def _utc(*stamps: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(list(stamps)).tz_localize("UTC")


def _band_at(stamp_utc: str) -> str:
    return str(assign_bands(_utc(stamp_utc), {2025: MIDE_2025, 2026: MIDE_2026})[0])


def test_offsets_match_tzdata_every_half_hour_1996_to_2045() -> None:
    grid = pd.date_range("1996-01-01", "2045-12-31 23:30", freq="30min", tz="UTC").as_unit("ns")
    expected = grid.tz_convert("Europe/London").tz_localize(None).asi8 - grid.asi8
    assert np.array_equal(uk_offset_ns(grid.asi8), expected)


def test_offsets_before_1996_use_tzdata() -> None:
    grid = pd.date_range("1985-10-20", "1985-10-31", freq="30min", tz="UTC").as_unit("ns")
    expected = grid.tz_convert("Europe/London").tz_localize(None).asi8 - grid.asi8
    assert np.array_equal(uk_offset_ns(grid.asi8), expected)


def test_transitions_2026_are_last_sundays_at_one_utc() -> None:
    starts_ends = pd.to_datetime(bst_transitions(2026, 2026), utc=True)
    assert list(starts_ends.strftime("%Y-%m-%d %H:%M")) == ["2026-03-29 01:00", "2026-10-25 01:00"]


def test_march_clock_change_day_has_46_half_hours_and_skips_0100() -> None:
    day = pd.date_range("2026-03-29 00:00", periods=46, freq="30min", tz="UTC")  # 29 Mar local
    clock = uk_clock(day)
    assert set(clock.local_day) == {int(np.datetime64("2026-03-29", "D").astype(np.int64))}
    # 00:00, 00:30 GMT, then the clock jumps: 01:00 UTC is 02:00 BST (slot 4).
    assert list(clock.slot[:4]) == [0, 1, 4, 5]
    assert clock.slot[-1] == 47
    assert sorted(set(range(48)) - set(clock.slot)) == [2, 3]


def test_october_clock_change_day_has_50_half_hours_repeating_0100() -> None:
    day = pd.date_range("2026-10-24 23:00", periods=50, freq="30min", tz="UTC")  # 25 Oct local
    clock = uk_clock(day)
    assert set(clock.local_day) == {int(np.datetime64("2026-10-25", "D").astype(np.int64))}
    # 00:00 BST .. 01:30 BST, then 01:00 GMT again: slots 2 and 3 occur twice.
    assert list(clock.slot[:6]) == [0, 1, 2, 3, 2, 3]
    assert np.bincount(clock.slot, minlength=48)[[2, 3]].tolist() == [2, 2]
    assert clock.weekend.all()


def test_late_march_week_bands_follow_the_clock() -> None:
    # Fri 27 Mar 2026 is GMT: 15:00 UTC = 15:00 clock (amber), 16:00 UTC = 16:00 (red).
    assert _band_at("2026-03-27 15:00") == "amber"
    assert _band_at("2026-03-27 16:00") == "red"
    assert _band_at("2026-03-27 18:30") == "red"
    assert _band_at("2026-03-27 19:00") == "amber"
    # Mon 30 Mar 2026 is BST: 15:00 UTC = 16:00 clock (red); 18:00 UTC = 19:00 (amber).
    assert _band_at("2026-03-30 14:30") == "amber"
    assert _band_at("2026-03-30 15:00") == "red"
    assert _band_at("2026-03-30 17:30") == "red"
    assert _band_at("2026-03-30 18:00") == "amber"
    assert _band_at("2026-03-30 06:30") == "amber"  # 07:30 BST
    assert _band_at("2026-03-30 06:00") == "green"  # 07:00 BST


def test_late_october_week_bands_follow_the_clock() -> None:
    # Fri 23 Oct 2026 is BST: 15:00 UTC is 16:00 clock (red), 20:00 UTC is 21:00 (green).
    assert _band_at("2026-10-23 15:00") == "red"
    assert _band_at("2026-10-23 19:30") == "amber"
    assert _band_at("2026-10-23 20:00") == "green"
    # Mon 26 Oct 2026 is GMT: 15:00 UTC is 15:00 clock (amber), 16:00 red, 21:00 green.
    assert _band_at("2026-10-26 15:00") == "amber"
    assert _band_at("2026-10-26 16:00") == "red"
    assert _band_at("2026-10-26 20:30") == "amber"
    assert _band_at("2026-10-26 21:00") == "green"
    # Sat 24 Oct 23:30 UTC is 00:30 BST on Sunday: weekend green; Fri 23 Oct 23:00 UTC is
    # 00:00 BST Saturday.
    assert _band_at("2026-10-24 23:30") == "green"


def test_weekday_count_of_a_clock_change_week() -> None:
    # Mon 19 - Sun 25 Oct 2026 in UK clock time: 5 x 48 weekday + 48 + 50 weekend half hours.
    week = pd.date_range("2026-10-18 23:00", "2026-10-25 23:30", freq="30min", tz="UTC")
    clock = uk_clock(week)
    assert week.size == 5 * 48 + 48 + 50
    assert int((~clock.weekend).sum()) == 5 * 48
    index = assign_bands(week, MIDE_2026)
    counts = pd.Series(index).value_counts()
    # Each weekday: red 6, amber 17 + 4 = 21, green 15 + 6 = 21; weekend all green.
    assert counts["red"] == 5 * 6
    assert counts["amber"] == 5 * 21
    assert counts["green"] == 5 * 21 + 48 + 50


def test_bank_holiday_is_an_ordinary_weekday() -> None:
    # Good Friday 3 Apr 2026: "Monday to Friday (Including Bank Holidays)"; 16:00 BST = 15:00 UTC.
    assert _band_at("2026-04-03 15:00") == "red"


def test_charging_year_switches_at_uk_midnight_on_1_april() -> None:
    # 31 Mar 2026 23:00 UTC is 00:00 BST on 1 April: charging year 2026.
    stamps = _utc("2026-03-31 22:30", "2026-03-31 23:00")
    _, years = assign_band_index(stamps, {2025: MIDE_2025, 2026: MIDE_2026})
    assert years.tolist() == [2025, 2026]


def test_each_year_uses_its_own_bands() -> None:
    # A made-up 2026 table with red at 17:00-20:00 shows that the table is chosen per year.
    shifted = TimeBands(
        14,
        2026,
        (
            BandPeriod("red", "weekday", "17:00", "20:00"),
            BandPeriod("amber", "weekday", "07:30", "17:00"),
            BandPeriod("amber", "weekday", "20:00", "21:00"),
            *MIDE_PERIODS[3:],
        ),
    )
    stamps = _utc("2026-03-31 15:00", "2026-04-01 15:00")  # 16:00 BST on Tue and Wed
    bands = assign_bands(stamps, {2025: MIDE_2025, 2026: shifted})
    assert list(bands) == ["red", "amber"]


def test_missing_year_is_a_clear_error() -> None:
    with pytest.raises(BandAssignmentError, match=r"charging year 2027/28"):
        assign_bands(_utc("2027-06-01 12:00"), {2026: MIDE_2026})


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(BandAssignmentError, match="no time zone"):
        assign_bands(pd.DatetimeIndex(["2026-06-01 12:00"]), MIDE_2026)


def test_sparse_and_dense_paths_agree() -> None:
    rng = np.random.default_rng(4)
    dense = pd.date_range("2025-12-01", "2026-12-01", freq="30min", tz="UTC").as_unit("ns")
    sparse = np.sort(rng.choice(dense.asi8, size=200, replace=False))
    bands = {2025: MIDE_2025, 2026: MIDE_2026}
    dense_bands, _ = assign_band_index(dense, bands)
    sparse_bands, _ = assign_band_index(sparse, bands)  # few stamps over a year: direct path
    position = np.searchsorted(dense.asi8, sparse)
    assert np.array_equal(dense_bands[position], sparse_bands)


def test_random_instants_match_a_tz_convert_reference() -> None:
    # Reference: pandas tz_convert per timestamp, then month / weekday / slot / charging year.
    rng = np.random.default_rng(7)
    low = pd.Timestamp("2024-01-01", tz="UTC").value // 1_800_000_000_000
    high = pd.Timestamp("2028-01-01", tz="UTC").value // 1_800_000_000_000
    stamps = pd.to_datetime(rng.integers(low, high, 5000) * 1_800_000_000_000, utc=True)
    local = stamps.tz_convert("Europe/London")
    years = np.where(local.month >= 4, local.year, local.year - 1)
    table = MIDE_2026.slot_table()
    expected = table[local.month - 1, (local.day_of_week >= 5).astype(int), local.hour * 2 +
                     local.minute // 30]  # fmt: skip
    bands = {year: TimeBands(14, year, MIDE_PERIODS) for year in range(2023, 2028)}
    index, charging_years = assign_band_index(stamps, bands)
    assert np.array_equal(index, expected)
    assert np.array_equal(charging_years, years)


def test_a_grids_clock_is_computed_once_and_shared_read_only() -> None:
    """The same half-hour grid, from any index or array of it, gets the one calendar (read
    only); times off a grid get their own."""
    index = pd.date_range("2025-04-01", periods=48 * 7, freq="30min", tz="UTC")
    clock = uk_clock(index)
    assert uk_clock(index.tz_convert("Europe/London")) is clock
    assert uk_clock(index.as_unit("ns").asi8.copy()) is clock
    assert not clock.weekend.flags.writeable
    gappy = index.delete(3)
    assert uk_clock(gappy) is not uk_clock(gappy)


def test_utc_minute_text_is_the_minute_of_the_instant() -> None:
    from bess_duos.core.bands import utc_minute_text

    at = pd.Timestamp("2025-10-26 01:30:59.9", tz="UTC").value
    assert utc_minute_text(at) == "2025-10-26 01:30"
    assert utc_minute_text(0) == "1970-01-01 00:00"
