"""Value of load flexibility: shift part of each day's energy from dear to cheap half hours.

Method (per UK clock day d of each site; the prices' days laid out as [rows, 50] arrays,
each day's price order found with numpy, each price pattern's once, and each day of each
site then read from its half hours and searched in one pass by the compiled
`core.flex_days.shift_days`):

- budget B_d = flex_fraction x the day's kWh; the most energy that may be moved that day.
- a half hour t may give up at most its own load (r_t <= load_t) and take at most the
  headroom under the power limit (a_t <= P x 0.5 h - load_t, floored at 0); P defaults to
  the site's own maximum demand (max kWh per half hour / 0.5 h), so flat profiles have no room.
- energy is moved from the dearest half hours (sorted by price, descending) to the cheapest
  (ascending), energy-neutral within the day (sum r = sum a = Q_d <= B_d).

Moving q kWh saves S(q) = integral of p_remove(u) - p_add(u) du, where p_remove is the
price of the q-th kWh given up (non-increasing) and p_add that of the q-th kWh taken
(non-decreasing). S is concave and piecewise linear, so its maximum on [0, B_d] is at 0,
at B_d or at a breakpoint (a cumulative capacity); the best candidate is kept. This is the
exact optimum of the daily shifting LP (the tests check it against scipy's linprog) and is
never negative (q = 0 is a candidate).

Of equally good quantities the smallest is moved: energy is not moved for nothing (on a day
of one price every quantity saves 0, and nothing is moved). Savings within a rounding margin
(`_MARGIN` of the day's scale) are equal, so the choice never rests on rounding. It is found
without pricing every candidate slot by slot: a day whose saving still rises at the cap
q_max by more than the margin takes q_max; a day whose first kWh saves nothing moves 0; a day
that peaks at q* (where S stops rising, read off the sorted prices and capacities) below
q_max, rising into it by more than twice the margin, moves q*; on the few others each
candidate's saving is read off the cumulative sums at the breakpoints (one merge of the
day's two sorted breakpoint lists). Rounding is far below the margin, so each shortcut gives
what the full search gives (the tests check all of them against pricing every candidate).

With ``shift_energy=False`` the energy is curtailed instead (removed from the dearest
positive-price half hours and not put back): the value is then the cost avoided.

Prices are p/kWh per half hour (DUoS unit rates alone, or DUoS + energy prices: the
caller builds the series); values are returned in £. Clock-change days (46 or 50 half
hours) are padded with zero-capacity slots, which change nothing. `plan_flexibility_many`
plans many sites on one half-hour index at once, with the single-site results per site
(one price row for all sites is sorted once).
"""

from __future__ import annotations

import functools
import itertools
import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd
from bess_duos.core.bands import NS_PER_HALF_HOUR
from bess_duos.core.features import checked_kwh_series, uk_clock, validate_profile
from bess_duos.core.flex_days import days_hold, rows_match, shift_days
from bess_duos.core.profiles import localise_timestamps
from bess_duos.core.tariffs import warn_if_pounds_per_kwh
from numpy.typing import ArrayLike

# Savings within this share of the day's scale (its largest |price| x its removable + addable
# kWh) are equal: rounding in their computation is below ~1e-13 of that scale (50 slots x
# 2**-53 x a few), and what taking a tie can cost is at most this share a day (under 0.01 p a
# year on a site of 10 GWh a year at 30 p/kWh).
_MARGIN = 1e-11
_FULL_SEARCH = False  # True: every day searched in full, shortcuts aside (for the tests)


@dataclass(frozen=True)
class _Unbuilt:
    """A flexed profile not yet made a Series: its kWh (a row of the plan's array, shared
    with the other sites': copied when built) and index."""

    kwh: np.ndarray
    index: pd.DatetimeIndex

    def build(self) -> pd.Series:
        return pd.Series(self.kwh, index=self.index, name="kwh", copy=True)


class _BuiltWhenRead:
    """A dataclass field (no default) that may be given an `_Unbuilt`: its Series is made when
    the field is first read (a portfolio or a lookup reads only the figures, so most never
    are), and kept."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}_value"

    def __get__(self, obj: object, owner: type | None = None) -> pd.Series:
        if obj is None:  # the class's own: no default
            raise AttributeError(self._slot)
        value = obj.__dict__[self._slot]
        if isinstance(value, _Unbuilt):
            value = obj.__dict__[self._slot] = value.build()
        return value

    def __set__(self, obj: object, value: pd.Series | _Unbuilt) -> None:
        obj.__dict__[self._slot] = value


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
    # kWh per half hour after shifting (a Series, made when first read)
    flexed_profile: pd.Series = _BuiltWhenRead()  # type: ignore[assignment]


def aligned_prices(prices_hh: ArrayLike | pd.Series, index: pd.DatetimeIndex) -> np.ndarray:
    """Prices (p/kWh) as an array aligned to `index`; a Series is matched by timestamp (a naive
    one is UK clock time, as everywhere)."""
    if isinstance(prices_hh, pd.Series) and isinstance(prices_hh.index, pd.DatetimeIndex):
        if prices_hh.index.tz is None:
            utc = localise_timestamps(prices_hh.index)
            prices_hh = prices_hh.set_axis(pd.DatetimeIndex(utc, tz="UTC"))
        if _same_instants(prices_hh.index, index):  # already aligned (the lookup's own rates)
            prices = prices_hh.to_numpy(dtype=float)
        else:
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


def _same_instants(a: pd.DatetimeIndex, b: pd.DatetimeIndex) -> bool:
    """Whether two tz-aware indexes hold the same instants in the same order, compared as
    int64 ns (far cheaper than `DatetimeIndex.equals`; where they merely differ in time zone,
    matching by timestamp gives the same prices)."""
    if a is b:
        return True
    if len(a) != len(b) or a.tz is None or b.tz is None:
        return False
    try:
        a_ns, b_ns = (x.asi8 if x.unit == "ns" else x.as_unit("ns").asi8 for x in (a, b))
    except (OverflowError, ValueError):  # beyond the ns range: matched by timestamp instead
        return False
    return np.array_equal(a_ns, b_ns)


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
class _Prices:
    """Prices [k, half hours] laid out for the search: `grid` [k x days, width] (padding 0),
    `orders` [sides, patterns, width] the stable argsorts of each distinct day (descending to
    give energy up and, when shifting, ascending to take it), `codes` each grid row's."""

    grid: np.ndarray
    orders: np.ndarray
    codes: np.ndarray


ROWS_KEPT = 64  # price rows whose layout is remembered (~0.15 MB each for a year)
_kept: dict[tuple[int, bool, bytes], tuple[_Layout, _Prices]] = {}  # the most recent last
_kept_lock = threading.Lock()  # Dask runs batches in threads


def _laid_out_prices(layout: _Layout, prices: np.ndarray, shift_energy: bool) -> _Prices:
    """`prices` [k, half hours] laid out, each row's layout remembered (`_laid_out_row`: a
    portfolio's tariffs recur from batch to batch); more rows than are kept laid out at once.
    Each day's order is its row's stable argsort however the rows are grouped."""
    if len(prices) > ROWS_KEPT:  # a price per site, say: not kept
        grid = np.ascontiguousarray(layout.grid(prices).reshape(-1, layout.width))
        return _Prices(grid, *_price_orders(grid, shift_energy))
    parts = [_laid_out_row(layout, row, shift_energy) for row in prices]
    if len(parts) == 1:
        return parts[0]
    patterns = np.cumsum([0] + [part.orders.shape[1] for part in parts[:-1]])
    return _Prices(np.concatenate([part.grid for part in parts]),
                   np.concatenate([part.orders for part in parts], axis=1),
                   np.concatenate([part.codes + first
                                   for part, first in zip(parts, patterns, strict=True)]))


def _laid_out_row(layout: _Layout, row: np.ndarray, shift_energy: bool) -> _Prices:
    """One row of prices laid out (read-only arrays), remembered for the last `ROWS_KEPT`
    rows: found by a sample of its prices, confirmed equal bit for bit to the kept grid."""
    key = (id(layout), shift_energy, row[:: max(1, row.size // 64)].tobytes())
    with _kept_lock:
        kept = _kept.pop(key, None)
        if kept is not None:
            _kept[key] = kept
    if kept is not None and kept[0] is layout and layout.holds(kept[1].grid, row):
        return kept[1]
    grid = np.ascontiguousarray(layout.grid(row[None]).reshape(-1, layout.width))
    laid_out = _Prices(grid, *_price_orders(grid, shift_energy))
    for array in vars(laid_out).values():
        array.flags.writeable = False
    with _kept_lock:
        _kept[key] = (layout, laid_out)
        while len(_kept) > ROWS_KEPT:
            del _kept[next(iter(_kept))]
    return laid_out


@dataclass(frozen=True)
class _Days:
    """Sites ready for `core.flex_days.shift_days`: `loads` [sites, half hours] kWh (C
    order), their UK clock days where `layout` says; each site priced by row `price_of_site`
    of `prices`; `half_limit` the kWh a slot may hold, per site; `red` uint8 [1 or sites,
    half hours] the half hours that may give energy up (None: all)."""

    loads: np.ndarray
    layout: _Layout
    prices: _Prices
    price_of_site: np.ndarray
    half_limit: np.ndarray
    red: np.ndarray | None


_FINGERPRINT = np.random.default_rng(0).uniform(0.5, 1.5, 64)  # weights to spot equal rows


def _price_orders(price: np.ndarray, shift_energy: bool) -> tuple[np.ndarray, np.ndarray]:
    """Stable argsorts of the distinct rows of `price` [rows, width] (descending to give up
    and, when shifting, ascending to take: [sides, patterns, width]) and each row's pattern.
    Band prices repeat a few day patterns: each distinct row is sorted once (equal rows sort
    alike; a fingerprint finds them, a comparison confirms)."""
    rows = price.shape[0]
    # numpy's own loop, not BLAS: a threaded BLAS call can wait ~4 ms for a busy core
    fingerprint = np.einsum("ij,j->i", price, _FINGERPRINT[:price.shape[1]])
    ranked = np.argsort(fingerprint, kind="stable")
    new = np.empty(rows, dtype=bool)
    new[:1] = True
    np.not_equal(fingerprint[ranked[1:]], fingerprint[ranked[:-1]], out=new[1:])
    codes = np.empty(rows, dtype=np.intp)
    codes[ranked] = np.cumsum(new) - 1
    distinct = price[ranked[new]]
    if len(distinct) < rows and rows_match(np.ascontiguousarray(price), distinct, codes):
        return _argsorts(distinct, shift_energy), codes
    return _argsorts(price, shift_energy), np.arange(rows, dtype=np.intp)


def _argsorts(price: np.ndarray, shift_energy: bool) -> np.ndarray:
    """Stable argsorts of each row: descending and, when shifting, ascending."""
    orders = np.empty((2 if shift_energy else 1, *price.shape), dtype=np.intp)
    orders[0] = np.argsort(-price, axis=1, kind="stable")
    if shift_energy:
        orders[1] = np.argsort(price, axis=1, kind="stable")
    return orders


def _moves(days: _Days, shares: np.ndarray, shift_energy: bool
           ) -> tuple[np.ndarray, np.ndarray]:
    """(kWh moved [sites, days], the flexed kWh [sites, half hours]) moving up to each site's
    share [sites] of each day's kWh: the compiled daily search (`core.flex_days.shift_days`)."""
    layout, prices = days.layout, days.prices
    q = np.empty((days.loads.shape[0], layout.n_days))
    flexed = np.empty(days.loads.shape)
    shift_days(days.loads, layout.day_start, layout.day_first, layout.day_count, prices.grid,
               days.price_of_site, prices.codes, prices.orders, days.half_limit, days.red,
               shares, shift_energy, _MARGIN, q, flexed, _FULL_SEARCH)
    return q, flexed


def _result(index: pd.DatetimeIndex, load: np.ndarray, price: np.ndarray, shifted_kwh: float,
            kwh: np.ndarray, power_limit_kw: float) -> FlexibilityResult:
    """One site's result; `kwh` its kWh per half hour after the moves (a row of the plan's
    array, kept by the result: its Series is made, a copy, when first read)."""
    base_cost = float(load @ price) / 100.0
    flexed_cost = float(kwh @ price) / 100.0
    value = max(base_cost - flexed_cost, 0.0)
    days = len(load) / 48.0
    return FlexibilityResult(
        value_gbp=value,
        saving_pct=value / base_cost * 100.0 if base_cost > 0 else float("nan"),
        base_cost_gbp=base_cost,
        flexed_cost_gbp=flexed_cost,
        shifted_kwh=shifted_kwh,
        annual_value_gbp=value * 365.0 / days,
        power_limit_kw=float(power_limit_kw),
        flexed_profile=_Unbuilt(kwh, index),  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class _Layout:
    """Where each half hour of an index sits in a [days, width] grid of UK clock days."""

    n_days: int
    width: int
    # Runs of days whose half hours sit alike: (first day, end day, first slot, slots per
    # day, first half hour); None when the half hours fill the grid in order.
    blocks: tuple[tuple[int, int, int, int, int], ...] | None
    pad: np.ndarray | None  # flat positions (day x width + slot) of the padding; None if none
    # [days] each day's first half hour, its first slot and its number of half hours
    day_start: np.ndarray
    day_first: np.ndarray
    day_count: np.ndarray

    def grid(self, values: np.ndarray) -> np.ndarray:
        """[rows, half hours] -> [rows, days, width], padding 0 (False)."""
        rows = values.shape[0]
        if self.blocks is None:
            return values.reshape(rows, self.n_days, self.width)
        out = np.empty((rows, self.n_days, self.width), dtype=values.dtype)
        for day, end, slot, count, at in self.blocks:
            out[:, day:end, slot:slot + count] = (
                values[:, at:at + (end - day) * count].reshape(rows, end - day, count))
        out.reshape(rows, -1)[:, self.pad] = 0
        return out

    def holds(self, grid: np.ndarray, values: np.ndarray) -> bool:
        """Whether `grid` [days, width] is `values` [half hours] laid out, bit for bit (the
        padding aside: `grid` makes it 0)."""
        return days_hold(grid, np.ascontiguousarray(values), self.day_start, self.day_first,
                         self.day_count)


def _layout(index: pd.DatetimeIndex) -> _Layout:
    """The layout of a regular half-hour index (validated), remembered per grid."""
    return _grid_layout(int(index[0].value), index.size)


@functools.lru_cache(maxsize=8)
def _grid_layout(first_ns: int, size: int) -> _Layout:
    clock = uk_clock(pd.DatetimeIndex(first_ns + np.arange(size, dtype=np.int64)
                                      * NS_PER_HALF_HOUR, tz="UTC"))
    n_days, width = int(clock.day_code[-1]) + 1, int(clock.day_pos.max()) + 1
    # Each day's first slot and number of half hours (consecutive, as the index is regular).
    starts = np.flatnonzero(np.diff(clock.day_code, prepend=-1))
    counts = np.diff(starts, append=size)
    first_slot = clock.day_pos[starts].astype(np.intp)
    for table in (starts, counts, first_slot):
        table.flags.writeable = False
    if size == n_days * width:  # every day full: the half hours fill the grid
        return _Layout(n_days, width, None, None, starts, first_slot, counts)
    # The runs of days alike: a handful (part days, clock changes).
    change = np.flatnonzero((np.diff(first_slot) != 0) | (np.diff(counts) != 0)) + 1
    runs = np.concatenate([[0], change, [n_days]])
    blocks = tuple((int(day), int(end), int(first_slot[day]), int(counts[day]),
                    int(starts[day])) for day, end in itertools.pairwise(runs))
    flags = np.ones(n_days * width, dtype=bool)
    flags[clock.day_code * width + clock.day_pos] = False
    pad = np.flatnonzero(flags)
    pad.flags.writeable = False
    return _Layout(n_days, width, blocks, pad, starts, first_slot, counts)


def _plan(layout: _Layout, loads: np.ndarray, prices: _Prices, price_of_site: np.ndarray,
          limit_kw: np.ndarray, red: np.ndarray | None) -> _Days:
    """Loads [sites, half hours] (C order), each site at its row `price_of_site` of `prices`,
    with limits [sites] kW and red flags [1 or sites, half hours] (or None), ready for the
    search."""
    red_rows = None if red is None else np.ascontiguousarray(red).view(np.uint8)
    return _Days(loads, layout, prices, np.asarray(price_of_site, dtype=np.intp),
                 np.asarray(limit_kw, dtype=float) * 0.5, red_rows)


@dataclass(frozen=True)
class FlexibilityPlan:
    """A profile and its prices laid out by UK clock day and sorted by price: everything
    `calculate_flexibility_value` computes before the flexible share comes in. `value(share)`
    finishes the job (the same result), so several shares cost one plan. Made by
    `plan_flexibility`; its arrays are shared: never modify them."""

    index: pd.DatetimeIndex
    load: np.ndarray
    price: np.ndarray
    power_limit_kw: float
    shift_energy: bool
    _layout: _Layout
    _days: _Days

    def value(self, flex_fraction: float) -> FlexibilityResult:
        """The best saving moving up to `flex_fraction` of each day's kWh."""
        _check_fraction(flex_fraction)
        q, flexed = _moves(self._days, np.array([flex_fraction], dtype=float),
                           self.shift_energy)
        return _result(self.index, self.load, self.price, float(q.sum()), flexed[0],
                       self.power_limit_kw)


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
    series = checked_kwh_series(df)
    # In C order (copied only if strided, e.g. a frame's column): the costs' dot products then
    # round alike however the input was laid out, as plan_flexibility_many's do.
    load = np.ascontiguousarray(series.to_numpy())
    price = np.ascontiguousarray(aligned_prices(prices_hh, series.index))
    if not published_rates:
        warn_if_pounds_per_kwh(price, "prices_hh (prices per half hour)", stacklevel=4)
    if power_limit_kw is None:
        power_limit_kw = float(max(load.max(), 0.0)) / 0.5
    elif not power_limit_kw >= 0:
        raise ValueError(f"power_limit_kw must be >= 0, got {power_limit_kw}")
    red = None
    if red_periods is not None:
        red = np.asarray(red_periods, dtype=bool)
        if red.shape != load.shape:
            raise ValueError(f"red_periods: {red.size} flags for {load.size} half hours")
        red = red[None]
    layout = _layout(series.index)
    days = _plan(layout, load[None], _laid_out_prices(layout, price[None], shift_energy),
                 np.zeros(1, dtype=np.intp), np.array([power_limit_kw], dtype=float), red)
    return FlexibilityPlan(series.index, load, price, float(power_limit_kw), shift_energy,
                           layout, days)


@dataclass(frozen=True)
class FlexibilityPlans:
    """Many sites on one half-hour index, checked and ready to value: made by
    `plan_flexibility_many`; `value(shares)` gives each site's `FlexibilityResult`, equal to
    its single-site plan's. Each `value` call lays the prices out again and searches every
    site's days (none are kept). Its arrays are shared: never modify them."""

    index: pd.DatetimeIndex
    loads: np.ndarray  # [sites, half hours] kWh (C order)
    prices: np.ndarray  # [k, half hours] p/kWh
    price_rows: np.ndarray  # [sites] each site's row of `prices`
    power_limit_kw: np.ndarray  # [sites]
    shift_energy: bool
    red_periods: np.ndarray | None  # [sites or 1, half hours] bool
    _layout: _Layout

    def __len__(self) -> int:
        return self.loads.shape[0]

    def value(self, flex_fraction: float | ArrayLike) -> list[FlexibilityResult]:
        """Each site's best saving moving up to its `flex_fraction` (one for all, or one per
        site) of each day's kWh, in site order."""
        sites = len(self)
        shares = np.asarray(flex_fraction, dtype=float)
        if shares.ndim > 1 or shares.size not in (1, sites):
            raise ValueError(f"flex_fraction: one share or one per site ({sites}), "
                             f"got shape {shares.shape}")
        shares = np.broadcast_to(shares.ravel(), (sites,))
        outside = np.flatnonzero(~((shares >= 0.0) & (shares <= 1.0)))
        if outside.size:
            raise ValueError(f"flex_fraction must be between 0 and 1, got {shares[outside[0]]} "
                             f"for site {outside[0]}")
        prices, rows = self.prices, self.price_rows
        laid_out = _laid_out_prices(self._layout, prices, self.shift_energy)  # each row once
        days = _plan(self._layout, self.loads, laid_out, rows, self.power_limit_kw,
                     self.red_periods)
        q, flexed = _moves(days, np.ascontiguousarray(shares), self.shift_energy)
        shifted = q.sum(axis=1).tolist()  # each row summed as its own array's sum is
        limits = self.power_limit_kw.tolist()
        return [_result(self.index, self.loads[i], prices[rows[i]], shifted[i], flexed[i],
                        limits[i]) for i in range(sites)]


def plan_flexibility_many(
    loads: ArrayLike,
    prices: ArrayLike,
    index: pd.DatetimeIndex,
    shift_energy: bool = True,
    power_limit_kw: float | ArrayLike | None = None,
    red_periods: ArrayLike | None = None,
    *,
    price_rows: ArrayLike | None = None,
    published_rates: bool = False,
    finite: bool = False,
) -> FlexibilityPlans:
    """`plan_flexibility` of many sites at once: `loads` kWh [sites, half hours] on the
    tz-aware half-hour `index` (period starts), `prices` p/kWh [sites, half hours] or one row
    [half hours] for all, or [k, half hours] with `price_rows` [sites] naming each site's row
    (sites of one tariff share a row: its days are sorted once); `power_limit_kw` one or per
    site (default: each site's max demand), `red_periods` bool [half hours] or [sites, half
    hours]. `plans.value(share)` gives per site what `plan_flexibility(site's Series, its
    prices, ...).value(share)` does. `finite=True` says the caller has checked every kWh is
    a finite number: they are not checked again."""
    index = validate_profile(pd.Series(np.zeros(len(index)), index=index), "index").index
    n = index.size
    loads = np.ascontiguousarray(loads, dtype=float)
    if loads.ndim != 2 or loads.shape[1] != n:
        raise ValueError(f"loads: expected kWh as [sites, {n} half hours], got shape "
                         f"{loads.shape}")
    if not finite:
        _check_finite(loads, index, "loads")
    prices = np.ascontiguousarray(prices, dtype=float)
    if prices.ndim == 1:
        prices = prices[None]
    rows = _price_rows(price_rows, prices, loads.shape[0], n)
    _check_finite(prices, index, "prices", "site" if price_rows is None else "row")
    if not published_rates:
        warn_if_pounds_per_kwh(prices, "prices (prices per half hour)", stacklevel=3)
    if power_limit_kw is None:
        limits = np.maximum(loads.max(axis=1), 0.0) / 0.5
    else:
        limits = np.broadcast_to(np.asarray(power_limit_kw, dtype=float), loads.shape[:1])
        if not (limits >= 0).all():
            bad = int(np.flatnonzero(~(limits >= 0))[0])
            raise ValueError(f"power_limit_kw must be >= 0, got {limits[bad]} for site {bad}")
    red = None
    if red_periods is not None:
        red = np.asarray(red_periods, dtype=bool)
        red = red[None] if red.ndim == 1 else red
        if red.ndim != 2 or red.shape[1] != n or red.shape[0] not in (1, loads.shape[0]):
            raise ValueError(f"red_periods: expected flags as [{n} half hours] or "
                             f"[{loads.shape[0]} sites, {n}], got shape {red.shape}")
    return FlexibilityPlans(index, loads, prices, rows, limits, shift_energy, red,
                            _layout(index))


def _price_rows(price_rows: ArrayLike | None, prices: np.ndarray, sites: int, n: int
                ) -> np.ndarray:
    """Each site's row of `prices` [k, n half hours] (checked): `price_rows` as given, else
    the one row for all or a row per site."""
    if prices.ndim != 2 or prices.shape[1] != n or (
            price_rows is None and prices.shape[0] not in (1, sites)):
        raise ValueError(f"prices: expected p/kWh as [{n} half hours] or [{sites} sites, {n}]"
                         f"{'' if price_rows is None else f' or [k, {n}] with price_rows'}, "
                         f"got shape {prices.shape}")
    if price_rows is None:
        return np.zeros(sites, np.intp) if prices.shape[0] == 1 else np.arange(sites)
    rows = np.asarray(price_rows)
    if rows.shape != (sites,) or rows.dtype.kind not in "iu" or (rows.size and not (
            (rows >= 0).all() and (rows < prices.shape[0]).all())):
        raise ValueError(f"price_rows: expected {sites} row numbers of prices (0 to "
                         f"{prices.shape[0] - 1}), got {rows!r}")
    return rows.astype(np.intp)


def _check_finite(values: np.ndarray, index: pd.DatetimeIndex, what: str,
                  row_name: str = "site") -> None:
    if not np.isfinite(values).all():
        row, column = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(f"{what}: {row_name} {row} at {index[column]} is not a finite number "
                         "(fill gaps)")
