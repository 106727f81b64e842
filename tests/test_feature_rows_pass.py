"""The compiled passes of the load-shape features (`core/feature_rows.pyx`, through
`core.features._row_passes` and `percentile_rows`) against the numpy code they replaced,
on seeded random rows: NaN blanks, zeros, negative (export) half hours, constant rows, ties,
clock-change days, partial days and short spans. Sums, maxima and order statistics are
numpy's to the bit; the group sums and centred lag products (summed in another order) to
1e-12; NaN where numpy gives NaN. Then the passes' refusals of indexes outside the rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from bess_duos.core import feature_rows as K
from bess_duos.core import features as F


def numpy_passes(x: np.ndarray, clock: F.ClockFields, q: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(total, [rows, 54] group sums, [rows, 7] stats) as the replaced numpy code made them:
    sums over masks, `x.max`, `np.percentile`'s order statistics, centred dots."""
    n = x.shape[1]
    is_day = F._SLOT_IS_DAY[clock.slot]
    winter = np.isin(clock.month, F.WINTER_MONTHS)
    summer = np.isin(clock.month, F.SUMMER_MONTHS)
    masks = [~clock.weekend, clock.weekend, is_day, ~is_day, winter, summer]
    masks += [clock.slot == s for s in range(48)]
    sums = np.column_stack([x[:, m].sum(axis=1) for m in masks])
    total = x.sum(axis=1)
    lo, _ = F._rank(n, q)
    part = np.partition(x, (lo, min(lo + 1, n - 1)), axis=1)  # NaN sort last
    below, above = part[:, lo], part[:, min(lo + 1, n - 1)]
    nan_rows = np.isnan(x).any(axis=1)
    below[nan_rows] = above[nan_rows] = np.nan
    centred = x - (total / n)[:, None]
    lag = [(centred[:, :-k] * centred[:, k:]).sum(axis=1) if n >= 2 * k else np.zeros(len(x))
           for k in (48, 336)]
    stats = np.column_stack([x.max(axis=1), (x * x).sum(axis=1), below, above,
                             (centred * centred).sum(axis=1), *lag])
    return total, sums, stats


SPANS = [
    ("2025-04-01 00:00", 17_520, "UTC"),
    ("2024-01-01 00:00", 17_568, "Europe/London"),
    ("2025-03-29 13:30", 480, "UTC"),
    ("2025-10-20 07:00", 48 * 15, "UTC"),
    ("2023-06-15 23:30", 48 * 800, "UTC"),
    ("2025-06-02 05:00", 100, "UTC"),
    ("2025-06-02 00:00", 40, "UTC"),
]


def _rows(rng: np.random.Generator, n: int, sites: int) -> np.ndarray:
    t = np.arange(n)
    x = np.empty((sites, n))
    for i in range(sites):
        shape = 1.0 + 0.8 * np.sin(2 * np.pi * (t % 48) / 48 + rng.uniform(0, 6)) ** 2
        x[i] = shape * rng.lognormal(0.0, rng.uniform(0.05, 1.0), n) * rng.uniform(0.1, 1e4)
        x[i, rng.random(n) < rng.uniform(0, 0.3)] = 0.0
        if i % 5 == 1:
            x[i, rng.random(n) < 0.2] *= -1.0  # export half hours
        elif i % 5 == 2:
            x[i] = np.round(x[i] / x[i].max() * 4) + 0.5 * (rng.random(n) < 0.01)  # ties
        elif i % 5 == 3:
            x[i, rng.random(n) < 0.01] = np.nan  # blanks
    x[-1] = 2.5  # constant
    return x


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_row_passes_equal_the_numpy_code(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for start, n, zone in SPANS:
        index = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=n,
                              freq="30min").tz_convert(zone)
        clock = F.uk_clock(index)
        x = _rows(rng, n, 11)
        for q in (F.BASE_PERCENTILE, 0.0, 50.0, 97.5, 100.0):
            total, sums, stats = numpy_passes(x, clock, q)
            copy = np.empty_like(x)
            got_total, got_sums, got_stats = F._row_passes(list(x), n, clock.groups,
                                                           F._rank(n, q)[0], copy=copy)
            assert np.array_equal(copy, x, equal_nan=True)
            assert np.array_equal(got_total, total, equal_nan=True), (start, q)
            assert np.array_equal(F._row_totals(x), total, equal_nan=True), (start, q)
            exact = [F._PEAK, F._BELOW, F._ABOVE]
            assert np.array_equal(got_stats[:, exact], stats[:, exact], equal_nan=True), (start, q)
            close = [F._SQUARES, F._CENTRED, F._LAG_48, F._LAG_336]
            # to 1e-12 of the row's centred sum of squares (a lag's sum may cancel to ~0)
            scale = np.maximum(np.abs(stats[:, close]), stats[:, [F._CENTRED]])
            got, want = got_stats[:, close], stats[:, close]
            assert (np.isnan(got) == np.isnan(want)).all(), (start, q)
            ok = (got == want) | (np.abs(got - want) <= 1e-12 * scale)
            assert ok[~np.isnan(want)].all(), (start, q, got[~ok], want[~ok])
            np.testing.assert_allclose(got_sums, sums, rtol=1e-12, atol=0, equal_nan=True)
            assert np.array_equal(F.percentile_rows(x, q), np.percentile(x, q, axis=1),
                                  equal_nan=True), (start, q)


def test_order_statistics_of_hard_rows_are_numpys() -> None:
    """Sorted, reversed, all equal, mostly zeros, and a row whose sampled values mislead the
    bound (every sampled value low, the others high): numpy's percentile, exactly."""
    rng = np.random.default_rng(8)
    n = 17_520
    misled = rng.uniform(10, 20, n)
    misled[:: n // 1024] = -1.0
    rows = np.vstack([np.sort(rng.random(n)), np.sort(rng.random(n))[::-1], np.full(n, 3.0),
                      np.where(rng.random(n) < 0.9, 0.0, rng.random(n)), misled,
                      -rng.lognormal(0, 1, n)])
    for q in (0.0, 0.01, 5.0, 10.0, 49.9, 50.0, 50.1, 95.0, 99.99, 100.0):
        assert np.array_equal(F.percentile_rows(rows, q), np.percentile(rows, q, axis=1)), q


@pytest.mark.parametrize("rounds", [0, 1, 3])
def test_the_quickselect_sorts_what_is_left_after_its_rounds(rounds: int) -> None:
    """The bound on quickselect's rounds (no chosen input costs more than a sort): with 0, 1
    or 3 rounds allowed, what is left is sorted, and the order statistics are numpy's."""
    rng = np.random.default_rng(11)
    n = 5_000
    rows = np.vstack([rng.random(n), np.sort(rng.random(n)), np.repeat(rng.random(50), 100),
                      rng.integers(-3, 3, n).astype(float)])
    for k in (0, 1, 249, 2_500, n - 2, n - 1):
        out = np.empty((len(rows), 2))
        K.order_pairs(rows, k, out, rounds)
        part = np.partition(rows, (k, min(k + 1, n - 1)), axis=1)
        assert np.array_equal(out, part[:, [k, min(k + 1, n - 1)]]), k


def test_the_passes_refuse_indexes_outside_the_rows() -> None:
    clock = F.uk_clock(pd.date_range("2025-04-01", periods=48 * 10, freq="30min", tz="UTC"))
    g = clock.groups
    x = np.ones((2, 48 * 10))
    total, sums, stats = np.empty(2), np.empty((2, 54)), np.empty((2, 7))
    day = F._SLOT_IS_DAY_U8

    def run(blocks=g.blocks, kinds=g.day_kind, rest=g.rest, cells=g.rest_cell, k=5,
            out=sums, rows=(x[0], x[1]), copy=F._NO_COPY) -> None:
        K.feature_sums(list(rows), 48 * 10, copy, total, blocks, kinds, rest, cells, day, k,
                       True, out, stats)

    run()  # as given: fine
    with pytest.raises(ValueError, match="block 0 is outside"):
        run(blocks=np.array([[48 * 5, 6]], dtype=np.intp), kinds=np.zeros(6, np.int8))
    with pytest.raises(ValueError, match="one day kind is needed per day"):
        run(kinds=g.day_kind[:-1])
    with pytest.raises(ValueError, match="a day kind is outside"):
        run(kinds=np.full_like(g.day_kind, 6))
    with pytest.raises(ValueError, match="half hour or cell is outside"):
        run(rest=np.r_[g.rest, 48 * 10].astype(np.intp), cells=np.r_[g.rest_cell, 0]
            .astype(np.int16))
    with pytest.raises(ValueError, match="half hour or cell is outside"):
        run(rest=np.r_[g.rest, 0].astype(np.intp), cells=np.r_[g.rest_cell, 288]
            .astype(np.int16))
    with pytest.raises(ValueError, match="k must be a position"):
        run(k=48 * 10)
    with pytest.raises(ValueError, match="sums"):
        run(out=np.empty((1, 54)))
    with pytest.raises(ValueError, match="copy none or"):
        run(copy=np.empty((2, 48 * 10 - 1)))
    with pytest.raises(ValueError, match="row 1 has 479 values, not 480"):
        run(rows=(x[0], x[1, 1:]))
    with pytest.raises(ValueError, match="k must be a position"):
        K.order_pairs(x, -1, np.empty((2, 2)))
    with pytest.raises(ValueError, match="one output per row"):
        K.row_totals(x, np.empty(3))


def test_a_subset_of_features_has_the_bits_of_all() -> None:
    """`profile_features(only=...)` leaves out the percentile and lag passes when no chosen
    feature reads them; what it gives is what the full call gives."""
    rng = np.random.default_rng(12)
    index = pd.date_range("2025-04-01", periods=17_520, freq="30min", tz="UTC")
    profile = pd.Series(_rows(rng, len(index), 2)[0], index=index)  # not the constant row
    every = F.profile_features(profile)
    for only in (("peak_ratio", "load_factor", "weekend_factor"), ("base_load_ratio",),
                 ("autocorr_168h", "seasonal_ratio"), ("peak_time_h", "autocorr_24h")):
        some = F.profile_features(profile, only=only)
        assert some.values == {name: every.values[name] for name in only}, only
