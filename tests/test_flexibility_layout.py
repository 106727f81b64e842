"""The flexibility's faster building blocks against the plain computations they stand for, on
seeded varied inputs: days laid out on the grid by block copies against a scatter to each half
hour's UK clock day and position; price orders found once per day pattern against a stable
argsort of every day (equal rows, signed zeros, fingerprints that collide); prices matched
to a profile by int64 instants against matching by timestamp; where S stops rising, read at
the last rising segment, against the largest over every segment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bess_duos.core import flexibility
from bess_duos.core.features import uk_clock
from bess_duos.core.flexibility import aligned_prices
from bess_duos.core.synthetic import half_hour_index

# ---------------------------------------------------------------- days on the grid

_STARTS = ["2026-03-27", "2026-10-23", "2025-06-02", "2025-12-29", "2025-03-30", "2025-10-26"]


def _random_index(rng: np.random.Generator) -> pd.DatetimeIndex:
    """1-400 days from a clock-change weekend or not, cut at both ends or not."""
    start = pd.Timestamp(_STARTS[rng.integers(len(_STARTS))])
    index = half_hour_index(start, start + pd.Timedelta(days=int(rng.integers(1, 400))))
    first = int(rng.integers(0, 47)) if rng.random() < 0.5 else 0
    last = len(index) - (int(rng.integers(0, 47)) if rng.random() < 0.5 else 0)
    return index[first:last] if last - first >= 2 else index


def test_the_grid_of_block_copies_is_the_scatter_to_each_half_hours_day_and_position() -> None:
    rng = np.random.default_rng(1807)
    for case in range(120):
        index = _random_index(rng)
        clock = uk_clock(index)
        n_days, width = int(clock.day_code[-1]) + 1, int(clock.day_pos.max()) + 1
        flat = clock.day_code * width + clock.day_pos
        layout = flexibility._layout(index)
        assert (layout.n_days, layout.width) == (n_days, width), case
        rows = int(rng.integers(1, 4))
        values = rng.normal(size=(rows, len(index)))
        want = np.zeros((rows, n_days * width))
        want[:, flat] = values
        grid = layout.grid(values)
        assert grid.shape == (rows, n_days, width), case
        assert np.array_equal(grid.reshape(rows, -1), want), case
        flags = layout.grid(values > 0)
        assert flags.dtype == bool and np.array_equal(flags.reshape(rows, -1), want > 0), case
        back = layout.half_hours(grid.reshape(-1, width))
        assert np.array_equal(back, values) and back.flags.c_contiguous, case
        if layout.pad is not None:  # the padding: every grid slot no half hour sits in
            padding = np.ones(n_days * width, dtype=bool)
            padding[flat] = False
            assert np.array_equal(layout.pad, np.flatnonzero(padding)), case


# ---------------------------------------------------------------- price orders


def _price_grid(rng: np.random.Generator) -> np.ndarray:
    """Days of prices: a few repeated patterns (band prices), all distinct, or mixed, with
    ties, zeros of either sign and negative prices."""
    days, width = int(rng.integers(1, 60)), int(rng.choice([46, 48, 50]))
    kind = rng.integers(4)
    if kind == 0:  # a few day patterns of three band prices
        patterns = rng.choice(rng.uniform(0.1, 30, 3), (int(rng.integers(1, 5)), width))
        return patterns[rng.integers(0, len(patterns), days)]
    if kind == 1:  # every day its own prices
        return rng.uniform(-3, 30, (days, width))
    if kind == 2:  # small integers with zeros of both signs: equal values, unequal bits
        return rng.choice([0.0, -0.0, 1.0, 2.0, -1.0], (days, width))
    grid = np.tile(rng.choice([0.42, 3.1, 25.3], width), (days, 1))  # one pattern, a few
    changed = rng.random(days) < 0.2  # days changed in one slot
    grid[changed, rng.integers(0, width, int(changed.sum()))] += 1.0
    return grid


def _plain_orders(price: np.ndarray, shift_energy: bool) -> np.ndarray:
    orders = [np.argsort(-price, axis=1, kind="stable")]
    if shift_energy:
        orders.append(np.argsort(price, axis=1, kind="stable"))
    return np.stack(orders)


@pytest.mark.parametrize("fingerprint", ["random", "all ones"])
def test_price_orders_are_each_days_stable_argsorts(monkeypatch, fingerprint: str) -> None:
    """With weights of all ones, rows of equal sums share a fingerprint: the comparison must
    then refuse the grouping (or the rows really are equal)."""
    if fingerprint == "all ones":
        monkeypatch.setattr(flexibility, "_FINGERPRINT", np.ones(64))
    rng = np.random.default_rng(2026)
    for case in range(300):
        price = _price_grid(rng)
        shift_energy = bool(rng.random() < 0.8)
        orders, codes, reps = flexibility._price_orders(price, shift_energy)
        assert np.array_equal(orders, _plain_orders(price, shift_energy)), case
        if codes is not None:  # grouped: each row equals its pattern's row
            assert reps is not None and len(reps) < len(price), case
            assert np.array_equal(price[reps][codes], price), case


def test_sorted_prices_read_from_the_grid_keep_their_signed_zeros() -> None:
    """Rows equal but for the sign of a zero share a pattern's order; each slot's price is
    still its own day's (bit for bit), read from the grid."""
    index = half_hour_index("2025-06-02", "2025-06-05")
    price = np.tile(np.repeat([0.0, 2.0, 5.0], 16), 3)
    price[48 + 3] = -0.0  # the second day's zero at 01:30 is negative
    load = np.tile(np.linspace(0.5, 2.0, 48), 3)
    days = flexibility._plan(flexibility._layout(index), load[None], price[None],
                             np.array([8.0]), True, None)
    grid = price.reshape(3, 48)
    for side, order in enumerate(_plain_orders(grid, True)):
        want = np.take_along_axis(grid, order, axis=1)
        got = days.price[side]
        assert np.array_equal(got, want) and np.array_equal(np.signbit(got), np.signbit(want))


# ---------------------------------------------------------------- prices matched to the profile


def test_prices_matched_by_instants_equal_prices_matched_by_timestamp() -> None:
    rng = np.random.default_rng(33)
    index = half_hour_index("2025-10-20", "2025-11-03")  # with the 50-half-hour day
    values = rng.uniform(0, 30, len(index))
    wider = half_hour_index("2025-10-19", "2025-11-04")
    wider_values = rng.uniform(0, 30, len(wider))
    for prices in (
        pd.Series(values, index=index),  # the same instants
        pd.Series(values, index=index.as_unit("us")),  # in another unit
        pd.Series(values, index=index.as_unit("s").tz_convert("Europe/London")),  # zone
        pd.Series(values, index=index.tz_convert("Europe/London").tz_localize(None)),  # naive
        pd.Series(wider_values, index=wider),  # more than the profile: matched by time
        pd.Series(values[::-1], index=index[::-1]),  # the same instants, in reverse
    ):
        utc = prices.index if prices.index.tz is not None else index
        want = prices.set_axis(utc).reindex(index).to_numpy()
        got = aligned_prices(prices, index)
        assert np.array_equal(got, want)
    with pytest.raises(ValueError, match=r"prices_hh: no price for 2025-10-19 23:00:00\+00:00"):
        aligned_prices(pd.Series(values[1:], index=index[1:]), index)  # the first missing


# ---------------------------------------------------------------- where S stops rising


def _peak_over_every_segment(days: flexibility._Days, rest: np.ndarray) -> np.ndarray:
    """q* as the largest of min(room, end) over the remove segments where S rises (room above
    the segment's start), every segment priced: the plain form of `_peak`'s q*."""
    r_cum, a_cum = days.cum[:, rest]
    a_price = days.price[1][rest]
    rows, width = r_cum.shape
    start = np.zeros((rows, width), dtype=np.intp)
    start[:, 1:] = np.where(a_price[:, 1:] != a_price[:, :-1], np.arange(1, width), 0)
    cheaper = np.maximum.accumulate(start, axis=1)[:, ::-1]
    room = np.where(cheaper > 0, np.take_along_axis(a_cum, np.maximum(cheaper - 1, 0), axis=1),
                    0.0)
    r_start = np.zeros((rows, width))
    r_start[:, 1:] = r_cum[:, :-1]
    return np.where(room > r_start, np.minimum(room, r_cum), 0.0).max(axis=1)


def test_where_s_stops_rising_equals_the_largest_over_every_segment() -> None:
    """Band prices, a few small integers, one price all day, two nearly equal; ties, zero and
    negative loads, power limits; one site or several on shared prices (the days of a pattern
    grouped): q* bit for bit."""
    rng = np.random.default_rng(4242)
    for case in range(150):
        index = _random_index(rng)
        sites = int(rng.integers(1, 4))
        loads = np.round(rng.gamma(1.5, 2.0, (sites, len(index))), int(rng.integers(0, 3)))
        loads[rng.random(loads.shape) < 0.1] = rng.choice([0.0, -1.0])
        local = index.tz_convert("Europe/London")
        hour = local.hour + local.minute / 60
        bands = np.where((hour >= 16) & (hour < 19), 25.3, np.where(hour >= 7.5, 3.1, 0.42))
        price = [bands, rng.choice([0.0, 1.0, 2.0, 7.0], len(index)), np.full(len(index), 4.2),
                 np.where(hour < 12, 1.5, 1.5 + 1e-9)][rng.choice(4, p=[0.4, 0.3, 0.15, 0.15])]
        limits = np.abs(loads).max(axis=1) / 0.5 * rng.choice([1.0, 1.5, 3.0])
        layout = flexibility._layout(index)
        shared = {} if sites > 1 else None
        days = flexibility._plan(layout, loads, price[None], limits, True, None, shared)
        rest = np.flatnonzero(days.r_cum[:, -1] > 0)
        q_max = np.minimum(days.r_cum[:, -1], days.a_cum[:, -1])[rest]
        peak, _ = flexibility._peak(days, rest, q_max, np.zeros(len(rest)))
        want = _peak_over_every_segment(days, rest)
        assert np.array_equal(peak, want) and np.array_equal(np.signbit(peak),
                                                             np.signbit(want)), case
