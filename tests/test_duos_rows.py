"""DUoS charging's per-half-hour passes (`core/duos_rows.pyx`, compiled) give, to the bit, the
arrays of the numpy code they replaced (np.maximum, x rate, / 100, x 2 / power factor, min < 0)
and the sums and maxima numpy took (np.take in band order, then .sum of each band's slice; the
row's .sum; np.maximum.reduceat by month; argmax) from each site's own kWh row; and
sites whose tariffs share time bands and rates (their arrays made once per batch) are each
charged in a batch exactly as alone, with their own tariffs and notes."""

from __future__ import annotations

import dataclasses
import datetime

import numpy as np
import pandas as pd
import pytest
from bess_duos.core import duos
from bess_duos.core.duos import charge_arrays, charge_many, tariffs_for_site
from bess_duos.core.duos_rows import import_demand, import_units
from bess_duos.core.tariffs import TariffQuery, _renoted, resolve_remembered


def _bits(values: np.ndarray) -> np.ndarray:
    return values.view(np.int64)  # -0.0 and +0.0 differ, NaNs compare equal to themselves


def _odd_kwh(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Normal kWh with -0.0, 0.0, +-inf, NaN and subnormal products among them."""
    kwh = rng.normal(0.0, 10.0, shape) * 10.0 ** rng.integers(-3, 4, shape)
    odd = rng.random(kwh.shape)
    kwh[odd < 0.05] = -0.0
    kwh[(odd > 0.05) & (odd < 0.08)] = 0.0
    kwh[(odd > 0.08) & (odd < 0.09)] = np.inf
    kwh[(odd > 0.09) & (odd < 0.10)] = -np.inf
    kwh[(odd > 0.10) & (odd < 0.11)] = np.nan
    kwh[(odd > 0.11) & (odd < 0.15)] *= 1e-300  # subnormal products
    return kwh


def _band_sums(values: np.ndarray, order: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The numpy code the compiled sums replaced: the values in band order, each band's slice
    summed."""
    ordered = np.take(values, order, axis=1)
    with np.errstate(invalid="ignore"):  # inf - inf
        return np.stack([ordered[:, starts[b]:starts[b + 1]].sum(axis=1)
                         for b in range(starts.size - 1)], axis=1)


def _units(kwh: np.ndarray, sources: np.ndarray, sites: np.ndarray, rate: np.ndarray,
           order: np.ndarray, starts: np.ndarray, active: np.ndarray | None = None,
           fill: float = 7.0) -> list[np.ndarray]:
    """`import_units` into arrays filled with `fill`: [active (if not None), unit, kWh by band,
    £ by band, unit total, exports]."""
    rows, size = kwh.shape[0], kwh.shape[1]
    out = [np.full((rows, size), fill), np.full((rows, 3), fill), np.full((rows, 3), fill),
           np.full(rows, fill), np.full(rows, 7, dtype=np.uint8)]
    import_units(kwh, sources, sites, rate, order, starts,
                 np.empty((0, size)) if active is None else active, *out)
    return out if active is None else [active, *out]


@pytest.mark.parametrize("seed", range(12))
def test_import_units_is_the_numpy_passes_it_replaced(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sites = int(rng.integers(1, 9))
    size = int(rng.choice([rng.integers(1, 40), rng.integers(40, 400), rng.integers(400, 20000)]))
    kwh = _odd_kwh(rng, (sites, size))
    if seed % 3 == 0:  # finite (a portfolio's): sums without NaN
        kwh[~np.isfinite(kwh)] = 1.5
    elif seed % 3 == 1:  # infinite but no NaN (the callers refuse NaN kWh)
        kwh[np.isnan(kwh)] = np.inf
    rate = rng.uniform(0.0, 60.0, size)
    rate[rng.random(size) < 0.1] = 0.0  # inf x 0 is NaN
    rate[rng.random(size) < 0.05] *= -1.0  # negative rates: -0.0 and negative unit £
    bands = rng.integers(0, 3, size)
    bands[: size // 3] = 0 if seed % 2 else bands[: size // 3]  # long runs of one band
    if seed % 4 == 1:
        bands[bands == 1] = 2  # an empty band
    order = np.argsort(bands, kind="stable")
    starts = np.searchsorted(bands[order], np.arange(4)).astype(np.intp)
    members = np.sort(rng.choice(sites, int(rng.integers(1, sites + 1)), replace=False))
    sources = rng.permutation(sites)[:members.size].astype(np.intp)  # each site's kWh row
    got = _units(kwh, sources, members, rate, order, starts, np.full((sites, size), 7.0))

    finite = np.where(np.isnan(kwh), 0.0, kwh)  # the callers refuse NaN kWh before
    np.testing.assert_array_equal(got[-1][members], finite[sources].min(axis=1) < 0)
    active = np.maximum(kwh[sources], 0.0)
    with np.errstate(invalid="ignore"):  # inf x 0
        unit = active * rate
        unit /= 100.0
        total = unit.sum(axis=1)
    want = (active, unit, _band_sums(active, order, starts), _band_sums(unit, order, starts),
            total)
    others = np.setdiff1d(np.arange(sites), members)
    for i, (values, expected) in enumerate(zip(got[:-1], want, strict=True)):
        if i >= 2 and np.isnan(kwh).any():
            # A NaN kWh meeting a NaN made of inf x 0 in a sum: which of the two NaNs (their
            # sign bits differ) a sum keeps is the C compiler's choice of operand order.
            np.testing.assert_array_equal(values[members], expected)
        else:
            np.testing.assert_array_equal(_bits(values[members]), _bits(expected))
        assert (values[others] == 7.0).all()  # rows of other sites untouched
    again = _units(kwh, sources, members, rate, order, starts)  # no active in row order
    for values, first in zip(again, got[1:], strict=True):
        np.testing.assert_array_equal(values[members].view(np.uint8), first[members].view(np.uint8))


@pytest.mark.parametrize("seed", range(8))
def test_import_demand_is_the_numpy_it_replaced(seed: int) -> None:
    """kVA = max(kWh, 0) x 2 / power factor, its maxima by month (`np.maximum.reduceat` over
    the months' rows) and its first peak (`argmax`), for kWh without NaN (+-inf, -0.0, ties
    and all-zero months included), months in any order."""
    rng = np.random.default_rng(seed)
    sites = int(rng.integers(1, 9))
    size = int(rng.choice([rng.integers(1, 40), rng.integers(40, 20000)]))
    kwh = _odd_kwh(rng, (sites, size))
    kwh[np.isnan(kwh)] = -np.inf
    kwh[:, rng.random(size) < 0.3] = rng.choice([0.0, 4.0, -1.0])  # ties and flat stretches
    months = int(rng.integers(1, 14))
    month = np.sort(rng.integers(0, months, size)) if seed % 2 else rng.integers(0, months, size)
    month[:months] = np.arange(min(months, size))  # (almost) every month has half hours
    months = int(month.max()) + 1
    members = np.sort(rng.choice(sites, int(rng.integers(1, sites + 1)), replace=False))
    sources = rng.permutation(sites)[:members.size].astype(np.intp)
    power_factor = rng.uniform(0.05, 1.0, sites)
    power_factor[0] = 1.0
    kva, month_max = np.full((sites, size), 7.0), np.full((sites, months), 7.0)
    peak = np.full(sites, 7, dtype=np.intp)
    import_demand(kwh, sources, members, power_factor, month.astype(np.intp), kva, month_max,
                  peak)

    want = np.maximum(kwh[sources], 0.0) * 2.0
    want /= power_factor[members][:, None]
    np.testing.assert_array_equal(_bits(kva[members]), _bits(want))
    order = np.argsort(month, kind="stable")
    starts = np.flatnonzero(np.diff(month[order], prepend=-1))
    np.testing.assert_array_equal(_bits(month_max[members]), _bits(
        np.maximum.reduceat(np.take(want, order, axis=1), starts, axis=1)))
    np.testing.assert_array_equal(peak[members], want.argmax(axis=1))
    others = np.setdiff1d(np.arange(sites), members)
    assert (kva[others] == 7.0).all() and (month_max[others] == 7.0).all()
    assert (peak[others] == 7).all()
    again_max, again_peak = np.full((sites, months), 7.0), np.full(sites, 7, dtype=np.intp)
    import_demand(kwh, sources, members, power_factor, month.astype(np.intp),
                  np.empty((0, size)), again_max, again_peak)  # the kVA not kept
    np.testing.assert_array_equal(_bits(again_max), _bits(month_max))
    np.testing.assert_array_equal(again_peak, peak)


def test_band_sums_are_numpys_at_every_length() -> None:
    """Each length to past two of numpy's 128-value blocks, and year-long ones, in one band
    and split over three (numpy's pairwise sum: 8 accumulators, then halves), and the row's
    total."""
    rng = np.random.default_rng(7)
    one = np.zeros(1, np.intp)
    for size in [*range(1, 300), 8191, 8192, 8193, 17520, 17568, 35040]:
        kwh = rng.gamma(0.5, 3.0, (1, size)) * 10.0 ** rng.integers(-6, 6, (1, size))
        rate = rng.uniform(0.0, 40.0, size)
        for bands in (np.zeros(size, np.int64), rng.integers(0, 3, size)):
            order = np.argsort(bands, kind="stable")
            starts = np.searchsorted(bands[order], np.arange(4)).astype(np.intp)
            row, unit, by_kwh, by_gbp, total, _ = _units(kwh, one, one, rate, order, starts,
                                                         np.empty((1, size)))
            np.testing.assert_array_equal(_bits(by_kwh), _bits(_band_sums(row, order, starts)))
            np.testing.assert_array_equal(_bits(by_gbp), _bits(_band_sums(unit, order, starts)))
            np.testing.assert_array_equal(_bits(total), _bits(unit.sum(axis=1)))


def test_import_units_refuses_mismatched_lengths() -> None:
    one = np.zeros(1, np.intp)
    for rate, sources, match in ((np.zeros(3), one, "one value per half hour"),
                                 (np.zeros(4), np.zeros(2, np.intp), "one kWh row per site")):
        with pytest.raises(ValueError, match=match):
            _units(np.zeros((1, 4)), sources, one, rate, np.arange(4), np.array([0, 4, 4, 4]))


def test_compiled_passes_refuse_rows_and_orders_outside_their_arrays() -> None:
    """The passes run without bounds checks: a site, source row, half hour in the order, band
    start, month or an output shape outside the arrays is refused before anything is read or
    written."""
    def units(sources=(0,), sites=(0,), order=(0, 1, 2, 3), starts=(0, 1, 3, 4), rows=1,
              exports=1, bands=3, total=1) -> None:
        import_units(np.zeros((1, 4)), np.array(sources, np.intp), np.array(sites, np.intp),
                     np.zeros(4), np.array(order, np.intp), np.array(starts, np.intp),
                     np.zeros((rows, 4)), np.zeros((rows, 4)), np.zeros((rows, bands)),
                     np.zeros((rows, bands)), np.zeros(total), np.zeros(exports, np.uint8))

    def demand(sources=(0,), sites=(0,), month=(0, 0, 1, 1), kva=1, months=2, peak=1) -> None:
        import_demand(np.zeros((1, 4)), np.array(sources, np.intp), np.array(sites, np.intp),
                      np.ones(1), np.array(month, np.intp), np.zeros((kva, 4)),
                      np.zeros((1, months)), np.zeros(peak, np.intp))

    units()  # consistent: accepted
    demand()
    demand(kva=0)
    for call in (units, demand):
        for bad in ({"sources": (1,)}, {"sources": (-1,)}, {"sites": (1,)}, {"sites": (-1,)}):
            with pytest.raises(ValueError, match="outside the arrays"):
                call(**bad)
    for order in ((0, 1, 2, 4), (-1, 1, 2, 3)):
        with pytest.raises(ValueError, match="order names a half hour outside"):
            units(order=order)
    for starts in ((0, 3, 1, 4), (-1, 1, 3, 4), (0, 1, 3, 5)):
        with pytest.raises(ValueError, match="band starts are not rising"):
            units(starts=starts)
    for bad in ({"exports": 2}, {"bands": 2}, {"starts": ()}, {"total": 2}):
        with pytest.raises(ValueError, match="shapes do not agree"):
            units(**bad)
    for month in ((0, 0, 1, 2), (0, -1, 1, 1)):
        with pytest.raises(ValueError, match="month is outside the months"):
            demand(month=month)
    for bad in ({"kva": 2}, {"peak": 2}, {"month": (0, 0, 1)}):
        with pytest.raises(ValueError, match="shapes do not agree"):
            demand(**bad)


@pytest.mark.parametrize("seed", range(4))
def test_sites_sharing_tables_are_each_charged_as_alone(seed: int, monkeypatch) -> None:
    """Per-site tariffs of one voltage differing only by kVA (the portfolio's: each its own
    object and selection note, the same rates and bands) and a renamed copy of one, across
    1 April (two charging years), in a batch and alone."""
    rng = np.random.default_rng(seed)
    monkeypatch.setattr(duos, "_CHUNK_SITES", int(rng.integers(2, 9)))
    index = pd.date_range("2026-03-25", periods=48 * 14, freq="30min", tz="UTC")
    sites = 20
    queries = [TariffQuery(int(rng.choice([10, 14, 23])), voltage=str(rng.choice(["LV", "HV"])),
                           kva=float(rng.integers(20, 3000)), on=datetime.date(2026, 4, 1))
               for _ in range(sites)]
    tariffs = [lambda year, q=q: resolve_remembered(q.for_year(int(year))) for q in queries]
    renamed = resolve_remembered(queries[0].for_year(2025))
    tariffs[1] = {2025: _renoted(renamed, tariff_name="Renamed", selection_note="moved"),
                  2026: resolve_remembered(queries[0].for_year(2026))}
    kwh = rng.gamma(2.0, 20.0, (sites, index.size))
    kwh[rng.random(kwh.shape) < 0.03] *= -0.5
    kva = [q.kva if i % 3 else None for i, q in enumerate(queries)]
    for all_columns in (False, True):
        got = charge_many(index, kwh, tariffs, agreed_kva=kva, all_columns=all_columns)
        for site, (columns, summary) in enumerate(got):
            want_columns, want_summary = charge_arrays(
                index, kwh[site], tariffs[site], agreed_kva=kva[site], all_columns=all_columns)
            assert summary == want_summary, site
            for name, column in want_columns.items():
                np.testing.assert_array_equal(columns[name], column, err_msg=name, strict=True)
    assert got[1][1].tariffs[0].startswith("Renamed") and "moved" in got[1][1].notes


@pytest.mark.parametrize("seed", range(3))
def test_finite_kwh_skip_only_the_nan_check(seed: int) -> None:
    """`charge_many(finite=True)` (the kWh checked by the caller) charges as without it."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-01-01", periods=48 * 40, freq="30min", tz="UTC")
    kwh = rng.normal(5.0, 10.0, (9, index.size))
    tariffs = [tariffs_for_site(TariffQuery(14, voltage=v, kva=300.0))
               for v in ("LV", "HV", "LV")] * 3
    want = charge_many(index, kwh, tariffs, agreed_kva=300.0, all_columns=False)
    got = charge_many(index, kwh, tariffs, agreed_kva=300.0, all_columns=False, finite=True)
    assert [s for _, s in got] == [s for _, s in want]
    kwh[4, 7] = np.nan
    with pytest.raises(duos.DuosError, match="site 4: 1 kWh values are missing"):
        charge_many(index, kwh, tariffs, all_columns=False)


def test_summaries_are_what_the_dataclass_makes() -> None:
    """The summaries are built without `DuosSummary.__init__`: each is the object the
    constructor makes from its fields (every field set, the same values, equal and hashing
    alike as far as the dataclass does)."""
    index = pd.date_range("2026-03-20", periods=48 * 20, freq="30min", tz="UTC")
    kwh = np.random.default_rng(3).gamma(2.0, 10.0, (3, index.size))
    tariffs = [tariffs_for_site(TariffQuery(14, voltage="LV", kva=kva)) for kva in (60, 900, 5)]
    for _, summary in charge_many(index, kwh, tariffs, agreed_kva=[60.0, None, 5.0],
                                  all_columns=False):
        made = duos.DuosSummary(**{f.name: getattr(summary, f.name)
                                   for f in dataclasses.fields(duos.DuosSummary)})
        assert summary == made and vars(summary) == vars(made)
        assert list(vars(summary)) == list(vars(made))  # the fields in their order
        assert summary.to_dict() == made.to_dict() and repr(summary) == repr(made)
