"""The weekday load shape: means per UK clock half hour, worked by hand on small profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
from bess_duos.core.load_shape import _weekday_means, average_weekday_kw, weekday_bands
from bess_duos.core.timebands import BandPeriod, TimeBands


def test_means_per_clock_half_hour_skip_weekends_and_follow_summer_time() -> None:
    # Mon 1 Jul 2024 .. Sun 7 Jul 2024 (BST, UTC+1), UTC half-hour starts.
    index = pd.date_range("2024-06-30 23:00", periods=7 * 48, freq="30min", tz="UTC")
    day = np.repeat(np.arange(7), 48)  # 0 = Monday (local)
    slot = np.tile(np.arange(48), 7)  # local half hour, since the index starts at 00:00 BST
    kwh = pd.Series(day * 10.0 + slot / 10.0, index=index)
    kw = average_weekday_kw(kwh)
    # Slot s on Mon..Fri: kWh = 10*d + s/10 for d = 0..4; mean kWh = 20 + s/10; kW = twice that.
    assert kw[0] == 40.0
    assert kw[33] == 2 * (20 + 3.3)  # 16:30 local
    assert len(kw) == 48


def test_an_empty_half_hour_is_none_and_nan_is_skipped() -> None:
    index = pd.date_range("2025-01-06 00:00", periods=2, freq="30min", tz="UTC")  # a Monday, GMT
    kw = average_weekday_kw(pd.Series([1.5, np.nan], index=index))
    assert kw[0] == 3.0
    assert kw[1] is None and kw[2] is None


def test_weekday_bands_in_january() -> None:
    bands = TimeBands(14, 2026, (
        BandPeriod("green", "weekday", "00:00", "07:30"),
        BandPeriod("amber", "weekday", "07:30", "16:00"),
        BandPeriod("red", "weekday", "16:00", "19:00"),
        BandPeriod("amber", "weekday", "19:00", "21:00"),
        BandPeriod("green", "weekday", "21:00", "24:00"),
        BandPeriod("green", "weekend", "00:00", "24:00"),
    ))
    got = weekday_bands(bands)
    assert got[:15] == ["green"] * 15 and got[15] == "amber"
    assert got[32:38] == ["red"] * 6 and got[38] == "amber"
    assert got[42:] == ["green"] * 6
    assert weekday_bands(None) is None


def test_the_lookup_answer_carries_the_weekday_load_and_the_llfcs() -> None:
    import datetime as dt

    from bess_duos.core.lookup import parse_inputs, run_lookup
    from bess_duos.core.synthetic import generate_profile

    series = generate_profile("office", 250_000, start="2025-01-01", seed=0)
    inputs = parse_inputs({"mpan": "1405566778898", "kva": "500"})
    answer = run_lookup(inputs, profile=series.rename("kwh").to_frame(),
                        on=dt.date(2026, 11, 30)).to_dict()
    load = answer["weekday_load"]
    assert load["kw"] == average_weekday_kw(series)
    assert load["bands"][32:38] == ["red"] * 6  # MIDE: Mon-Fri 16:00-19:00 red
    assert answer["tariff"]["llfcs"] == ["L04"]  # MIDE 2026 Annex 1 row 24, LV Site Specific Band 4
    no_profile = run_lookup(inputs, on=dt.date(2026, 11, 30)).to_dict()
    assert no_profile["weekday_load"] is None


def _weekday_kw_reference(kwh: pd.Series) -> np.ndarray:
    """The computation before the grid path: every row, 0.0 added for those left out."""
    from bess_duos.core.bands import uk_clock

    clock = uk_clock(pd.DatetimeIndex(kwh.index))
    kw = kwh.to_numpy(dtype=float) * 2.0
    keep = ~clock.weekend & np.isfinite(kw)
    sums = np.bincount(clock.slot, weights=np.where(keep, kw, 0.0), minlength=48)
    counts = np.bincount(clock.slot, weights=keep, minlength=48)
    return np.divide(sums, counts, out=np.full(48, np.nan), where=counts > 0)


def test_the_grid_path_gives_the_bits_of_the_reference_on_random_profiles() -> None:
    rng = np.random.default_rng(18)
    spans = [("2025-04-01 00:00", 17_520), ("2025-03-29 13:30", 480), ("2025-10-20 07:00", 720),
             ("2024-01-01 00:00", 17_568), ("2025-06-07 00:00", 96), ("2025-06-02 05:00", 3)]
    for start, n in spans:
        index = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=n, freq="30min")
        for zone in ("UTC", "Europe/London"):
            kwh = rng.lognormal(0.0, 1.0, n) * rng.uniform(0.01, 1e4)
            kwh[rng.random(n) < 0.1] = 0.0
            kwh[rng.random(n) < 0.05] = -0.0
            kwh[rng.random(n) < 0.05] *= -1.0  # export
            for case in (kwh, np.where(rng.random(n) < 0.02, np.nan, kwh)):  # NaN: other path
                series = pd.Series(case, index=index.tz_convert(zone))
                got, want = _weekday_means(series), _weekday_kw_reference(series)
                assert [v.hex() for v in got] == [v.hex() for v in want], (start, zone)
    irregular = pd.Series([1.0, 2.0, 3.0], index=pd.DatetimeIndex(
        ["2025-01-06 00:00", "2025-01-06 00:30", "2025-01-06 02:00"], tz="UTC"))
    np.testing.assert_array_equal(_weekday_means(irregular), _weekday_kw_reference(irregular))
