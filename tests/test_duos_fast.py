"""The fast DUoS paths (cached calendar and bands per grid, `charge_many`) give exactly what the
pre-issue-18 engine gave (tests/duos_reference.py), on seeded random sites, bit for bit."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from bess_duos.core import bands, duos
from bess_duos.core.duos import DuosError, charge_arrays, charge_many, tariffs_for_site
from bess_duos.core.tariffs import DuosTariff, TariffQuery, resolve_tariff
from bess_duos.core.timebands import TimeBands

from tests.duos_reference import reference_charge_arrays
from tests.mide_2026 import MIDE_PERIODS

VOLTAGES = ("LV", "LV Sub", "HV")
# Grids that cross what the engine must get right: 1 April (a new charging year and tariff),
# both clock changes (46- and 50-half-hour days), a whole year, and short partial spans.
STARTS = ("2025-03-20", "2025-10-20 13:30", "2026-03-25", "2025-04-01", "2025-12-31 23:00")
HV_2026 = DuosTariff(
    14, "HV Site Specific No Residual", "HV", 1.764, 0.205, 0.011, 105.84, 9.26, 9.26, 0.027,
    year=2026, time_bands=TimeBands(14, 2026, MIDE_PERIODS),
)  # fmt: skip


def _same(got: tuple[dict, duos.DuosSummary], want: tuple[dict, duos.DuosSummary]) -> None:
    got_columns, got_summary = got
    want_columns, want_summary = want
    assert got_summary == want_summary  # every field, floats compared exactly
    assert got_columns.keys() == want_columns.keys()
    for name, column in want_columns.items():
        assert got_columns[name].dtype == column.dtype, name
        np.testing.assert_array_equal(got_columns[name], column, err_msg=name, strict=True)


def _kwh(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Half-hourly kWh with peaks over some kVA limits and some net export."""
    kwh = rng.gamma(2.0, 20.0, shape) * rng.uniform(0.2, 5.0, (*shape[:-1], 1))
    kwh[rng.random(shape) < 0.05] *= -0.5
    return kwh


def _site(rng: np.random.Generator) -> tuple[object, float | None]:
    dno = int(rng.integers(10, 24))
    voltage = VOLTAGES[int(rng.integers(3))]
    kva = None if rng.random() < 0.25 else float(rng.choice([60.0, 150.0, 400.0, 1500.0]))
    return tariffs_for_site(TariffQuery(dno, voltage=voltage, kva=kva or 200.0)), kva


@pytest.mark.parametrize("seed", range(12))
def test_charge_arrays_matches_the_reference_engine(seed: int) -> None:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(STARTS[seed % len(STARTS)], tz="UTC")
    size = int(rng.choice([3, 48 * 9, 48 * 40, 17_520]))
    index = pd.date_range(start, periods=size, freq="30min")
    kwh = _kwh(rng, (size,))
    kvarh = None if seed % 3 else rng.normal(0.0, 15.0, size)
    tariffs, kva = _site(rng)
    pf = None if seed % 2 else 0.9
    if seed % 4 == 1:  # any order, and a gap: not a grid, so nothing cached
        keep = np.sort(rng.choice(size, size=max(size - 7, 1), replace=False))
        order = rng.permutation(keep.size)
        index, kwh = index[keep][order], kwh[keep][order]
        kvarh = None if kvarh is None else kvarh[keep][order]
    args = (index, kwh, tariffs)
    options = {"kvarh": kvarh, "agreed_kva": kva, "power_factor": pf}
    want = reference_charge_arrays(*args, **options)
    _same(charge_arrays(*args, **options), want)
    _same(charge_arrays(*args, **options), want)  # again, from the caches


def test_a_given_band_column_matches_the_reference_engine() -> None:
    rng = np.random.default_rng(7)
    index = pd.date_range("2026-03-01", periods=48 * 60, freq="30min", tz="UTC")
    kwh = _kwh(rng, (index.size,))
    band = rng.integers(0, 3, index.size).astype(np.int8)
    options = {"agreed_kva": 20.0, "band": band}
    _same(charge_arrays(index.asi8, kwh, HV_2026, **options),
          reference_charge_arrays(index.asi8, kwh, HV_2026, **options))  # fmt: skip


def test_bands_are_placed_once_per_grid_and_time_band_set(monkeypatch) -> None:
    calls = []
    real = bands.band_index_from_clock
    monkeypatch.setattr(bands, "band_index_from_clock", lambda *a: calls.append(1) or real(*a))
    index = pd.date_range("2031-04-01", periods=48 * 30, freq="30min", tz="UTC")
    kwh = np.full(index.size, 2.0)
    first = charge_arrays(index, kwh, HV_2026, agreed_kva=100.0)
    second = charge_arrays(index, kwh * 3, HV_2026, agreed_kva=None)
    assert len(calls) == 1
    assert first[0]["band"] is second[0]["band"]
    assert not first[0]["band"].flags.writeable  # shared, so read-only
    # 30 June days: 22 weekdays x 6 red half hours x 2 kWh (MIDE red is 16:00-19:00).
    assert first[1].kwh_by_band["red"] == 22 * 6 * 2.0


def test_charge_many_matches_charge_arrays_site_by_site() -> None:
    rng = np.random.default_rng(18)
    # Charging years 2025/26 and 2026/27, the October and March clock changes on the way.
    index = pd.date_range("2025-09-01", "2026-06-01", freq="30min", tz="UTC", inclusive="left")
    sites = [_site(rng) for _ in range(50)]
    sites[3] = (HV_2026, 300.0)  # one tariff given for every year
    sites[4] = ({2025: HV_2026, 2026: HV_2026}, None)  # a tariff per year
    kwh = _kwh(rng, (len(sites), index.size))
    tariffs = [tariffs for tariffs, _ in sites]
    kva = [kva for _, kva in sites]
    pf = [None if i % 3 else 0.85 for i in range(len(sites))]
    batch = charge_many(index, kwh, tariffs, agreed_kva=kva, power_factor=pf)
    assert len(batch) == len(sites)
    for site, result in enumerate(batch):
        want = charge_arrays(index, kwh[site], tariffs[site], agreed_kva=kva[site],
                             power_factor=pf[site])  # fmt: skip
        _same(result, want)
        _same(result, reference_charge_arrays(
            index, kwh[site], tariffs[site], agreed_kva=kva[site], power_factor=pf[site]))
    lean = charge_many(index, kwh, tariffs, agreed_kva=kva, power_factor=pf, all_columns=False)
    for (columns, summary), (full_columns, full_summary) in zip(lean, batch, strict=True):
        assert summary == full_summary
        assert columns.keys() == {"band", "charging_year", "unit_rate_p_per_kwh"}
        for name, column in columns.items():
            np.testing.assert_array_equal(column, full_columns[name], strict=True)
    assert {len(s.exceeded_kva_by_month) > 0 for _, s in batch} == {True, False}
    assert len({s.tariffs for _, s in batch}) > 10


def test_charge_many_with_kvarh_and_a_partial_irregular_index() -> None:
    rng = np.random.default_rng(5)
    grid = pd.date_range("2026-03-15", periods=48 * 40, freq="30min", tz="UTC")
    index = grid.delete([10, 11, 500])  # gaps: not a grid
    sites = [_site(rng) for _ in range(12)]
    kwh = _kwh(rng, (len(sites), index.size))
    kvarh = rng.normal(0.0, 20.0, kwh.shape)
    tariffs = [t for t, _ in sites]
    batch = charge_many(index, kwh, tariffs, kvarh=kvarh, agreed_kva=[k for _, k in sites])
    for site, result in enumerate(batch):
        _same(result, reference_charge_arrays(
            index, kwh[site], tariffs[site], kvarh=kvarh[site], agreed_kva=sites[site][1]))


def test_charge_many_says_which_site_and_what_is_wrong() -> None:
    index = pd.date_range("2026-05-01", periods=96, freq="30min", tz="UTC")
    kwh = np.ones((3, 96))
    with pytest.raises(DuosError, match=r"kwh must be \[sites, half hours\] = \[n, 96\]"):
        charge_many(index, kwh[0], [HV_2026])
    with pytest.raises(DuosError, match="one entry per site"):
        charge_many(index, kwh, [HV_2026, HV_2026])
    with pytest.raises(DuosError, match="agreed_kva has 2 values for 3 sites"):
        charge_many(index, kwh, [HV_2026] * 3, agreed_kva=[1.0, 2.0])
    bad = kwh.copy()
    bad[2, 5] = np.nan
    with pytest.raises(DuosError, match=r"site 2: 1 kWh values are missing \(NaN\)"):
        charge_many(index, bad, [HV_2026] * 3)
    with pytest.raises(DuosError, match=r"site 1: agreed capacity -5\.0 kVA"):
        charge_many(index, kwh, [HV_2026] * 3, agreed_kva=[1.0, -5.0, None])
    with pytest.raises(DuosError, match="site 0: no tariff for charging year 2026/27"):
        charge_many(index, kwh, [{2025: HV_2026}, HV_2026, HV_2026])
    assert charge_many(index, kwh[:0], []) == []


def test_charge_many_bills_a_hand_worked_day() -> None:
    # Two sites, Wed 3 June 2026 (BST), HV 2026 rates: site 0 takes 4 kWh every half hour,
    # site 1 takes 10 kWh in the 6 red half hours only. Red 1.764, amber 0.205, green 0.011.
    # Site 0: red 6 x 4 x 1.764 + amber 21 x 4 x 0.205 + green 21 x 4 x 0.011
    #   = 42.336 + 17.22 + 0.924 = 60.48 p; fixed 105.84 p; capacity 50 kVA x 9.26 = 463 p.
    # Site 1: red 60 x 1.764 = 105.84 p; fixed 105.84 p; no kVA, so no capacity.
    index = pd.date_range("2026-06-02 23:00", periods=48, freq="30min", tz="UTC")
    red = (index.tz_convert("Europe/London").hour >= 16) & (
        index.tz_convert("Europe/London").hour < 19)
    kwh = np.stack([np.full(48, 4.0), np.where(red, 10.0, 0.0)])
    (_, one), (_, two) = charge_many(index, kwh, [HV_2026, HV_2026], agreed_kva=[50.0, None])
    assert one.unit_gbp == pytest.approx(0.6048, abs=1e-12)
    assert one.total_gbp == pytest.approx(0.6048 + 1.0584 + 4.63, abs=1e-12)
    assert two.kwh_by_band == {"red": 60.0, "amber": 0.0, "green": 0.0}
    assert two.total_gbp == pytest.approx(1.0584 + 1.0584, abs=1e-12)
    assert two.capacity_gbp == 0.0


def test_charge_many_resolves_real_tariffs_once_per_year() -> None:
    index = pd.date_range("2026-03-30", periods=48 * 4, freq="30min", tz="UTC")
    tariff = {y: resolve_tariff(12, on=dt.date(y, 4, 1), voltage="HV", kva=500)
              for y in (2025, 2026)}  # fmt: skip
    (_, summary), = charge_many(index, np.full((1, index.size), 5.0), [tariff], agreed_kva=500.0)
    assert summary.charging_years == (2025, 2026)
    assert len(summary.tariffs) == 2


def test_charge_many_with_one_time_band_set_matches_the_reference_engine() -> None:
    # One area, so one set of time bands shared by all; LV, LV Sub and HV rates differ.
    rng = np.random.default_rng(11)
    index = pd.date_range("2026-01-05", periods=48 * 120, freq="30min", tz="UTC")
    queries = [TariffQuery(14, voltage=VOLTAGES[i % 3], kva=100.0 + 50 * i) for i in range(9)]
    tariffs = [tariffs_for_site(q) for q in queries]
    kwh = _kwh(rng, (len(queries), index.size))
    kva = [q.kva if i % 4 else None for i, q in enumerate(queries)]
    for result, site_kwh, site_tariffs, site_kva in zip(
        charge_many(index, kwh, tariffs, agreed_kva=kva, power_factor=0.92), kwh, tariffs, kva,
        strict=True,
    ):
        _same(result, reference_charge_arrays(
            index, site_kwh, site_tariffs, agreed_kva=site_kva, power_factor=0.92))
    same_tariff = charge_many(index, kwh[:3], [tariffs[0]] * 3, agreed_kva=200.0)
    for site in range(3):
        _same(same_tariff[site], reference_charge_arrays(
            index, kwh[site], tariffs[0], agreed_kva=200.0))


@pytest.mark.parametrize("seed", range(4))
def test_unit_costs_on_a_grid_match_the_computed_path(seed: int) -> None:
    rng = np.random.default_rng(seed)
    index = pd.date_range(STARTS[seed], periods=int(rng.integers(2, 20_000)), freq="30min",
                          tz="UTC")  # fmt: skip
    kwh = _kwh(rng, (index.size,))
    tariffs, _ = _site(rng)
    order = rng.permutation(index.size)  # shuffled: not a grid, so computed without caches
    band, rate, gbp = duos.unit_costs(index, kwh, tariffs)
    want = duos.unit_costs(index[order], kwh[order], tariffs)
    back = np.argsort(order)
    for got, expected in zip((band, rate, gbp), want, strict=True):
        np.testing.assert_array_equal(got, expected[back], strict=True)
    reference_columns, _ = reference_charge_arrays(index, kwh, tariffs)
    np.testing.assert_array_equal(band, reference_columns["band"], strict=True)
    np.testing.assert_array_equal(gbp, reference_columns["unit_gbp"], strict=True)


@pytest.mark.parametrize("seed", range(8))
def test_charge_arrays_without_the_per_row_charges_matches_the_reference_engine(
        seed: int) -> None:
    """`all_columns=False` (the lookup): the reference's summary bit for bit, and its band,
    charging year and unit rate columns; as int64 ns of the index too (grids and not)."""
    rng = np.random.default_rng(100 + seed)
    start = pd.Timestamp(STARTS[seed % len(STARTS)], tz="UTC")
    size = int(rng.choice([3, 48 * 9, 17_520]))
    index = pd.date_range(start, periods=size, freq="30min", unit="ns")
    kwh = _kwh(rng, (size,))
    kwh[rng.random(size) < 0.01] = np.inf if seed % 2 else 0.0
    kvarh = None if seed % 3 else rng.normal(0.0, 15.0, size)
    if seed % 4 == 1:  # not a grid
        keep = np.sort(rng.choice(size, size=max(size - 7, 1), replace=False))
        index, kwh = index[keep], kwh[keep]
        kvarh = None if kvarh is None else kvarh[keep]
    tariffs, kva = _site(rng)
    options = {"kvarh": kvarh, "agreed_kva": kva, "power_factor": None if seed % 2 else 0.9}
    want_columns, want_summary = reference_charge_arrays(index, kwh, tariffs, **options)
    for utc in (index, index.asi8):
        columns, summary = charge_arrays(utc, kwh, tariffs, all_columns=False, **options)
        assert summary == want_summary
        assert columns.keys() == {"band", "charging_year", "unit_rate_p_per_kwh"}
        for name, column in columns.items():
            np.testing.assert_array_equal(column, want_columns[name], err_msg=name, strict=True)
    missing = min(2, kwh.size)
    with pytest.raises(DuosError, match=f"^{missing} kWh values are missing"):
        charge_arrays(index, np.where(np.arange(kwh.size) < 2, np.nan, kwh), tariffs,
                      all_columns=False)
