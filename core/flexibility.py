"""Value of load flexibility: shift part of each day's energy from dear to cheap half hours.

Method (per UK clock day d of each site, all days of all sites at once as [rows, 50] arrays):

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
(one price row for all sites is sorted once). A plan valued again keeps what does not
depend on the share (each breakpoint's saving, the slots in grid order), so a later share's
search is the saving at its cap and a comparison.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from bess_duos.core.bands import NS_PER_HALF_HOUR
from bess_duos.core.features import checked_kwh_series, uk_clock, validate_profile
from bess_duos.core.profiles import localise_timestamps
from bess_duos.core.tariffs import warn_if_pounds_per_kwh
from numpy.typing import ArrayLike

# Savings within this share of the day's scale (its largest |price| x its removable + addable
# kWh) are equal: rounding in their computation is below ~1e-13 of that scale (50 slots x
# 2**-53 x a few), and what taking a tie can cost is at most this share a day (under 0.01 p a
# year on a site of 10 GWh a year at 30 p/kWh).
_MARGIN = 1e-11
_SITES_AT_ONCE = 4  # sites valued together: a [2, rows, 50] array of 4 site-years is 1.2 MB
_ZEROS = np.zeros(2**18)  # to clip at 0 (an array of zeros is faster than a scalar 0)
_ZEROS.flags.writeable = False
_SMALL = 50_000  # running sums added transposed up to this many values (in the cache)


def _zeros(shape: tuple[int, ...]) -> np.ndarray:
    """Read-only zeros of this shape (a view of `_ZEROS` when it is large enough)."""
    size = math.prod(shape)
    return _ZEROS[:size].reshape(shape) if size <= _ZEROS.size else np.zeros(shape)


@dataclass(frozen=True)
class _Unbuilt:
    """A flexed profile not yet made a Series: its kWh (an array of its own) and index."""

    kwh: np.ndarray
    index: pd.DatetimeIndex

    def build(self) -> pd.Series:
        return pd.Series(self.kwh, index=self.index, name="kwh", copy=False)


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


def _per_slot(values: np.ndarray, width: int) -> np.ndarray:
    """[rows] -> [rows, width], each row's value in every slot: operands of this shape beat
    values[:, None] (numpy then runs one long loop, not one of `width` per row)."""
    return np.repeat(values, width).reshape(values.size, width)


def _allocate(q: np.ndarray, prev: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """clip(q - prev, 0, cap) per row [rows, width] (of each side, for [sides, rows, width]),
    as max then min: the same numbers, faster."""
    taken = _per_slot(q, prev.shape[-1]) - prev
    np.maximum(taken, _zeros(taken.shape), out=taken)
    return np.minimum(taken, cap, out=taken)


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
class _Days:
    """Each row one UK clock day of one site (site-major), its half hours sorted by price:
    dearest first to give energy up (side 0, `r_*`), cheapest first to take it (side 1,
    `a_*`; absent when curtailing). `cum` are cumulative capacities (kWh); `at` the flat grid
    position (row x width + slot) of each sorted slot; `load` the kWh per slot, in grid
    order. The sorted prices (`price`) are read from the grid's (`grid_price`, flat) when
    first asked for; the search reads the few it needs through `at`. Rows of equal prices
    share a pattern: `codes` gives each row's, `reps` a row of each (None: not grouped)."""

    day_kwh: np.ndarray  # [rows], floored at 0
    load: np.ndarray  # [rows, width] kWh per grid slot (padding 0)
    at: np.ndarray  # [sides, rows, width] each
    cap: np.ndarray
    cum: np.ndarray
    grid_price: np.ndarray  # [rows x width] in grid order
    codes: np.ndarray | None = None  # [rows] the price pattern of each row
    reps: np.ndarray | None = None  # [patterns] a row of each pattern
    sorted_price: np.ndarray | None = None  # `price` when given (a subset of rows)

    @functools.cached_property
    def price(self) -> np.ndarray:
        """[sides, rows, width] the price of each sorted slot."""
        if self.sorted_price is not None:
            return self.sorted_price
        return np.take(self.grid_price, self.at)

    r_at = property(lambda self: self.at[0])
    r_cap = property(lambda self: self.cap[0])
    r_price = property(lambda self: self.price[0])
    r_cum = property(lambda self: self.cum[0])
    a_at = property(lambda self: self.at[1] if len(self.at) > 1 else None)
    a_cap = property(lambda self: self.cap[1] if len(self.cap) > 1 else None)
    a_price = property(lambda self: self.price[1] if len(self.price) > 1 else None)
    a_cum = property(lambda self: self.cum[1] if len(self.cum) > 1 else None)

    def rows(self, which: np.ndarray, width: int | None = None) -> _Days:
        """These rows' first `width` (default all) sorted slots (for the search: positions
        left out)."""
        keep = slice(width)
        return _Days(self.day_kwh[which], self.load[:0], self.at[:, :0],
                     self.cap[:, which, keep], self.cum[:, which, keep], self.grid_price,
                     sorted_price=np.take(self.grid_price, self.at[:, which, keep]))


def _running_sum(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """np.cumsum(values, axis=-1) (into `out`, which may be `values`): the same additions in
    the same order, done a position at a time across all rows (numpy adds along a row as one
    serial chain through memory, several times slower). The loop is over the day's sorted
    positions (at most 50), never over days; a small array is summed transposed (each
    position's values side by side)."""
    out = np.empty(values.shape) if out is None else out
    width = values.shape[-1]
    if values.size <= _SMALL:
        flat = values.reshape(-1, width).T.copy()
        # Each position's view made once, by iterating (indexing each costs more than the add)
        for before, position in itertools.pairwise(flat):
            np.add(before, position, position)
        out[...] = flat.T.reshape(values.shape)  # `out` may be laid out otherwise
        return out
    if out is not values:
        out[...] = values
    for k in range(1, width):
        np.add(out[..., k - 1], out[..., k], out=out[..., k])
    return out


_FINGERPRINT = np.random.default_rng(0).uniform(0.5, 1.5, 64)  # weights to spot equal rows


def _price_orders(price: np.ndarray, shift_energy: bool
                  ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Stable argsorts of each row of `price` [rows, width]: descending (to give up) and, when
    shifting, ascending (to take), as [sides, rows, width]; with each row's pattern and a row
    of each pattern (None, None if the rows are not grouped). Band prices repeat a few day
    patterns: each distinct row is sorted once (equal rows sort alike; a fingerprint finds
    them, a comparison confirms)."""
    rows = price.shape[0]
    fingerprint = price @ _FINGERPRINT[:price.shape[1]]
    ranked = np.argsort(fingerprint, kind="stable")
    new = np.empty(rows, dtype=bool)
    new[:1] = True
    np.not_equal(fingerprint[ranked[1:]], fingerprint[ranked[:-1]], out=new[1:])
    codes = np.empty(rows, dtype=np.intp)
    codes[ranked] = np.cumsum(new) - 1
    reps = ranked[new]
    distinct = price[reps]
    if len(distinct) < rows and np.array_equal(distinct[codes], price):
        return np.take(_argsorts(distinct, shift_energy), codes, axis=1), codes, reps
    return _argsorts(price, shift_energy), None, None


def _argsorts(price: np.ndarray, shift_energy: bool) -> np.ndarray:
    """Stable argsorts of each row: descending and, when shifting, ascending."""
    orders = np.empty((2 if shift_energy else 1, *price.shape), dtype=np.intp)
    orders[0] = np.argsort(-price, axis=1, kind="stable")
    if shift_energy:
        orders[1] = np.argsort(price, axis=1, kind="stable")
    return orders


def _sort_days(grid_load: np.ndarray, grid_price: np.ndarray, pad: np.ndarray | None,
               limit_kw: np.ndarray, shift_energy: bool, grid_red: np.ndarray | None,
               shared: dict | None = None) -> _Days:
    """`_Days` of loads [sites, days, width] at prices [1 or sites, days, width]; `pad` holds
    the flat positions of the padding of short days (None if none), `limit_kw` is per site,
    `grid_red` [1 or sites, days, width] or None. `shared` (prices shared by all sites) keeps
    their sorted order, laid out for as many sites, from one call to the next (no fewer
    sites than the first call's)."""
    sites, n_days, width = grid_load.shape
    day_kwh = np.maximum(grid_load.reshape(-1, width).sum(axis=1), 0.0)
    zeros = _zeros(grid_load.shape)  # an array of zeros: faster than a scalar 0
    remove_cap = np.maximum(grid_load, zeros)  # padding slots hold 0 kWh: nothing to give
    if not shift_energy:
        remove_cap = np.where(grid_price > 0, remove_cap, 0.0)
    add_cap = (limit_kw * 0.5)[:, None, None] - grid_load
    np.maximum(add_cap, zeros, out=add_cap)
    if pad is not None:
        add_cap.reshape(sites, -1)[:, pad] = 0.0
    if grid_red is not None:
        remove_cap = np.where(grid_red, remove_cap, 0.0)
        add_cap = np.where(grid_red, 0.0, add_cap)

    price = grid_price.reshape(-1, width)
    per_site = sites // grid_price.shape[0]  # 1, or every site when the prices are shared

    def layout() -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        orders, codes, reps = _price_orders(price, shift_energy)
        if per_site == 1:
            orders += _per_slot(np.arange(0, price.size, width), width)  # flat positions
            return orders, price.reshape(-1), codes, reps
        at = np.tile(orders, (1, per_site, 1))
        at += _per_slot(np.arange(0, sites * n_days * width, width), width)
        return (at, np.tile(price.reshape(-1), per_site),
                None if codes is None else np.tile(codes, per_site), reps)

    if shared is None or per_site == 1:
        at, flat_price, codes, reps = layout()
    else:
        if "orders" not in shared:
            shared["orders"] = layout()
        at, flat_price, codes, reps = shared["orders"]
        at = np.ascontiguousarray(at[:, :sites * n_days])  # (a copy for a last, short chunk)
        flat_price = flat_price[:sites * n_days * width]
        codes = None if codes is None else codes[:sites * n_days]
    cap = np.empty(at.shape)
    for side, grid_cap in enumerate((remove_cap, add_cap)[:len(at)]):
        np.take(grid_cap, at[side], out=cap[side])
    return _Days(day_kwh, grid_load.reshape(-1, width), at, cap, _running_sum(cap),
                 flat_price, codes, reps)


def _shift_quantity(days: _Days, budget: np.ndarray, reuse: _Reuse | None = None
                    ) -> np.ndarray:
    """kWh moved each row (day): of the candidates 0, each cumulative remove and add capacity
    and the budget, each capped at q_max, the smallest whose saving is within the rounding
    margin of the best, found as the module docstring says; with `reuse` (a plan valued again)
    the knots' savings are read from it."""
    assert days.a_cap is not None and days.a_cum is not None
    if reuse is None:
        total, margin = _totals(days)
    else:
        total, margin = reuse.total, reuse.margin
    q_max = np.minimum(budget, total)
    # Most days S still rises at q_max: S being concave, q_max then beats each smaller
    # candidate by at least that slope x the gap to the largest of them, beyond any rounding.
    k_r, k_a, rising = _rise_to(days, days.cum, q_max)
    q = q_max.copy()
    rest = np.flatnonzero(~((rising > margin) | (q_max <= 0)))
    # Of the others, a day whose first kWh moved saves nothing (its dearest half hour that can
    # give up energy no dearer than its cheapest that can take it) saves nothing at any
    # quantity (S is concave): every candidate is within rounding of 0, so 0 is moved.
    first = np.argmax(np.take(days.cap, rest, axis=1) > 0, axis=2)
    first += rest * days.cap.shape[2] + np.arange(0, days.at.size, days.at[0].size)[:, None]
    price = np.take(days.grid_price, np.take(days.at, first))
    idle = price[0] <= price[1]
    q[rest[idle]] = 0.0
    rest = rest[~idle]
    # Most of the rest peak where S stops rising (q*, below q_max), rising into it by more
    # than twice the margin: every candidate below q* is then worse than q* beyond rounding
    # and q* is within rounding of the best, so q* is moved.
    if rest.size:
        peak, sure = _peak(days, rest, q_max[rest], margin[rest])
        q[rest[sure]] = peak[sure]
        rest = rest[~sure]
    if rest.size and reuse is not None:
        q[rest] = _smallest_best(days.rows(rest), q_max[rest], k_r[rest], k_a[rest],
                                 margin[rest], (reuse.r_line[rest], reuse.a_line[rest],
                                                reuse.r_knots[rest], reuse.a_knots[rest]))
    elif rest.size:
        # Only the knots below q_max and the segments at it count: the days are searched on
        # as many sorted slots as they need (the knots beyond change nothing).
        width = int(max(k_r[rest].max(), k_a[rest].max())) + 1
        q[rest] = _smallest_best(days.rows(rest, width), q_max[rest], k_r[rest], k_a[rest],
                                 margin[rest])
    return q


def _rise_to(days: _Days, cum: np.ndarray, x: np.ndarray, rows: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, at x (kWh, at most the row's total): the remove and add segments ending at x
    (the knots below x), and the slope of S just below x times the gap to the largest knot
    below x, i.e. how much S rises into x over its last stretch. `cum` [sides, rows, width]
    are the cumulative sums of the `rows` of `days` (default: all, in order)."""
    sides, n, width = cum.shape
    # The segments ending at x: the first knot at or above x (the cumulative sums rise and
    # the last is the row's total, so there is one): the number of knots below x.
    k = np.argmax(cum >= _per_slot(x, width), axis=2)
    at = k + np.arange(0, sides * n * width, width).reshape(sides, n)  # flat, in `cum`
    below = np.where(k > 0, np.take(cum, at - 1), 0.0)  # (at - 1 where k is 0: not used)
    if rows is not None:  # flat, in `days.at`
        at = k + (rows * width + np.arange(0, sides * days.at[0].size, days.at[0].size)[:, None])
    price = np.take(days.grid_price, np.take(days.at, at))
    return k[0], k[1], (price[0] - price[1]) * (x - np.maximum(below[0], below[1]))


def _peak(days: _Days, rest: np.ndarray, q_max: np.ndarray, margin: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """For the days `rest` (S rises at 0): q*, where S stops rising (a knot), and whether q* is
    surely the quantity to move (below q_max and S rises into it by more than twice the
    margin; rounding is far below the margin). S rises on remove segment i while the add
    slots cheaper than its price have room: from its start up to min(its end, that room)."""
    assert days.a_cum is not None and days.a_at is not None
    cum = np.take(days.cum, rest, axis=1)
    r_cum, a_cum = cum
    rows, width = r_cum.shape
    if days.codes is None or days.reps is None:
        cheaper = _cheaper(np.take(days.grid_price, days.a_at[rest]))
    else:  # prices of a few patterns: each pattern's once
        cheaper = _cheaper(np.take(days.grid_price, days.a_at[days.reps]))[days.codes[rest]]
    # The room: the add capacity up to the cheaper slots, read from a_cum after a 0 column.
    after_zero = np.zeros((rows, width + 1))
    after_zero[:, 1:] = a_cum
    cheaper += _per_slot(np.arange(0, rows * (width + 1), width + 1), width)
    room = np.take(after_zero, cheaper)
    start = np.arange(0, rows * width, width)  # flat positions of the rows
    # S rises on a first run of remove segments (room never grows along them, their starts
    # never fall): q* is min(room, end) of the last, j, which no earlier one's exceeds (their
    # ends are at most j's start, below j's room and end).
    stops = np.empty((rows, width), dtype=bool)
    np.less_equal(room[:, 0], 0.0, out=stops[:, 0])
    np.less_equal(room[:, 1:], r_cum[:, :-1], out=stops[:, 1:])
    first_stop = np.argmax(stops, axis=1) + start  # (the first segment when none stops)
    last = np.where(np.take(stops, first_stop), first_stop - 1, start + width - 1)
    peak = np.where(last >= start, np.minimum(np.take(room, last), np.take(r_cum, last)), 0.0)
    below_max = peak < q_max
    _, _, rising = _rise_to(days, cum, np.where(below_max, peak, 0.0), rest)
    return peak, below_max & (rising > 2.0 * margin)


def _cheaper(a_price: np.ndarray) -> np.ndarray:
    """For each remove slot of these rows (slot i has the price of ascending slot width - 1 -
    i), the number of add slots cheaper than its price: the start of its run in the
    ascending prices `a_price` [rows, width]."""
    rows, width = a_price.shape
    start = np.zeros((rows, width), dtype=np.intp)
    start[:, 1:] = np.where(a_price[:, 1:] != a_price[:, :-1], np.arange(1, width), 0)
    return np.maximum.accumulate(start, axis=1)[:, ::-1]


def _totals(days: _Days) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the most that can be moved (ignoring the budget) and the rounding margin
    (`_MARGIN` x the day's largest |price| x its removable + addable kWh)."""
    assert days.a_cum is not None
    r_cum, a_cum = days.r_cum, days.a_cum
    dearest, cheapest = (np.take(days.grid_price, days.r_at[:, k]) for k in (0, -1))
    scale = np.maximum(np.abs(dearest), np.abs(cheapest)) * (r_cum[:, -1] + a_cum[:, -1])
    return np.minimum(r_cum[:, -1], a_cum[:, -1]), _MARGIN * scale


def _smallest_best(days: _Days, q_max: np.ndarray, k_r: np.ndarray, k_a: np.ndarray,
                   margin: np.ndarray, knots: tuple[np.ndarray, ...] | None = None
                   ) -> np.ndarray:
    """`_shift_quantity` of days where q_max may not be the best (q_max > 0): the smallest
    candidate (0, the knots below q_max, q_max) whose saving is within `margin` of the best
    (on a day of one price every quantity saves 0: nothing is moved). `k_r`, `k_a`: the
    knots below q_max; `knots` (r_line, a_line, then `_knot_estimates`) when already known.
    Each candidate's saving is estimated from the cumulative sums at the knots, to well within
    `_MARGIN` of the scale."""
    assert days.a_cum is not None and days.a_price is not None
    r_cum, a_cum = days.r_cum, days.a_cum
    if knots is None:
        lines = _lines(days)
        r_line, a_line = lines[2], lines[3]
        at_r, at_a = _knot_estimates(days, *lines)
    else:
        r_line, a_line, at_r, at_a = knots
    at_max = _at_max(days.r_price, days.a_price, r_line, a_line, q_max, k_r, k_a)
    at_r = np.where(r_cum < q_max[:, None], at_r, -np.inf)  # from q_max on: q_max itself
    at_a = np.where(a_cum < q_max[:, None], at_a, -np.inf)  # the budget is q_max again
    best = np.maximum(np.maximum(at_r.max(axis=1), at_a.max(axis=1)), at_max)
    floor = np.maximum(best, 0.0) - margin  # 0 saves 0
    smallest = np.minimum(np.where(at_r >= floor[:, None], r_cum, np.inf).min(axis=1),
                          np.where(at_a >= floor[:, None], a_cum, np.inf).min(axis=1))
    smallest = np.where(at_max >= floor, np.minimum(smallest, q_max), smallest)
    return np.where(floor <= 0.0, 0.0, smallest)


def _lines(days: _Days) -> tuple[np.ndarray, ...]:
    """R(x) and A(x), the value of the first x kWh given up and taken, are linear on each
    slot's segment k: R(x) = r_line[k] + r_price[k] x (likewise A), exact at the knots.
    Returns (r_total, a_total, r_line, a_line), the totals being R and A at the knots."""
    total = days.cap * days.price
    _running_sum(total, out=total)
    line = total - days.price * days.cum
    return total[0], total[1], line[0], line[1]


def _knot_estimates(days: _Days, r_total: np.ndarray, a_total: np.ndarray,
                    r_line: np.ndarray, a_line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The estimated saving at each remove knot and at each add knot: two [rows, width]."""
    assert days.a_price is not None and days.a_cum is not None
    r_price, r_cum, a_price, a_cum = days.r_price, days.r_cum, days.a_price, days.a_cum
    rows, width = r_cum.shape
    # Merge each row's knots: for a remove knot, the add knots below it, and vice versa.
    position = np.empty(rows * 2 * width, dtype=np.intp)
    order = np.argsort(np.hstack([r_cum, a_cum]), axis=1, kind="stable")
    order += np.arange(0, rows * 2 * width, 2 * width)[:, None]
    position[order.ravel()] = np.tile(np.arange(2 * width), rows)
    position = position.reshape(rows, 2 * width)
    position -= np.tile(np.arange(width), 2)
    np.minimum(position, width - 1, out=position)  # the segment each knot lies on
    position += np.arange(0, rows * width, width)[:, None]
    on_a, on_r = position[:, :width], position[:, width:]
    at_r = r_total - (np.take(a_line, on_a) + np.take(a_price, on_a) * r_cum)
    at_a = np.take(r_line, on_r) + np.take(r_price, on_r) * a_cum - a_total
    return at_r, at_a


def _at_max(r_price: np.ndarray, a_price: np.ndarray, r_line: np.ndarray, a_line: np.ndarray,
            q_max: np.ndarray, k_r: np.ndarray, k_a: np.ndarray) -> np.ndarray:
    """The estimated saving at q_max, on the segments k_r and k_a."""
    row = np.arange(q_max.size)
    return (r_line[row, k_r] + r_price[row, k_r] * q_max
            - (a_line[row, k_a] + a_price[row, k_a] * q_max))


@dataclass(frozen=True)
class _Reuse:
    """What a plan valued again keeps from one share to the next, all share-independent: the
    rounding margins, each day's lines and the estimated saving at each knot (a share's
    search is then the saving at its q_max and a comparison), and each slot's start and
    capacity in grid order (no scatter)."""

    total: np.ndarray  # [rows] as `_totals`
    margin: np.ndarray
    r_line: np.ndarray  # [rows, width] as `_lines`
    a_line: np.ndarray
    r_knots: np.ndarray  # [rows, width] `_knot_estimates`
    a_knots: np.ndarray
    r_start: np.ndarray  # [rows, width] where each slot starts, in grid (not price) order
    r_cap: np.ndarray  # [rows, width] remove capacity, in grid order
    a_start: np.ndarray
    a_cap: np.ndarray

    @staticmethod
    def of(days: _Days) -> _Reuse:
        assert days.a_at is not None and days.a_cap is not None and days.a_cum is not None
        total, margin = _totals(days)
        lines = _lines(days)
        grid = []
        for at, cap, cum in ((days.r_at, days.r_cap, days.r_cum),
                             (days.a_at, days.a_cap, days.a_cum)):
            start, grid_cap = np.empty(cap.shape), np.empty(cap.shape)
            start.ravel()[at] = cum - cap
            grid_cap.ravel()[at] = cap
            grid += [start, grid_cap]
        return _Reuse(total, margin, lines[2], lines[3], *_knot_estimates(days, *lines),
                      *grid)


def _moves(days: _Days, budget: np.ndarray, shift_energy: bool, reuse: _Reuse | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """(kWh moved per row, the flexed kWh per grid slot [rows, width]); `reuse` as for
    `_shift_quantity` (its grid-order slots spare the scatter)."""
    if shift_energy:
        q = _shift_quantity(days, budget, reuse)
    else:
        q = np.minimum(budget, days.r_cum[:, -1])
    if reuse is not None:
        flexed = days.load - _allocate(q, reuse.r_start, reuse.r_cap)
        flexed += _allocate(q, reuse.a_start, reuse.a_cap)
        return q, flexed
    taken = _allocate(q, days.cum - days.cap, days.cap)  # both sides at once
    moved = np.empty(taken.shape)  # every slot is written (`at` covers the grid)
    for side in range(len(taken)):
        moved[side].ravel()[days.at[side]] = taken[side]
    flexed = days.load - moved[0]  # an array of its own (a result keeps it)
    if shift_energy:
        flexed += moved[1]
    return q, flexed


def _result(index: pd.DatetimeIndex, load: np.ndarray, price: np.ndarray, q: np.ndarray,
            flexed: np.ndarray, power_limit_kw: float, fresh: bool = False
            ) -> FlexibilityResult:
    """One site's result; `flexed` is its kWh per half hour after the moves (`fresh`: an
    array of its own, kept by the result, else copied). Its Series is made when first read."""
    kwh = flexed if fresh else flexed.copy()
    # The cost is summed on a fresh array, as the old code's was (a dot product's rounding
    # can depend on where its array starts in memory).
    base_cost = float(load @ price) / 100.0
    flexed_cost = float(kwh @ price) / 100.0
    value = max(base_cost - flexed_cost, 0.0)
    days = len(load) / 48.0
    return FlexibilityResult(
        value_gbp=value,
        saving_pct=value / base_cost * 100.0 if base_cost > 0 else float("nan"),
        base_cost_gbp=base_cost,
        flexed_cost_gbp=flexed_cost,
        shifted_kwh=float(q.sum()),
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

    def half_hours(self, grid: np.ndarray) -> np.ndarray:
        """[rows x days, width] -> [rows, half hours]."""
        if self.blocks is None:
            return grid.reshape(-1, self.n_days * self.width)
        grid = grid.reshape(-1, self.n_days, self.width)
        rows, (_, end, _, count, at) = grid.shape[0], self.blocks[-1]
        out = np.empty((rows, at + (end - self.blocks[-1][0]) * count))
        for day, end, slot, count, at in self.blocks:  # (a view of `out`: copied once)
            out[:, at:at + (end - day) * count].reshape(rows, end - day, count)[...] = (
                grid[:, day:end, slot:slot + count])
        return out


def _layout(index: pd.DatetimeIndex) -> _Layout:
    """The layout of a regular half-hour index (validated), remembered per grid."""
    return _grid_layout(int(index[0].value), index.size)


@functools.lru_cache(maxsize=8)
def _grid_layout(first_ns: int, size: int) -> _Layout:
    clock = uk_clock(pd.DatetimeIndex(first_ns + np.arange(size, dtype=np.int64)
                                      * NS_PER_HALF_HOUR, tz="UTC"))
    n_days, width = int(clock.day_code[-1]) + 1, int(clock.day_pos.max()) + 1
    if size == n_days * width:  # every day full: the half hours fill the grid
        return _Layout(n_days, width, None, None)
    # Each day's first slot and number of half hours (consecutive, as the index is regular),
    # then the runs of days alike: a handful (part days, clock changes).
    starts = np.flatnonzero(np.diff(clock.day_code, prepend=-1))
    counts = np.diff(starts, append=size)
    first_slot = clock.day_pos[starts]
    change = np.flatnonzero((np.diff(first_slot) != 0) | (np.diff(counts) != 0)) + 1
    runs = np.concatenate([[0], change, [n_days]])
    blocks = tuple((int(day), int(end), int(first_slot[day]), int(counts[day]),
                    int(starts[day])) for day, end in itertools.pairwise(runs))
    pad = np.ones(n_days * width, dtype=bool)
    pad[clock.day_code * width + clock.day_pos] = False
    pad = np.flatnonzero(pad)
    pad.flags.writeable = False
    return _Layout(n_days, width, blocks, pad)


def _plan(layout: _Layout, loads: np.ndarray, prices: np.ndarray, limit_kw: np.ndarray,
          shift_energy: bool, red: np.ndarray | None, shared: dict | None = None) -> _Days:
    """The sorted days of loads [sites, half hours] at prices [1 or sites, ...]; `shared`
    as for `_sort_days` (with the prices' grid)."""
    grid_red = None if red is None else layout.grid(red)
    if shared is None:
        grid_price = layout.grid(prices)
    else:
        grid_price = shared.get("grid_price")
        if grid_price is None:
            grid_price = shared["grid_price"] = layout.grid(prices)
    return _sort_days(layout.grid(loads), grid_price, layout.pad, limit_kw, shift_energy,
                      grid_red, shared)


@dataclass(frozen=True)
class FlexibilityPlan:
    """A profile and its prices laid out by UK clock day and sorted by price: everything
    `calculate_flexibility_value` computes before the flexible share comes in. `value(share)`
    finishes the job (the same result), so several shares cost one plan; from the second share
    on, what does not depend on the share is kept (`_Reuse`: about 1 MB for a year), so a
    later share costs each day's saving at its cap and a comparison (the first share, often
    the only one, keeps nothing). Made by `plan_flexibility`; its arrays are shared: never modify
    them."""

    index: pd.DatetimeIndex
    load: np.ndarray
    price: np.ndarray
    power_limit_kw: float
    shift_energy: bool
    _layout: _Layout
    _days: _Days
    # What does not depend on the share, made by the second `value` call.
    _reuse: list[_Reuse | None] = field(default_factory=list, compare=False, repr=False)

    def value(self, flex_fraction: float) -> FlexibilityResult:
        """The best saving moving up to `flex_fraction` of each day's kWh."""
        _check_fraction(flex_fraction)
        if not self._reuse:
            self._reuse.append(None)
        elif self._reuse[0] is None and self.shift_energy:
            self._reuse[0] = _Reuse.of(self._days)
        q, flexed = _moves(self._days, flex_fraction * self._days.day_kwh, self.shift_energy,
                           self._reuse[0])
        return _result(self.index, self.load, self.price, q,
                       self._layout.half_hours(flexed)[0], self.power_limit_kw, fresh=True)


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
    load = series.to_numpy()
    price = aligned_prices(prices_hh, series.index)
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
    days = _plan(layout, load[None], price[None], np.array([power_limit_kw], dtype=float),
                 shift_energy, red)
    return FlexibilityPlan(series.index, load, price, float(power_limit_kw), shift_energy,
                           layout, days)


@dataclass(frozen=True)
class FlexibilityPlans:
    """Many sites on one half-hour index, checked and ready to value: made by
    `plan_flexibility_many`; `value(shares)` gives each site's `FlexibilityResult`, equal to
    its single-site plan's. Sites are sorted and valued a few at a time (their arrays stay in
    the CPU's cache; none are kept), so each `value` call does the sorting again. Its arrays
    are shared: never modify them."""

    index: pd.DatetimeIndex
    loads: np.ndarray  # [sites, half hours] kWh
    prices: np.ndarray  # [sites or 1, half hours] p/kWh
    power_limit_kw: np.ndarray  # [sites]
    shift_energy: bool
    red_periods: np.ndarray | None  # [sites or 1, half hours] bool
    _layout: _Layout

    def __len__(self) -> int:
        return self.loads.shape[0]

    def value(self, flex_fraction: float | ArrayLike) -> list[FlexibilityResult]:
        """Each site's best saving moving up to its `flex_fraction` (one for all, or one per
        site) of each day's kWh, in site order."""
        sites, n_days = len(self), self._layout.n_days
        shares = np.asarray(flex_fraction, dtype=float)
        if shares.ndim > 1 or shares.size not in (1, sites):
            raise ValueError(f"flex_fraction: one share or one per site ({sites}), "
                             f"got shape {shares.shape}")
        shares = np.broadcast_to(shares.ravel(), (sites,))
        outside = np.flatnonzero(~((shares >= 0.0) & (shares <= 1.0)))
        if outside.size:
            raise ValueError(f"flex_fraction must be between 0 and 1, got {shares[outside[0]]} "
                             f"for site {outside[0]}")
        prices, red = self.prices, self.red_periods
        shared = {} if len(prices) == 1 else None  # one price row: sorted once for all
        results = []
        for start in range(0, sites, _SITES_AT_ONCE):
            chunk = slice(start, start + _SITES_AT_ONCE)
            days = _plan(self._layout, self.loads[chunk], prices[chunk] if len(prices) > 1
                         else prices, self.power_limit_kw[chunk], self.shift_energy,
                         red[chunk] if red is not None and len(red) > 1 else red, shared)
            budget = np.repeat(shares[chunk], n_days) * days.day_kwh
            q, flexed = _moves(days, budget, self.shift_energy)
            q, flexed = q.reshape(-1, n_days), self._layout.half_hours(flexed)
            results += [_result(self.index, self.loads[i], prices[i % len(prices)], q[j],
                                flexed[j], self.power_limit_kw[i])
                        for j, i in enumerate(range(sites)[chunk])]
        return results


def plan_flexibility_many(
    loads: ArrayLike,
    prices: ArrayLike,
    index: pd.DatetimeIndex,
    shift_energy: bool = True,
    power_limit_kw: float | ArrayLike | None = None,
    red_periods: ArrayLike | None = None,
    *,
    published_rates: bool = False,
) -> FlexibilityPlans:
    """`plan_flexibility` of many sites at once: `loads` kWh [sites, half hours] on the
    tz-aware half-hour `index` (period starts), `prices` p/kWh [sites, half hours] or one row
    [half hours] for all, `power_limit_kw` one or per site (default: each site's max
    demand), `red_periods` bool [half hours] or [sites, half hours]. `plans.value(share)`
    gives per site what `plan_flexibility(site's Series, its prices, ...).value(share)` does."""
    index = validate_profile(pd.Series(np.zeros(len(index)), index=index), "index").index
    n = index.size
    loads = np.ascontiguousarray(loads, dtype=float)
    if loads.ndim != 2 or loads.shape[1] != n:
        raise ValueError(f"loads: expected kWh as [sites, {n} half hours], got shape "
                         f"{loads.shape}")
    _check_finite(loads, index, "loads")
    prices = np.ascontiguousarray(prices, dtype=float)
    if prices.ndim == 1:
        prices = prices[None]
    if prices.ndim != 2 or prices.shape[1] != n or prices.shape[0] not in (1, loads.shape[0]):
        raise ValueError(f"prices: expected p/kWh as [{n} half hours] or [{loads.shape[0]} "
                         f"sites, {n}], got shape {prices.shape}")
    _check_finite(prices, index, "prices")
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
    return FlexibilityPlans(index, loads, prices, limits, shift_energy, red, _layout(index))


def _check_finite(values: np.ndarray, index: pd.DatetimeIndex, what: str) -> None:
    if not np.isfinite(values).all():
        row, column = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(f"{what}: site {row} at {index[column]} is not a finite number "
                         "(fill gaps)")
