"""The fast flexibility search and the many-site plan give, bit for bit, what pricing every
candidate exactly gives (the brute-force reference below: every distinct candidate of every
day priced slot by slot, the smallest of the equally good moved), on seeded random cases: band
and continuous prices, ties, flat and negative loads, clock-change days, curtailment, red
periods, power limits, shares 0 to 1."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from bess_duos.core import flexibility
from bess_duos.core.features import uk_clock
from bess_duos.core.flexibility import (
    FlexibilityResult,
    plan_flexibility,
    plan_flexibility_many,
)
from bess_duos.core.synthetic import generate_profile, half_hour_index

# ---------------------------------------------------------------- the reference


def _step_integral(q: np.ndarray, prev: np.ndarray, cap: np.ndarray, price: np.ndarray
                   ) -> np.ndarray:
    taken = q[:, :, None] - prev[:, None, :]
    np.maximum(taken, 0.0, out=taken)
    np.minimum(taken, cap[:, None, :], out=taken)
    return np.einsum("dcw,dw->dc", taken, price)


def _first_distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(values, axis=1, kind="stable")
    ranked = np.take_along_axis(values, order, axis=1)
    first = np.ones(values.shape, dtype=bool)
    first[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    keep = np.zeros(values.shape, dtype=bool)
    np.put_along_axis(keep, order, first, axis=1)
    counts = keep.sum(axis=1)
    rows, _ = np.nonzero(keep)
    column = np.cumsum(keep, axis=1)[keep] - 1
    out = np.zeros((values.shape[0], int(counts.max())))
    real = np.zeros(out.shape, dtype=bool)
    out[rows, column], real[rows, column] = values[keep], True
    return out, real


def _allocate(q: np.ndarray, prev: np.ndarray, cap: np.ndarray) -> np.ndarray:
    return np.clip(q[:, None] - prev, 0.0, cap)


def reference(series: pd.Series, price: np.ndarray, share: float, shift_energy: bool = True,
              power_limit_kw: float | None = None, red_periods: np.ndarray | None = None
              ) -> FlexibilityResult:
    """Plan and value by brute force: every distinct candidate of every day priced exactly
    slot by slot, the smallest of the best moved (savings within 1e-11 of the day's largest
    |price| x its removable + addable kWh being equal)."""
    load = series.to_numpy(dtype=float)
    if power_limit_kw is None:
        power_limit_kw = float(max(load.max(), 0.0)) / 0.5
    clock = uk_clock(series.index)
    n_days, width = int(clock.day_code[-1]) + 1, int(clock.day_pos.max()) + 1
    at = (clock.day_code, clock.day_pos)
    grid_load = np.zeros((n_days, width))
    grid_price = np.zeros((n_days, width))
    valid = np.zeros((n_days, width), dtype=bool)
    grid_load[at], grid_price[at], valid[at] = load, price, True
    day_kwh = np.maximum(grid_load.sum(axis=1), 0.0)
    remove_cap = np.where(valid, np.maximum(grid_load, 0.0), 0.0)
    if not shift_energy:
        remove_cap = np.where(grid_price > 0, remove_cap, 0.0)
    add_cap = np.where(valid, np.maximum(power_limit_kw * 0.5 - grid_load, 0.0), 0.0)
    if red_periods is not None:
        grid_red = np.zeros((n_days, width), dtype=bool)
        grid_red[at] = red_periods
        remove_cap = np.where(grid_red, remove_cap, 0.0)
        add_cap = np.where(grid_red, 0.0, add_cap)
    rem_order = np.argsort(-grid_price, axis=1, kind="stable")
    r_cap = np.take_along_axis(remove_cap, rem_order, axis=1)
    r_price = np.take_along_axis(grid_price, rem_order, axis=1)
    r_cum = np.cumsum(r_cap, axis=1)
    r_prev = r_cum - r_cap
    budget = share * day_kwh
    added = np.zeros(r_cap.shape)
    if shift_energy:
        add_order = np.argsort(grid_price, axis=1, kind="stable")
        a_cap = np.take_along_axis(add_cap, add_order, axis=1)
        a_price = np.take_along_axis(grid_price, add_order, axis=1)
        a_cum = np.cumsum(a_cap, axis=1)
        a_prev = a_cum - a_cap
        q_max = np.minimum(budget, np.minimum(r_cum[:, -1], a_cum[:, -1]))
        candidates = np.hstack([np.zeros((n_days, 1)), r_cum, a_cum, budget[:, None]])
        candidates = np.minimum(candidates, q_max[:, None])
        candidates, real = _first_distinct(candidates)
        saving = (_step_integral(candidates, r_prev, r_cap, r_price)
                  - _step_integral(candidates, a_prev, a_cap, a_price))
        saving[~real] = -np.inf
        # The smallest of the quantities whose savings are equal to within rounding.
        margin = 1e-11 * np.abs(grid_price).max(axis=1) * (r_cum[:, -1] + a_cum[:, -1])
        near = saving >= (saving.max(axis=1) - margin)[:, None]
        q = np.where(near, candidates, np.inf).min(axis=1)
        np.put_along_axis(added, add_order, _allocate(q, a_prev, a_cap), axis=1)
    else:
        q = np.minimum(budget, r_cum[:, -1])
    removed = np.zeros(r_cap.shape)
    np.put_along_axis(removed, rem_order, _allocate(q, r_prev, r_cap), axis=1)
    flexed = load - removed[at] + added[at]
    base_cost = float(load @ price) / 100.0
    flexed_cost = float(flexed @ price) / 100.0
    value = max(base_cost - flexed_cost, 0.0)
    return FlexibilityResult(
        value_gbp=value,
        saving_pct=value / base_cost * 100.0 if base_cost > 0 else float("nan"),
        base_cost_gbp=base_cost,
        flexed_cost_gbp=flexed_cost,
        shifted_kwh=float(q.sum()),
        annual_value_gbp=value * 365.0 / (len(load) / 48.0),
        power_limit_kw=float(power_limit_kw),
        flexed_profile=pd.Series(flexed, index=series.index, name="kwh"),
    )


def assert_same(got: FlexibilityResult, want: FlexibilityResult, context: object) -> None:
    """Every field equal (NaN equal to NaN), the flexed profile element for element."""
    for name in ("value_gbp", "saving_pct", "base_cost_gbp", "flexed_cost_gbp", "shifted_kwh",
                 "annual_value_gbp", "power_limit_kw"):
        a, b = getattr(got, name), getattr(want, name)
        assert a == b or (math.isnan(a) and math.isnan(b)), (context, name, a, b)
    assert np.array_equal(got.flexed_profile.to_numpy(), want.flexed_profile.to_numpy()), context
    assert got.flexed_profile.index.equals(want.flexed_profile.index), context
    assert got.flexed_profile.name == want.flexed_profile.name


# ---------------------------------------------------------------- random cases

_STARTS = ["2026-03-27", "2026-10-23", "2025-06-02", "2025-12-29"]  # two with clock changes


def _index(rng: np.random.Generator) -> pd.DatetimeIndex:
    """1-12 days, from a clock-change week or not, starting at midnight or mid-day."""
    start = pd.Timestamp(_STARTS[rng.integers(len(_STARTS))])
    days = int(rng.integers(1, 13))
    index = half_hour_index(start, start + pd.Timedelta(days=days))
    cut = int(rng.integers(0, 30)) if rng.random() < 0.4 else 0  # a part day first
    return index[cut:] if len(index) - cut >= 2 else index


def _loads(rng: np.random.Generator, n: int) -> np.ndarray:
    kind = rng.integers(6)
    if kind == 0:  # flat
        return np.full(n, float(rng.choice([0.0, 1.0, 2.5])))
    if kind == 1:  # a few repeated values: many equal capacities
        return rng.choice([0.0, 0.5, 1.0, 2.0], n)
    if kind == 2:  # with negative half hours (export)
        return rng.normal(1.0, 1.5, n)
    if kind == 3:  # rounded to 0.1 kWh, some zeros
        load = np.round(rng.uniform(0, 10, n), 1)
        load[rng.random(n) < 0.15] = 0.0
        return load
    if kind == 4:  # large site
        return rng.uniform(50, 900, n)
    return rng.uniform(0, 5, n) * (rng.random(n) > 0.2)


def _prices(rng: np.random.Generator, index: pd.DatetimeIndex) -> np.ndarray:
    n, kind = len(index), rng.integers(5)
    if kind == 0:  # DUoS-like bands by clock time: three values
        local = index.tz_convert("Europe/London")
        hour = local.hour + local.minute / 60
        weekday = local.day_of_week < 5
        red = weekday & (hour >= 16) & (hour < 19)
        amber = weekday & (hour >= 7.5) & (hour < 21) & ~red
        return np.where(red, 25.3, np.where(amber, 3.1, 0.42))
    if kind == 1:  # three values at random
        return rng.choice(rng.uniform(0.1, 30, 3), n)
    if kind == 2:  # one price: every quantity saves 0 but for rounding
        return np.full(n, float(rng.uniform(0.5, 20)))
    if kind == 3:  # continuous, some negative
        return rng.uniform(-3, 30, n)
    return rng.choice([1.0, 2.0, 2.0, 7.0, 0.0, -1.0], n)  # small integers, zero, negative


def _case(rng: np.random.Generator) -> dict:
    index = _index(rng)
    load = _loads(rng, len(index))
    options: dict = {"shift_energy": bool(rng.random() < 0.8)}
    if rng.random() < 0.3:
        options["power_limit_kw"] = float(rng.choice([0.0, 1.0, 2 * np.abs(load).max() * 1.5,
                                                      rng.uniform(0, 30)]))
    if rng.random() < 0.25:
        options["red_periods"] = rng.random(len(index)) < 0.3
    return {"series": pd.Series(load, index=index), "price": _prices(rng, index), **options}


def _shares(rng: np.random.Generator) -> list[float]:
    return [0.0, 1.0, float(rng.random()), 0.3, float(rng.choice([0.05, 0.5, 0.77]))]


def test_the_fast_search_gives_every_field_of_the_reference_bit_for_bit() -> None:
    rng = np.random.default_rng(20261130)
    for case_number in range(400):
        case = _case(rng)
        series, price = case.pop("series"), case.pop("price")
        plan = plan_flexibility(series, price, published_rates=True, **case)
        for share in _shares(rng):  # the first share on a fresh plan, then the same plan
            want = reference(series, price, share, **case)
            assert_same(plan_flexibility(series, price, published_rates=True, **case)
                        .value(share), want, (case_number, share))
            assert_same(plan.value(share), want, (case_number, share, "again"))


def test_the_full_search_equals_the_reference(monkeypatch) -> None:
    """Days not settled by a shortcut (q_max, 0 or q*) are searched in full: forced here for
    every day, on cases of every kind, one site or many (so each shortcut gives what the
    search gives)."""
    monkeypatch.setattr(flexibility, "_FULL_SEARCH", True)
    rng = np.random.default_rng(2026113018)
    for case_number in range(150):
        case = _case(rng)
        series, price = case.pop("series"), case.pop("price")
        for share in _shares(rng)[2:]:
            assert_same(plan_flexibility(series, price, published_rates=True, **case)
                        .value(share), reference(series, price, share, **case),
                        (case_number, share))
    index = half_hour_index("2026-03-23", "2026-04-06")  # with the 46-half-hour day
    loads = np.vstack([_loads(rng, len(index)) for _ in range(12)])
    prices = _prices(rng, index)
    shares = rng.random(12)
    results = plan_flexibility_many(loads, prices, index, published_rates=True).value(shares)
    for i in range(12):
        assert_same(results[i], reference(pd.Series(loads[i], index=index), prices,
                                          float(shares[i])), i)


def test_a_day_that_saves_a_little_on_its_first_kwh_is_still_searched() -> None:
    """Only a day whose first kWh moved saves nothing skips the search. Half hours (price p,
    load kWh; the 4 kW max demand leaves 2 - load of headroom): 12 at 5.0001 p holding 2 kWh,
    12 at 5.0 p holding 1, 18 at 4.0 p holding 2, 6 at 6.0 p holding 0. Energy leaves the
    5.0001 p half hours and goes first to the 5.0 p ones (12 kWh of room), then only to the
    6.0 p ones, at a loss: 12 kWh move (the budget, half of 72 kWh, would allow 24) and save
    12 x 0.0001 p."""
    index = half_hour_index("2025-06-04", "2025-06-05")
    price = np.repeat([5.0001, 5.0, 4.0, 6.0], [12, 12, 18, 6])
    load = pd.Series(np.repeat([2.0, 1.0, 2.0, 0.0], [12, 12, 18, 6]), index=index)
    result = plan_flexibility(load, price, published_rates=True).value(0.5)
    assert result.shifted_kwh == 12.0
    assert result.value_gbp == pytest.approx(12 * 0.0001 / 100, rel=1e-6)
    assert_same(result, reference(load, price, 0.5), "small first slope")
    flat = plan_flexibility(load, np.full(48, 5.0), published_rates=True).value(0.5)
    assert flat.shifted_kwh == 0.0 and flat.value_gbp == 0.0


def test_a_year_of_band_prices_and_of_continuous_prices_equals_the_reference() -> None:
    series = generate_profile("office", 180_000, start="2025-04-01", seed=5)
    rng = np.random.default_rng(7)
    local = series.index.tz_convert("Europe/London")
    hour = local.hour + local.minute / 60
    weekday = local.day_of_week < 5
    bands = np.where(weekday & (hour >= 16) & (hour < 19), 25.3,
                     np.where(weekday & (hour >= 7.5) & (hour < 21), 3.1, 0.42))
    for price in (bands, rng.uniform(0, 30, len(series)), np.round(bands + rng.random(
            len(series)), 1)):
        plan = plan_flexibility(series, price, published_rates=True)
        for share in (0.3, 0.0, 1.0, 0.12, 0.6):
            assert_same(plan.value(share), reference(series, price, share), share)


# ---------------------------------------------------------------- many sites at once


def test_many_sites_at_once_give_each_site_its_single_site_result() -> None:
    rng = np.random.default_rng(50)
    for shared_prices in (False, True):
        index = half_hour_index("2026-03-24", "2026-04-08")  # with the March clock change
        sites = 50
        kinds = [_loads(rng, len(index)) for _ in range(sites)]
        loads = np.vstack(kinds)
        prices = (_prices(rng, index) if shared_prices
                  else np.vstack([_prices(rng, index) for _ in range(sites)]))
        limits = np.where(rng.random(sites) < 0.3, rng.uniform(0, 40, sites), np.nan)
        shares = rng.random(sites)
        shares[:5] = [0.0, 1.0, 0.3, 0.3, 1.0]
        for shift in (True, False):
            plans = plan_flexibility_many(loads, prices, index, shift_energy=shift,
                                          published_rates=True)
            with_limits = plan_flexibility_many(
                loads, prices, index, shift_energy=shift,
                power_limit_kw=np.where(np.isnan(limits), 2 * np.abs(loads).max(axis=1),
                                        limits), published_rates=True)
            assert len(plans) == sites
            for many, limited in ((plans, False), (with_limits, True)):
                results = many.value(shares)
                for i in range(sites):
                    price = prices if shared_prices else prices[i]
                    single = plan_flexibility(
                        pd.Series(loads[i], index=index), price, shift_energy=shift,
                        power_limit_kw=float(many.power_limit_kw[i]) if limited else None,
                        published_rates=True)
                    assert_same(results[i], single.value(float(shares[i])), (i, shift))
            one_share = plans.value(0.3)
            for i in (0, 17, 49):
                assert_same(one_share[i], reference(
                    pd.Series(loads[i], index=index),
                    prices if shared_prices else prices[i], 0.3, shift_energy=shift), i)


def test_sites_sharing_rows_of_prices_give_their_own_rows_results() -> None:
    """Prices [k, half hours] with a row number per site (sites of one tariff): each site's
    result is what its own row of prices gives, one site or many, in any order, bit for bit;
    a row number out of range or of the wrong shape is refused."""
    rng = np.random.default_rng(51)
    index = half_hour_index("2026-10-20", "2026-11-04")  # with the October clock change
    sites = 40
    loads = np.vstack([_loads(rng, len(index)) for _ in range(sites)])
    distinct = np.vstack([_prices(rng, index) for _ in range(5)])
    rows = rng.integers(0, 5, sites)
    shares = rng.random(sites)
    for shift in (True, False):
        results = plan_flexibility_many(loads, distinct, index, shift, price_rows=rows,
                                        published_rates=True).value(shares)
        stacked = plan_flexibility_many(loads, distinct[rows], index, shift,
                                        published_rates=True).value(shares)
        for i in range(sites):
            assert_same(results[i], stacked[i], (i, shift))
            if i % 8 == 0:
                assert_same(results[i], reference(pd.Series(loads[i], index=index),
                                                  distinct[rows[i]], float(shares[i]),
                                                  shift_energy=shift), (i, shift))
    for bad in (rows[:-1], np.where(rows == 0, 5, rows), rows - 1, rows.astype(float)):
        with pytest.raises(ValueError, match=r"price_rows: expected 40 row numbers of prices "
                           r"\(0 to 4\)"):
            plan_flexibility_many(loads, distinct, index, price_rows=bad)
    with pytest.raises(ValueError, match=r"prices: row 2 at .* is not a finite number"):
        plan_flexibility_many(loads, np.where(np.arange(5)[:, None] == 2, np.nan, distinct),
                              index, price_rows=rows)


def test_inputs_laid_out_in_memory_otherwise_give_the_same_results() -> None:
    """Loads, prices and red flags that are strided views (a column of a 2-D array, as a
    frame's column can be) on full UTC days, where the grid is a view of the input: the same
    results as from contiguous copies (the compiled search reads rows in C order)."""
    rng = np.random.default_rng(52)
    index = half_hour_index("2025-11-03", "2025-11-10")  # whole days, no padding
    wide = rng.random((len(index), 3)) * [4.0, 4.0, 20.0]
    flags = rng.random((len(index), 2)) < 0.3
    load, price, red = wide[:, 0], wide[:, 2], flags[:, 0]
    assert not (load.flags.c_contiguous or price.flags.c_contiguous or red.flags.c_contiguous)
    series = pd.Series(load, index=index)
    for share in (0.3, 1.0):
        got = plan_flexibility(series, price, red_periods=red, published_rates=True).value(share)
        want = plan_flexibility(pd.Series(load.copy(), index=index), price.copy(),
                                red_periods=red.copy(), published_rates=True).value(share)
        assert_same(got, want, share)
        assert_same(got, reference(series, price.copy(), share, red_periods=red.copy()), share)
    many = plan_flexibility_many(wide[:, :2].T, price, index, red_periods=flags.T,
                                 published_rates=True).value(0.3)
    for i in range(2):
        assert_same(many[i], plan_flexibility(pd.Series(wide[:, i].copy(), index=index),
                                              price.copy(), red_periods=flags[:, i].copy(),
                                              published_rates=True).value(0.3), i)


def test_many_sites_with_red_periods_per_site_or_shared() -> None:
    rng = np.random.default_rng(3)
    index = half_hour_index("2025-10-24", "2025-10-28")  # with the 50-half-hour day
    loads = rng.uniform(0, 4, (6, len(index)))
    prices = rng.choice([0.5, 4.0, 20.0], (6, len(index)))
    for red in (rng.random(len(index)) < 0.3, rng.random((6, len(index))) < 0.3):
        results = plan_flexibility_many(loads, prices, index, red_periods=red).value(0.4)
        for i in range(6):
            site_red = red if red.ndim == 1 else red[i]
            assert_same(results[i], reference(pd.Series(loads[i], index=index), prices[i],
                                              0.4, red_periods=site_red), i)


def test_many_sites_refuse_bad_input_saying_which_and_what_to_do() -> None:
    index = half_hour_index("2025-06-02", "2025-06-03")
    loads = np.ones((3, 48))
    with pytest.raises(ValueError, match=r"loads: expected kWh as \[sites, 48 half hours\]"):
        plan_flexibility_many(np.ones((3, 47)), np.ones(48), index)
    with pytest.raises(ValueError, match=r"prices: expected p/kWh as \[48 half hours\] or"):
        plan_flexibility_many(loads, np.ones((2, 48)), index)
    bad = loads.copy()
    bad[1, 5] = np.nan
    with pytest.raises(ValueError, match=r"loads: site 1 at 2025-06-02 01:30:00\+00:00 is not"):
        plan_flexibility_many(bad, np.ones(48), index)
    with pytest.raises(ValueError, match=r"power_limit_kw must be >= 0, got -1\.0 for site 2"):
        plan_flexibility_many(loads, np.ones(48), index, power_limit_kw=[1.0, 2.0, -1.0])
    plans = plan_flexibility_many(loads, np.ones(48), index)
    with pytest.raises(ValueError, match=r"flex_fraction must be between 0 and 1, got 1\.5 "
                                         r"for site 1"):
        plans.value([0.2, 1.5, 0.3])
    with pytest.raises(ValueError, match=r"flex_fraction: one share or one per site \(3\)"):
        plans.value([0.2, 0.3])


# ---------------------------------------------------------------- a plan valued again


def test_a_plan_valued_for_many_shares_in_any_order_equals_the_reference() -> None:
    """A plan valued again and again: each share, up or down, small steps or repeats, must
    give the reference's result (cases of every kind, ties included)."""
    rng = np.random.default_rng(18)
    for case_number in range(60):
        case = _case(rng)
        if not case["shift_energy"]:
            continue
        series, price = case.pop("series"), case.pop("price")
        plan = plan_flexibility(series, price, published_rates=True, **case)
        steps = 0.2 + np.arange(12) / 1000  # a lookup asked again and again
        shares = np.concatenate([steps, rng.random(6), steps[::-1][:4], [0.0, 1.0, 0.3, 0.3]])
        for share in shares:
            assert_same(plan.value(float(share)),
                        reference(series, price, float(share), **case), (case_number, share))


def test_a_year_at_band_prices_valued_again_equals_the_reference() -> None:
    series = generate_profile("office", 180_000, start="2025-04-01", seed=5)
    local = series.index.tz_convert("Europe/London")
    hour = local.hour + local.minute / 60
    weekday = local.day_of_week < 5
    bands = np.where(weekday & (hour >= 16) & (hour < 19), 6.515,
                     np.where(weekday & (hour >= 7.5) & (hour < 21), 0.827, 0.1))
    plan = plan_flexibility(series, bands, published_rates=True)
    for share in (0.2, 0.201, 0.202, 0.35, 0.05, 0.2005, 1.0, 0.0, 0.201):
        assert_same(plan.value(share), reference(series, bands, share), share)


def test_demo_sites_on_shared_band_prices_equal_the_reference_in_every_chunk() -> None:
    """The portfolio's case: sites of all archetypes (several chunks of sites) on one row of
    band prices with many near-tied days, or one row per site of three tariffs."""
    from bess_duos.core.synthetic import ARCHETYPES

    index = half_hour_index("2025-10-20", "2025-11-03")  # with the 50-half-hour day
    rng = np.random.default_rng(9)
    bases = np.vstack([generate_profile(name, 1.0, start="2025-10-20", end="2025-11-03",
                                        seed=i).to_numpy() for i, name in enumerate(ARCHETYPES)])
    sites = 19  # several chunks (`_SITES_AT_ONCE`), the last short
    loads = bases[rng.integers(0, len(bases), sites)]
    loads = loads * rng.lognormal(0.0, 0.05, loads.shape) * rng.uniform(3.0, 300.0, (sites, 1))
    local = index.tz_convert("Europe/London")
    hour = local.hour + local.minute / 60
    weekday = local.day_of_week < 5
    tariffs = [np.where(weekday & (hour >= start) & (hour < start + 3), red,
                        np.where(weekday & (hour >= 7.5) & (hour < 21), amber, green))
               for start, red, amber, green in ((16, 6.515, 0.827, 0.1), (17, 9.8, 1.7, 0.2),
                                                (16, 14.2, 2.2, 0.15))]
    for prices in (tariffs[0], np.vstack([tariffs[i % 3] for i in range(sites)])):
        results = plan_flexibility_many(loads, prices, index, published_rates=True).value(0.3)
        for i in range(sites):
            site_prices = prices if prices.ndim == 1 else prices[i]
            assert_same(results[i], reference(pd.Series(loads[i], index=index), site_prices,
                                              0.3), i)
