"""The flexibility's faster building blocks against the plain computations they stand for, on
seeded varied inputs: days laid out on the grid by block copies (and each day's half hours as
the compiled search reads them) against a scatter to each half hour's UK clock day and
position; each day's kWh summed by the compiled search against numpy's sum of its grid row;
price orders found once per day pattern against a stable argsort of every day (equal rows,
signed zeros, fingerprints that collide); prices matched to a profile by int64 instants
against matching by timestamp."""

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
        # Each day's half hours (the compiled search reads the days from them): its first,
        # how many, and the slot of the first; the others follow it.
        day = np.repeat(np.arange(n_days), layout.day_count)
        assert np.array_equal(day, clock.day_code), case
        assert np.array_equal(layout.day_start, np.searchsorted(clock.day_code, range(n_days)))
        slot = layout.day_first[day] + np.arange(len(index)) - layout.day_start[day]
        assert np.array_equal(slot, clock.day_pos), case
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
        orders, codes = flexibility._price_orders(price, shift_energy)
        assert np.array_equal(orders[:, codes], _plain_orders(price, shift_energy)), case
        if orders.shape[1] < len(price):  # grouped: the rows of a pattern are equal
            first = np.unique(codes, return_index=True)[1]
            assert np.array_equal(price[first][codes], price), case
        else:
            assert np.array_equal(codes, np.arange(len(price))), case


def test_rows_match_is_array_equal_of_the_gathered_patterns() -> None:
    """`flex_days.rows_match` (the check that grouped rows really are equal) against
    np.array_equal of the gathered patterns: equal rows, signed zeros, one value off by an
    ulp, codes naming the wrong pattern."""
    from bess_duos.core.flex_days import rows_match

    rng = np.random.default_rng(77)
    for case in range(300):
        price = _price_grid(rng)
        codes = np.unique(price, axis=0, return_inverse=True)[1].ravel().astype(np.intp)
        patterns = price[np.unique(codes, return_index=True)[1]]
        change = rng.integers(4)
        if change == 1:  # one value of one row a little off
            price = price.copy()
            price[rng.integers(len(price)), rng.integers(price.shape[1])] *= 1 + 2**-52
        elif change == 2:  # a row named by another pattern
            codes = codes.copy()
            codes[rng.integers(len(codes))] = rng.integers(len(patterns))
        elif change == 3:  # a zero's sign flipped: still equal
            price = np.where(price == 0, -price, price)
        assert rows_match(price, patterns, codes) == np.array_equal(patterns[codes], price), case
    for code in (len(patterns), -1):  # a code naming no pattern: refused, not read
        with pytest.raises(ValueError, match="names no row"):
            rows_match(price, patterns, np.full(len(price), code, np.intp))


def test_days_equal_but_for_signed_zeros_share_an_order_and_keep_their_prices() -> None:
    """Rows equal but for the sign of a zero share a pattern's order; each day is still
    priced by its own row (bit for bit), which the search reads."""
    index = half_hour_index("2025-06-02", "2025-06-05")
    price = np.tile(np.repeat([0.0, 2.0, 5.0], 16), 3)
    price[48 + 3] = -0.0  # the second day's zero at 01:30 is negative
    prices = flexibility._laid_out_prices(flexibility._layout(index), price[None], True)
    grid = price.reshape(3, 48)
    assert prices.orders.shape[1] == 1 and np.array_equal(prices.codes, [0, 0, 0])
    assert np.array_equal(prices.orders[:, 0], _plain_orders(grid[1:2], True)[:, 0])
    assert np.array_equal(np.signbit(prices.grid), np.signbit(grid))


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


# ---------------------------------------------------------------- each day's kWh


def test_the_searchs_day_kwh_is_numpys_sum_of_the_days_grid_row() -> None:
    """The compiled search sums each day's kWh itself, from the half hours: curtailing half
    of it (every price positive, so every kWh may go) moves exactly half of what numpy's sum
    of the day's grid row (padding 0), floored at 0, gives."""
    rng = np.random.default_rng(4242)
    for case in range(80):
        index = _random_index(rng)
        layout = flexibility._layout(index)
        sites = int(rng.integers(1, 4))
        loads = rng.gamma(2.0, 3.0, (sites, len(index))) * rng.uniform(1e-3, 1e3, (sites, 1))
        loads[rng.random(loads.shape) < 0.1] *= -1.0  # some days' sums below 0
        loads[rng.random(loads.shape) < 0.1] = 0.0
        price = rng.uniform(0.5, 30.0, (1, len(index)))
        days = flexibility._plan(layout, np.ascontiguousarray(loads),
                                 flexibility._laid_out_prices(layout, price, False),
                                 np.zeros(sites, dtype=np.intp), np.full(sites, 1e9), None)
        moved, _ = flexibility._moves(days, np.full(sites, 0.5), False)
        grid = layout.grid(loads).reshape(-1, layout.width)
        want = 0.5 * np.maximum(grid.sum(axis=1), 0.0)
        assert np.array_equal(moved.ravel(), want), case


def test_the_compiled_search_refuses_indexes_outside_its_arrays() -> None:
    """`shift_days` runs without bounds checks: a day outside the half hours or the grid, a
    site priced by rows not given, a sort order naming a slot outside the grid, or arrays of
    disagreeing shapes are refused before anything is read or written."""
    from bess_duos.core.flex_days import shift_days

    def call(day_start=(0,), day_count=(48,), price_of_site=(0,), order_slot=0, share=1,
             red_rows=1) -> None:
        orders = np.tile(np.arange(50, dtype=np.intp), (2, 1, 1))
        orders[0, 0, 0] = order_slot
        shift_days(np.ones((1, 48)), np.array(day_start, np.intp), np.zeros(1, np.intp),
                   np.array(day_count, np.intp), np.ones((1, 50)),
                   np.array(price_of_site, np.intp), np.zeros(1, np.intp), orders,
                   np.full(1, 2.0), np.ones((red_rows, 48), np.uint8), np.full(share, 0.3),
                   True, 1e-11, np.zeros((1, 1)), np.zeros((1, 48)))

    call()  # consistent: accepted
    for bad, message in (({"day_start": (1,)}, "outside the half hours"),
                         ({"day_count": (51,)}, "outside the half hours"),
                         ({"price_of_site": (1,)}, "block of rows not given"),
                         ({"order_slot": 50}, "slot outside the grid"),
                         ({"order_slot": -1}, "slot outside the grid"),
                         ({"share": 2}, "shapes do not agree"),
                         ({"red_rows": 2}, "shapes do not agree")):
        with pytest.raises(ValueError, match=message):
            call(**bad)
