"""The time-band model: coverage checks and the slot table."""

from __future__ import annotations

import pytest
from bess_duos.core.timebands import BandPeriod, TimeBandError, TimeBands

from tests.mide_2026 import MIDE_PERIODS


def test_slot_table_places_each_half_hour() -> None:
    table = TimeBands(14, 2026, MIDE_PERIODS).slot_table()
    assert table.shape == (12, 2, 48)
    assert table[0, 0, 32] == 0  # 16:00 weekday is red
    assert table[0, 0, 31] == 1  # 15:30 amber
    assert table[0, 0, 15] == 1  # 07:30 amber
    assert table[0, 0, 14] == 2  # 07:00 green
    assert table[6, 1, 34] == 2  # weekend 17:00 green
    assert (table >= 0).all()


def test_gap_is_reported_with_the_time() -> None:
    with pytest.raises(TimeBandError, match="weekend month 1 at 00:00"):
        TimeBands(14, 2026, MIDE_PERIODS[:-1]).slot_table()


def test_overlap_is_refused() -> None:
    extra = (*MIDE_PERIODS, BandPeriod("red", "weekday", "18:00", "20:00"))
    with pytest.raises(TimeBandError, match="overlaps"):
        TimeBands(14, 2026, extra).slot_table()


def test_describe_for_the_sheet() -> None:
    bands = TimeBands(14, 2026, MIDE_PERIODS)
    assert bands.describe("red") == ["Mon–Fri 16:00–19:00"]
    assert bands.describe("green") == [
        "Mon–Fri 00:00–07:30",
        "Mon–Fri 21:00–24:00",
        "Sat–Sun 00:00–24:00",
    ]


def test_bad_time_is_refused() -> None:
    with pytest.raises(TimeBandError, match="half hour"):
        BandPeriod("red", "weekday", "16:15", "19:00")
