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
