"""Value of load flexibility: shift part of each day's energy from dear to cheap half hours.

Method (per UK clock day d, all days at once as a [days, 50] array):

- budget B_d = flex_fraction x the day's kWh; the most energy that may be moved that day.
- a half hour t may give up at most its own load (r_t <= load_t) and take at most the
  headroom under the power limit (a_t <= P x 0.5 h - load_t, floored at 0); P defaults to
  the site's own maximum demand (max kWh per half hour / 0.5 h), so flat profiles have no room.
- energy is moved from the dearest half hours (sorted by price, descending) to the cheapest
  (ascending), energy-neutral within the day (sum r = sum a = Q_d <= B_d).

Moving q kWh saves S(q) = integral of p_remove(u) - p_add(u) du, where p_remove is the
price of the q-th kWh given up (non-increasing) and p_add that of the q-th kWh taken
(non-decreasing). S is concave and piecewise linear, so its maximum on [0, B_d] is at 0,
at B_d or at a breakpoint (a cumulative capacity); every candidate is evaluated and the
best kept. This is the exact optimum of the daily shifting LP (the tests check it against
scipy's linprog) and is never negative (q = 0 is a candidate).

With ``shift_energy=False`` the energy is curtailed instead (removed from the dearest
positive-price half hours and not put back): the value is then the cost avoided.

Prices are p/kWh per half hour (DUoS unit rates alone, or DUoS + energy prices: the
caller builds the series); values are returned in £. Clock-change days (46 or 50 half
hours) are padded with zero-capacity slots, which change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from bess_duos.core.features import kwh_series, uk_clock, validate_profile
from bess_duos.core.profiles import localise_timestamps
from bess_duos.core.tariffs import warn_if_pounds_per_kwh
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class FlexibilityResult:
    """Outcome of `calculate_flexibility_value`; money in £, energy in kWh."""

    value_gbp: float  # cost saved over the profile's span
    saving_pct: float  # value / base cost x 100 (NaN if the base cost is not positive)
    base_cost_gbp: float
    flexed_cost_gbp: float
    shifted_kwh: float  # energy moved (or curtailed) over the span
    annual_value_gbp: float  # value x 365 / days covered
    power_limit_kw: float
    flexed_profile: pd.Series  # kWh per half hour after shifting


def aligned_prices(prices_hh: ArrayLike | pd.Series, index: pd.DatetimeIndex) -> np.ndarray:
    """Prices (p/kWh) as an array aligned to `index`; a Series is matched by timestamp (a naive
    one is UK clock time, as everywhere)."""
    if isinstance(prices_hh, pd.Series) and isinstance(prices_hh.index, pd.DatetimeIndex):
        if prices_hh.index.tz is None:
            utc = localise_timestamps(prices_hh.index)
            prices_hh = prices_hh.set_axis(pd.DatetimeIndex(utc, tz="UTC"))
        prices = prices_hh.reindex(index).to_numpy(dtype=float)
        if np.isnan(prices).any():
            missing = index[np.isnan(prices)][0]
            raise ValueError(f"prices_hh: no price for {missing} (prices must cover the profile)")
        return prices
    prices = np.asarray(prices_hh, dtype=float)
    if prices.ndim == 0:
        return np.full(len(index), float(prices))
    if prices.shape != (len(index),):
        raise ValueError(f"prices_hh: {prices.shape[0]} prices for {len(index)} half hours")
    if not np.isfinite(prices).all():
        raise ValueError("prices_hh: contains NaN or infinite prices")
    return prices


def _step_integral(
    q: np.ndarray, prev: np.ndarray, cap: np.ndarray, price: np.ndarray
) -> np.ndarray:
    """sum_i price_i * clip(q - prev_i, 0, cap_i) for q [days, C] and slots [days, W]."""
    taken = q[:, :, None] - prev[:, None, :]
    np.maximum(taken, 0.0, out=taken)  # the clip, in place (same values, no extra arrays)
    np.minimum(taken, cap[:, None, :], out=taken)
    return np.einsum("dcw,dw->dc", taken, price)


def _first_distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the first occurrence of each distinct value, in the original order, padded
    to the longest row: (values [rows, K], real [rows, K] bool; False marks padding)."""
    order = np.argsort(values, axis=1, kind="stable")
    ranked = np.take_along_axis(values, order, axis=1)
    first = np.ones(values.shape, dtype=bool)
    first[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    keep = np.zeros(values.shape, dtype=bool)
    np.put_along_axis(keep, order, first, axis=1)
    counts = keep.sum(axis=1)
    rows, _ = np.nonzero(keep)  # row by row, each row's kept columns in their order
    column = np.cumsum(keep, axis=1)[keep] - 1
    out = np.zeros((values.shape[0], int(counts.max())))
    real = np.zeros(out.shape, dtype=bool)
    out[rows, column], real[rows, column] = values[keep], True
    return out, real


def _allocate(q: np.ndarray, prev: np.ndarray, cap: np.ndarray) -> np.ndarray:
    return np.clip(q[:, None] - prev, 0.0, cap)


def calculate_flexibility_value(
    df: pd.Series | pd.DataFrame,
    flex_fraction: float,
    prices_hh: ArrayLike | pd.Series,
    shift_energy: bool = True,
    power_limit_kw: float | None = None,
    red_periods: ArrayLike | None = None,
) -> FlexibilityResult:
    """Best saving from moving up to `flex_fraction` of each UK clock day's kWh from its
    dearest half hours to its cheapest, under a power limit (default: the site's max demand).

    `df` is a Series of kWh per half hour (index of period starts) or a DataFrame with a
    'timestamp' column (or a DatetimeIndex) and a 'kwh' column, or a 'kw' column (kWh =
    kW x 0.5). Naive times are UK clock time, as everywhere (`core.features.kwh_series`).
    `prices_hh` is p/kWh per half hour (Series on the same index, an array of the same
    length, or a scalar); prices that look like £/kWh give a `UnitWarning`. `red_periods`
    (bool per half hour, optional) limits where energy may be taken from: only red half
    hours give up energy and only the others take it.
    """
    _check_fraction(flex_fraction)
    plan = plan_flexibility(df, prices_hh, shift_energy, power_limit_kw, red_periods)
    return plan.value(flex_fraction)


def _check_fraction(flex_fraction: float) -> None:
    if not 0.0 <= flex_fraction <= 1.0:
        raise ValueError(f"flex_fraction must be between 0 and 1, got {flex_fraction}")


@dataclass(frozen=True)
class FlexibilityPlan:
    """A profile and its prices laid out by UK clock day and sorted by price: everything
    `calculate_flexibility_value` computes before the flexible share comes in. `value(share)`
    finishes the job (the same result), so several shares cost one plan; from the second
    share on it prices only each day's cap, the other candidates' savings being kept. Made by
    `plan_flexibility`; its arrays are shared: never modify them."""

    index: pd.DatetimeIndex
    load: np.ndarray
    price: np.ndarray
    power_limit_kw: float
    shift_energy: bool
    at: tuple[np.ndarray, np.ndarray]  # (day, position in the day) of each half hour
    day_kwh: np.ndarray  # each day's kWh, floored at 0
    rem_order: np.ndarray
    r_cap: np.ndarray
    r_price: np.ndarray
    r_cum: np.ndarray
    add_order: np.ndarray | None
    a_cap: np.ndarray | None
    a_price: np.ndarray | None
    a_cum: np.ndarray | None
    # Savings at the share-independent candidates, kept from the second `value` call on
    # (a sheet re-valuing one plan for several shares); see `_best_quantity`.
    _fixed: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)
    _calls: list[int] = field(default_factory=lambda: [0], compare=False, repr=False)

    def _saving(self, q: np.ndarray, r_prev: np.ndarray, a_prev: np.ndarray) -> np.ndarray:
        assert self.a_cap is not None and self.a_price is not None
        return _step_integral(q, r_prev, self.r_cap, self.r_price) - _step_integral(
            q, a_prev, self.a_cap, self.a_price)

    def _best_quantity(self, q_max: np.ndarray, r_prev: np.ndarray, a_prev: np.ndarray
                       ) -> np.ndarray:
        """The same q as pricing every candidate, for a plan valued before: the candidates 0,
        the cumulative capacities and the budget, each capped at q_max, are the fixed ones
        below q_max (their savings priced once per plan) and q_max itself (priced now). A
        saving depends on its q alone (each is its own sum over the day's slots), so the
        first best in the original order is the same candidate."""
        assert self.a_cum is not None
        if not self._fixed:
            fixed = np.hstack([np.zeros((self.day_kwh.size, 1)), self.r_cum, self.a_cum])
            self._fixed.update(q=fixed, saving=self._saving(fixed, r_prev, a_prev))
        fixed, fixed_saving = self._fixed["q"], self._fixed["saving"]
        at_max = self._saving(q_max[:, None], r_prev, a_prev)
        below = fixed < q_max[:, None]
        saving = np.hstack([np.where(below, fixed_saving, at_max), at_max])
        best = np.argmax(saving, axis=1)
        days = np.arange(q_max.size)
        chosen = np.hstack([fixed, q_max[:, None]])[days, best]
        return np.minimum(chosen, q_max)

    def value(self, flex_fraction: float) -> FlexibilityResult:
        """The best saving moving up to `flex_fraction` of each day's kWh."""
        _check_fraction(flex_fraction)
        n_days = self.day_kwh.size
        r_cap, r_cum = self.r_cap, self.r_cum
        r_prev = r_cum - r_cap
        budget = flex_fraction * self.day_kwh
        if self.shift_energy:
            assert self.a_cap is not None and self.a_cum is not None
            a_cap, a_cum = self.a_cap, self.a_cum
            a_prev = a_cum - a_cap
            q_max = np.minimum(budget, np.minimum(r_cum[:, -1], a_cum[:, -1]))
            self._calls[0] += 1
            if self._calls[0] > 1:
                q = self._best_quantity(q_max, r_prev, a_prev)
            else:
                candidates = np.hstack([np.zeros((n_days, 1)), r_cum, a_cum, budget[:, None]])
                candidates = np.minimum(candidates, q_max[:, None])
                # Equal candidates have equal savings, so only each day's first of a value is
                # priced: the first best in the original order is the same q, for less work.
                candidates, real = _first_distinct(candidates)
                saving = self._saving(candidates, r_prev, a_prev)
                saving[~real] = -np.inf
                best = np.argmax(saving, axis=1)
                q = candidates[np.arange(n_days), best]
            added = np.zeros(r_cap.shape)
            np.put_along_axis(added, self.add_order, _allocate(q, a_prev, a_cap), axis=1)
        else:
            q = np.minimum(budget, r_cum[:, -1])
            added = np.zeros(r_cap.shape)
        removed = np.zeros(r_cap.shape)
        np.put_along_axis(removed, self.rem_order, _allocate(q, r_prev, r_cap), axis=1)

        load, price, at = self.load, self.price, self.at
        flexed = load - removed[at] + added[at]
        base_cost = float(load @ price) / 100.0
        flexed_cost = float(flexed @ price) / 100.0
        value = max(base_cost - flexed_cost, 0.0)
        days = len(load) / 48.0
        return FlexibilityResult(
            value_gbp=value,
            saving_pct=value / base_cost * 100.0 if base_cost > 0 else float("nan"),
            base_cost_gbp=base_cost,
            flexed_cost_gbp=flexed_cost,
            shifted_kwh=float(q.sum()),
            annual_value_gbp=value * 365.0 / days,
            power_limit_kw=float(self.power_limit_kw),
            flexed_profile=pd.Series(flexed, index=self.index, name="kwh"),
        )


def plan_flexibility(
    df: pd.Series | pd.DataFrame,
    prices_hh: ArrayLike | pd.Series,
    shift_energy: bool = True,
    power_limit_kw: float | None = None,
    red_periods: ArrayLike | None = None,
    *,
    published_rates: bool = False,
) -> FlexibilityPlan:
    """The share-independent part of `calculate_flexibility_value` (same arguments, without
    the share): `plan.value(flex_fraction)` gives its result. `published_rates` says the
    prices are a tariff's own p/kWh rates (no £/kWh check: a green-only week is all under 1)."""
    series = validate_profile(kwh_series(df), "df")
    load = series.to_numpy()
    price = aligned_prices(prices_hh, series.index)
    if not published_rates:
        warn_if_pounds_per_kwh(price, "prices_hh (prices per half hour)", stacklevel=4)
    if power_limit_kw is None:
        power_limit_kw = float(max(load.max(), 0.0)) / 0.5
    elif not power_limit_kw >= 0:
        raise ValueError(f"power_limit_kw must be >= 0, got {power_limit_kw}")
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
        red = np.asarray(red_periods, dtype=bool)
        if red.shape != load.shape:
            raise ValueError(f"red_periods: {red.size} flags for {load.size} half hours")
        grid_red = np.zeros((n_days, width), dtype=bool)
        grid_red[at] = red
        remove_cap = np.where(grid_red, remove_cap, 0.0)
        add_cap = np.where(grid_red, 0.0, add_cap)

    rem_order = np.argsort(-grid_price, axis=1, kind="stable")
    r_cap = np.take_along_axis(remove_cap, rem_order, axis=1)
    r_price = np.take_along_axis(grid_price, rem_order, axis=1)
    r_cum = np.cumsum(r_cap, axis=1)
    add_order = a_cap = a_price = a_cum = None
    if shift_energy:
        add_order = np.argsort(grid_price, axis=1, kind="stable")
        a_cap = np.take_along_axis(add_cap, add_order, axis=1)
        a_price = np.take_along_axis(grid_price, add_order, axis=1)
        a_cum = np.cumsum(a_cap, axis=1)
    return FlexibilityPlan(series.index, load, price, float(power_limit_kw), shift_energy, at,
                           day_kwh, rem_order, r_cap, r_price, r_cum, add_order, a_cap,
                           a_price, a_cum)
