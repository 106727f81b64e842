"""The second round's quicker paths of the batch features and flexibility give what the
plain code they bypass gives, bit for bit: each row's kWh summed once (the finiteness check,
the mean, red_share's denominator), the portfolio's grid groups read off the shared grid
indexes, and the flexibility's loads not checked again when the caller has checked them."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
from bess_duos.core import features as F
from bess_duos.core.flexibility import plan_flexibility_many
from bess_duos.core.profiles import grid_index


def _loads(rng: np.random.Generator, sites: int, n: int) -> np.ndarray:
    kwh = rng.lognormal(0.0, rng.uniform(0.1, 1.0, (sites, 1)), (sites, n))
    kwh *= rng.uniform(0.01, 1e4, (sites, 1))
    kwh[rng.random((sites, n)) < 0.05] = 0.0
    return kwh


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_row_totals_are_numpy_sums_and_means_of_every_row_and_subset(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for n in (17_520, 17_568, 47, 1000, int(rng.integers(48, 3000))):
        x = _loads(rng, int(rng.integers(1, 70)), n)
        total = F._row_totals(x)
        assert np.array_equal(total, x.sum(axis=1))
        assert np.array_equal(total / n, x.mean(axis=1))
        members = np.flatnonzero(rng.random(len(x)) < 0.4)
        assert np.array_equal(total[members], x[members].sum(axis=1))


@pytest.mark.parametrize("seed", [4, 5])
def test_feature_rows_equal_the_plain_sums_and_means(seed: int) -> None:
    """peak ratio, load factor, base load and red_share (three band sets, rows past one
    chunk) as numpy's mean and sum of each row give them."""
    rng = np.random.default_rng(seed)
    n = 48 * 30
    index = pd.date_range("2025-03-20", periods=n, freq="30min", tz="UTC")
    x = _loads(rng, F.CHUNK_SITES + 9, n)
    red = rng.random((3, n)) < 0.2
    codes = rng.integers(0, 3, len(x))
    got = F.feature_rows(list(x), index, [f"s{i}" for i in range(len(x))], red, codes)
    mean, peak = x.mean(axis=1), x.max(axis=1)
    assert np.array_equal(got["peak_ratio"], peak / mean)
    assert np.array_equal(got["load_factor"], mean / peak)
    assert np.array_equal(got["base_load_ratio"],
                          np.percentile(x, F.BASE_PERCENTILE, axis=1) / mean)
    for first in range(0, len(x), F.CHUNK_SITES):  # each chunk's rows of a band set
        chunk = slice(first, first + F.CHUNK_SITES)
        for k in range(3):
            rows = first + np.flatnonzero(codes[chunk] == k)
            want = (x[rows] @ red[k].astype(float)) / x[rows].sum(axis=1)
            assert np.array_equal(got["red_share"][rows], want)


def test_feature_rows_refuse_a_value_that_is_not_finite_and_take_huge_ones() -> None:
    n = 96
    index = pd.date_range("2025-04-01", periods=n, freq="30min", tz="UTC")
    rows = [np.ones(n) for _ in range(3)]
    rows[1] = np.full(n, 1e307)  # finite, but the row's sum overflows: not refused
    with np.errstate(over="ignore", invalid="ignore"):
        assert np.isfinite(F.feature_rows(rows, index, ["a", "b", "c"])["peak_ratio"][0])
        for bad in (np.nan, np.inf, -np.inf):
            broken = [row.copy() for row in rows]
            broken[2][50] = bad
            with pytest.raises(F.FeatureError, match="profile 'c': contains NaN or infinite"):
                F.feature_rows(broken, index, ["a", "b", "c"])


def test_portfolio_groups_shared_grid_indexes_as_their_times_would(monkeypatch) -> None:
    """Sites on shared grid indexes (a frame column's Series each) fall in the groups their
    times give when the shared indexes are not recognised, mixed with other indexes."""
    from types import SimpleNamespace

    from bess_duos.core import portfolio, profiles

    first = int(pd.Timestamp("2025-04-01", tz="UTC").value)
    shared = grid_index(first, 96)
    other = grid_index(first + 96 * 1_800_000_000_000, 96)

    def site(times: pd.DatetimeIndex) -> SimpleNamespace:
        frame = pd.DataFrame({"kwh": np.ones(len(times))}, index=times)
        return SimpleNamespace(valued=SimpleNamespace(kwh=frame["kwh"]))

    sites = [site(shared), site(shared.copy(deep=True)), site(other),
             site(shared.tz_convert("Europe/London")), site(shared), site(other[:95]),
             site(pd.DatetimeIndex(np.asarray(shared.asi8), tz="UTC"))]
    assert profiles.known_grid(sites[0].valued.kwh.index) == (first, 96)
    position = {id(s): i for i, s in enumerate(sites)}

    def groups() -> list[list[int]]:
        return [[position[id(s)] for s in group] for group in portfolio._by_grid(sites)]

    quick = groups()
    monkeypatch.setattr(profiles, "known_grid", lambda index: None)
    assert quick == groups() == [[0, 1, 4, 6], [2], [3], [5]]


@pytest.mark.parametrize("seed", [6, 7])
def test_flexibility_of_loads_known_finite_equals_checked(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 48 * 20
    index = pd.date_range("2025-03-25", periods=n, freq="30min", tz="UTC")
    loads = _loads(rng, 12, n)
    prices = rng.choice([1.5, 4.0, 20.0], (3, n))
    rows = rng.integers(0, 3, 12)
    results = [plan_flexibility_many(loads, prices, index, price_rows=rows,
                                     finite=finite).value(0.3) for finite in (False, True)]
    for checked, known in zip(*results, strict=True):
        for name, value in asdict(checked).items():
            if name != "flexed_profile":
                assert np.array_equal(value, asdict(known)[name], equal_nan=True), name
        assert np.array_equal(checked.flexed_profile, known.flexed_profile)
    loads[3, 17] = np.nan
    with pytest.raises(ValueError, match=r"loads: site 3 at .* is not a finite number"):
        plan_flexibility_many(loads, prices, index, price_rows=rows)


def _half_hours(rng: np.random.Generator) -> pd.DatetimeIndex:
    """A UTC half-hour index of a random span, clock changes and part days included."""
    start = pd.Timestamp("2024-03-20", tz="UTC") + pd.Timedelta(minutes=30) * int(
        rng.integers(0, 48 * 400))
    return pd.date_range(start, periods=int(rng.integers(49, 48 * 40)), freq="30min")


def _plain_prices(layout, prices: np.ndarray, shift_energy: bool):
    """The prices laid out as before any was remembered: all rows at once."""
    from bess_duos.core import flexibility as FX

    grid = np.ascontiguousarray(layout.grid(prices).reshape(-1, layout.width))
    return grid, *FX._price_orders(grid, shift_energy)


@pytest.mark.parametrize("seed", [8, 9, 10])
def test_remembered_price_layouts_equal_the_prices_laid_out_afresh(seed: int,
                                                                   monkeypatch) -> None:
    """Rows laid out one by one and remembered (repeated rows, signed zeros, a row equal to
    a kept one but for one price, more rows than are kept) give the grid bit for bit and,
    for every day, the stable argsorts the rows laid out together give."""
    from bess_duos.core import flexibility as FX

    monkeypatch.setattr(FX, "_kept", {})
    monkeypatch.setattr(FX, "ROWS_KEPT", 6)
    rng = np.random.default_rng(seed)
    for case in range(40):
        index = _half_hours(rng)
        layout = FX._layout(index)
        bands = rng.choice([0.0, -0.0, 1.2, 4.5, 19.0], (3, 48))
        rows = np.stack([bands[rng.integers(3)][np.asarray(index.hour * 2 + index.minute // 30)]
                         for _ in range(int(rng.integers(1, 9)))])
        if rng.random() < 0.5:  # a price off the sample of positions the key reads
            rows[-1, 1 + 64 * int(rng.integers(0, max(1, len(index) // 64 - 1)))] += 0.25
        shift_energy = bool(rng.random() < 0.7)
        for _ in range(2):  # laid out, then remembered
            got = FX._laid_out_prices(layout, rows, shift_energy)
            grid, orders, codes = _plain_prices(layout, rows, shift_energy)
            assert np.array_equal(got.grid.view(np.int64), grid.view(np.int64)), case
            assert np.array_equal(got.orders[:, got.codes], orders[:, codes]), case


@pytest.mark.parametrize("seed", [11, 12])
def test_days_hold_is_the_bitwise_comparison_of_the_laid_out_row(seed: int) -> None:
    from bess_duos.core import flexibility as FX
    from bess_duos.core.flex_days import days_hold

    rng = np.random.default_rng(seed)
    for case in range(60):
        layout = FX._layout(_half_hours(rng))
        n = int(layout.day_count.sum())
        values = rng.choice([0.0, 1.5, 7.0], n)
        grid = np.ascontiguousarray(layout.grid(values[None])[0])
        other = values.copy()
        change = rng.integers(3)
        if change == 1:
            other[rng.integers(n)] += 2**-40
        elif change == 2:
            other[other == 0.0] = -0.0  # equal as numbers, not as bits
        want = np.array_equal(layout.grid(other[None])[0].view(np.int64), grid.view(np.int64))
        assert days_hold(grid, other, layout.day_start, layout.day_first,
                         layout.day_count) == want, case
        assert layout.holds(grid, other) == want, case
    # days outside the grid or the values, or tables of unequal lengths: no match, not read
    starts, firsts, counts = layout.day_start, layout.day_first, layout.day_count
    assert days_hold(grid, values, starts, firsts, counts)
    assert not days_hold(grid, values, starts, firsts, counts[:-1])
    assert not days_hold(grid, values[:-1], starts, firsts, counts)
    assert not days_hold(grid, values, starts - 1, firsts, counts)
    assert not days_hold(grid, values, starts, firsts + 1, counts + 50)
