"""Flexibility value: hand-worked toy cases, optimality against an LP, never negative."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bess_duos.core.flexibility import calculate_flexibility_value
from bess_duos.core.synthetic import generate_profile, half_hour_index
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog


def _one_day(kwh: float = 1.0, day: str = "2025-06-04") -> pd.Series:
    index = half_hour_index(day, pd.Timestamp(day) + pd.Timedelta(days=1))
    return pd.Series(kwh, index=index)


def _two_prices(index: pd.DatetimeIndex) -> np.ndarray:
    """10 p/kWh 16:00-24:00 clock time (16 half hours), 2 p/kWh otherwise (32)."""
    hour = index.tz_convert("Europe/London").hour
    return np.where(hour >= 16, 10.0, 2.0)


def test_flat_prices_give_zero():
    profile = generate_profile("office", 300_000, "2025-01-01", "2025-03-01", seed=2)
    result = calculate_flexibility_value(profile, 0.3, np.full(len(profile), 7.5),
                                         power_limit_kw=5_000)
    assert result.value_gbp == 0.0
    assert result.saving_pct == 0.0


def test_two_price_day_worked_by_hand():
    load = _one_day(1.0)  # 1 kWh every half hour = 2 kW; 48 kWh in the day
    prices = _two_prices(load.index)
    # base cost: 16 x 1 x 10 p + 32 x 1 x 2 p = 224 p = £2.24
    # budget 25% x 48 = 12 kWh; limit 4 kW = 2 kWh per half hour -> 1 kWh headroom x 32 = 32;
    # removable at 10 p: 16 kWh -> move 12 kWh, saving 12 x (10 - 2) = 96 p = £0.96
    result = calculate_flexibility_value(load, 0.25, prices, power_limit_kw=4.0)
    assert result.base_cost_gbp == pytest.approx(2.24)
    assert result.value_gbp == pytest.approx(0.96)
    assert result.saving_pct == pytest.approx(96 / 224 * 100)
    assert result.shifted_kwh == pytest.approx(12.0)
    assert result.flexed_profile.sum() == pytest.approx(48.0)
    # limit 2.5 kW: headroom 0.25 kWh x 32 = 8 kWh moved -> 8 x 8 p = 64 p
    assert calculate_flexibility_value(load, 0.25, prices, power_limit_kw=2.5).value_gbp \
        == pytest.approx(0.64)
    # default limit = the site's own max demand (2 kW): a flat site has no headroom
    assert calculate_flexibility_value(load, 0.25, prices).value_gbp == 0.0
    # curtailment instead of shifting: 12 kWh removed at 10 p = £1.20
    assert calculate_flexibility_value(load, 0.25, prices, shift_energy=False).value_gbp \
        == pytest.approx(1.20)


def test_clock_change_day_with_50_half_hours_and_a_dataframe_input():
    load = _one_day(1.0, "2025-10-26")
    assert len(load) == 50
    prices = _two_prices(load.index)  # 16 dear, 34 cheap
    result = calculate_flexibility_value(load.to_frame("kwh"), 0.5, prices, power_limit_kw=4.0)
    # budget 25 kWh, removable 16 -> 16 x 8 p = £1.28
    assert result.value_gbp == pytest.approx(1.28)
    long = pd.DataFrame({"timestamp": load.index.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                         "kwh": load.to_numpy()})
    assert calculate_flexibility_value(long, 0.5, prices, power_limit_kw=4.0).value_gbp \
        == pytest.approx(1.28)


def _lp_optimum(load: np.ndarray, price: np.ndarray, frac: float, limit_kwh: float) -> float:
    """The daily shifting problem solved as an LP, for one day (pence)."""
    n = len(load)
    cost = np.r_[-price, price]  # minimise -sum p r + sum p a
    a_eq = np.r_[np.ones(n), -np.ones(n)][None, :]
    a_ub = np.r_[np.ones(n), np.zeros(n)][None, :]
    bounds = [(0, x) for x in load] + [(0, max(limit_kwh - x, 0)) for x in load]
    res = linprog(cost, A_ub=a_ub, b_ub=[frac * load.sum()], A_eq=a_eq, b_eq=[0],
                  bounds=bounds, method="highs")
    return -res.fun


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    frac=st.floats(0.0, 1.0),
    headroom=st.floats(1.0, 3.0),
    n_prices=st.integers(1, 6),
)
def test_never_negative_energy_neutral_and_optimal(seed, frac, headroom, n_prices):
    rng = np.random.default_rng(seed)
    index = half_hour_index("2025-03-29", "2025-04-01")  # 48 + 46 + 48 half hours
    load = pd.Series(rng.uniform(0, 5, len(index)) * (rng.random(len(index)) > 0.2), index=index)
    prices = rng.choice(rng.uniform(-3, 30, n_prices), len(index))
    limit_kw = 2 * load.max() * headroom
    result = calculate_flexibility_value(load, frac, pd.Series(prices, index=index),
                                         power_limit_kw=limit_kw)
    assert result.value_gbp >= 0
    flexed = result.flexed_profile
    day = index.tz_convert("Europe/London").date
    np.testing.assert_allclose(flexed.groupby(day).sum(), load.groupby(day).sum(), atol=1e-9)
    assert (flexed >= -1e-9).all() and (flexed <= limit_kw / 2 + 1e-9).all()
    expected = sum(_lp_optimum(load[day == d].to_numpy(), prices[day == d], frac, limit_kw / 2)
                   for d in np.unique(day))
    # HiGHS meets the energy balance to its primal feasibility tolerance (1e-7 kWh), so the
    # oracle's saving may be off by up to that times the dearest price in each half hour.
    lp_slack = 1e-7 * np.abs(prices).max() * len(index)
    assert result.value_gbp * 100 == pytest.approx(expected, abs=1e-6 + lp_slack)


def test_prices_must_cover_the_profile():
    load = _one_day()
    with pytest.raises(ValueError, match="prices_hh: 10 prices for 48 half hours"):
        calculate_flexibility_value(load, 0.3, np.ones(10))
    with pytest.raises(ValueError, match="flex_fraction"):
        calculate_flexibility_value(load, 1.5, np.ones(48))


def test_a_plan_valued_again_gives_the_same_bits_as_a_fresh_one():
    """A plan valued for one share after another: every result must equal a fresh plan's,
    bit for bit, including which of several equally good quantities is moved (band prices
    make many ties)."""
    from bess_duos.core.flexibility import plan_flexibility

    rng = np.random.default_rng(18)
    for case in range(24):
        days = int(rng.integers(1, 40))
        start = pd.Timestamp("2026-03-20", tz="UTC") + pd.Timedelta(hours=int(rng.integers(0, 500)))
        index = pd.date_range(start, periods=days * 48, freq="30min")
        load = np.round(rng.random(index.size) * 10, 1 if case % 2 else 6)
        load[rng.random(index.size) < 0.1] = 0.0
        prices = (rng.choice([1.2, 3.4, 15.6], index.size) if case % 3 else
                  rng.random(index.size) * 20)
        series = pd.Series(load, index=index)
        plan = plan_flexibility(series, prices)
        plan.value(0.5)  # the first share: the later ones must not depend on it
        for share in (0.0, 0.1, 0.3, 0.77, 1.0):
            fresh = plan_flexibility(series, prices).value(share)
            again = plan.value(share)
            assert again.shifted_kwh == fresh.shifted_kwh, (case, share)
            assert again.value_gbp == fresh.value_gbp, (case, share)
            np.testing.assert_array_equal(again.flexed_profile.to_numpy(),
                                          fresh.flexed_profile.to_numpy())


def test_a_lookup_priced_under_1_p_by_its_own_tariff_gives_no_unit_warning() -> None:
    """The £/kWh check is for prices people type: a Monday night and morning priced at a
    tariff's own green and amber rates (MIDE LV 0.1 and 0.827 p/kWh) is all under 1 p/kWh
    and is not in £."""
    import datetime as dt
    import warnings

    from bess_duos.core.lookup import parse_inputs, run_lookup
    from bess_duos.core.tariffs import UnitWarning

    # Monday 8 June 2026, 00:00-16:00 BST: green to 07:30, then amber
    index = pd.date_range("2026-06-07 23:00", periods=32, freq="30min", tz="UTC")
    load = pd.DataFrame({"kwh": np.linspace(5.0, 15.0, 32)}, index=index)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnitWarning)
        result = run_lookup(parse_inputs({"mpan": "1405566778898"}), profile=load,
                            on=dt.date(2026, 11, 24))
    assert result.tariff is not None and result.tariff.amber_rate < 1
    assert result.flexibility is not None  # the plan was priced (at green rates only)
