"""Speed of band assignment + unit costing, vs a naive per-row pandas `apply`, side by side.

Run: .venv/bin/python benchmarks/bench_duos.py [--sites 1000] [--sample 20000]

Prints half hours per second for one site-year and for N site-years (N separate profiles laid
end to end, each with its own timestamps: nothing is shared between sites), for:
- `grid`: core.duos.unit_costs, which computes the UK clock calendar once per half hour of the
  span and gathers (the path every caller gets);
- `direct`: the same arithmetic per timestamp (DST offsets by np.searchsorted on the transition
  instants, integer slot arithmetic, fancy-indexed slot tables) with no grid;
- `full`: core.duos.charge_arrays, every charge (fixed, capacity, exceeded, reactive, summary);
- `naive apply`: DataFrame.apply over rows, tz_convert per row, run on a sample.
The ratio is fast / naive on half hours per second. numpy runs single-threaded here, so the
rates are per core. Targets (issue 4): 100x, and >= 20M half hours/s for band + costing.

Then (issue 18) min-of-N times for the office profile of one year (`generate_profile("office",
180_000, start="2025-04-01", seed=5)`, HV area 14, 300 kVA): `charge_arrays` (target <= 0.4 ms)
and `charge_many` of --batch sites across the 14 areas and 3 voltages, per site.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import timeit

import numpy as np
import pandas as pd
from bess_duos.core import bands
from bess_duos.core.duos import charge_arrays, charge_many, tariffs_for_site, unit_costs
from bess_duos.core.synthetic import generate_profile
from bess_duos.core.tariffs import DuosTariff, TariffQuery, resolve_tariff
from bess_duos.core.timebands import BANDS
from timing import best_ms


def _tariffs() -> dict[int, DuosTariff]:
    """HV, 300 kVA, NGED West Midlands (14): the 2025/26 and 2026/27 rows from the workbooks."""
    return {
        year: resolve_tariff(14, on=dt.date(year, 4, 1), voltage="HV", kva=300)
        for year in (2025, 2026)
    }


def _site_year() -> np.ndarray:
    """UTC ns of every half hour of calendar 2026 (spans the 1 April change of charging year)."""
    index = pd.date_range("2026-01-01", "2027-01-01", freq="30min", tz="UTC", inclusive="left")
    return index.as_unit("ns").asi8


def _direct(utc_ns: np.ndarray, kwh: np.ndarray, tariffs: dict[int, DuosTariff]) -> np.ndarray:
    clock = bands.uk_clock(utc_ns)
    years = np.unique(clock.charging_year)
    tables = np.stack([tariffs[int(y)].time_bands.slot_table() for y in years])
    rates = np.array([tariffs[int(y)].unit_rates_p_per_kwh for y in years])
    band = bands.band_index_from_clock(clock, tables, years)
    return kwh * rates[np.searchsorted(years, clock.charging_year), band] / 100.0


def _naive(frame: pd.DataFrame, tariffs: dict[int, DuosTariff]) -> pd.Series:
    """The seed-style way: one Python call per half hour."""
    tables = {year: t.time_bands.slot_table() for year, t in tariffs.items()}

    def row_cost(row: pd.Series) -> float:
        local = row["timestamp"].tz_convert("Europe/London")
        year = local.year if local.month >= 4 else local.year - 1
        day_type = 1 if local.weekday() >= 5 else 0
        slot = local.hour * 2 + local.minute // 30
        band = tables[year][local.month - 1, day_type, slot]
        rate = getattr(tariffs[year], f"{BANDS[band]}_rate")
        return row["kwh"] * rate / 100.0

    return frame.apply(row_cost, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=20_000, help="rows for the naive apply")
    parser.add_argument("--batch", type=int, default=100, help="sites for charge_many")
    args = parser.parse_args()
    _per_site_times(args.batch)
    tariffs = _tariffs()
    rng = np.random.default_rng(0)
    year_ns = _site_year()
    n_year = year_ns.size

    # Correctness first: the fast paths and the naive apply agree on a sample.
    sample = np.sort(rng.choice(n_year, size=min(args.sample, n_year), replace=False))
    sample_ns, sample_kwh = year_ns[sample], rng.gamma(2.0, 10.0, sample.size)
    frame = pd.DataFrame({"timestamp": pd.to_datetime(sample_ns, utc=True), "kwh": sample_kwh})
    start = time.perf_counter()
    naive_cost = _naive(frame, tariffs).to_numpy()
    naive_rate = sample.size / (time.perf_counter() - start)
    assert np.allclose(naive_cost, unit_costs(sample_ns, sample_kwh, tariffs)[2])
    assert np.allclose(naive_cost, _direct(sample_ns, sample_kwh, tariffs))
    print(f"naive apply        {sample.size:>11,} half hours  {naive_rate:>14,.0f} hh/s")

    one_kwh = rng.gamma(2.0, 10.0, n_year)
    many_ns = np.tile(year_ns, args.sites)  # each site its own copy of its timestamps
    many_kwh = rng.gamma(2.0, 10.0, many_ns.size)
    rows = [
        ("grid   1 site-year", n_year, lambda: unit_costs(year_ns, one_kwh, tariffs)),
        ("direct 1 site-year", n_year, lambda: _direct(year_ns, one_kwh, tariffs)),
        ("full   1 site-year", n_year, lambda: charge_arrays(year_ns, one_kwh, tariffs,
                                                             agreed_kva=300.0)),
        (f"grid   {args.sites} site-years", many_ns.size,
         lambda: unit_costs(many_ns, many_kwh, tariffs)),
        (f"direct {args.sites} site-years", many_ns.size,
         lambda: _direct(many_ns, many_kwh, tariffs)),
    ]  # fmt: skip
    for label, count, func in rows:
        seconds = best_ms(func, repeat=3 if count < 10**6 else 2) / 1e3
        rate = count / seconds
        print(
            f"{label:<24} {count:>11,} half hours  {rate:>14,.0f} hh/s  "
            f"{rate / naive_rate:>8,.0f}x naive apply"
        )


def _per_site_times(batch: int) -> None:
    """Min-of-N milliseconds per site for one year: charge_arrays, and charge_many per site."""
    profile = generate_profile("office", 180_000, start="2025-04-01", seed=5)
    index, kwh = profile.index, profile.to_numpy()
    tariffs = _tariffs()
    one = min(timeit.repeat(lambda: charge_arrays(index, kwh, tariffs, agreed_kva=300.0),
                            number=20, repeat=25)) / 20  # fmt: skip
    print(f"charge_arrays, one year        {one * 1e3:8.3f} ms   (target <= 0.4 ms)")
    lean = min(timeit.repeat(lambda: charge_arrays(index, kwh, tariffs, agreed_kva=300.0,
                                                   all_columns=False),
                             number=20, repeat=25)) / 20  # fmt: skip
    print(f"  all_columns=False (a lookup) {lean * 1e3:8.3f} ms")
    voltages = ("LV", "LV Sub", "HV")
    sites = [tariffs_for_site(TariffQuery(10 + i % 14, voltage=voltages[i % 3], kva=100.0 + i))
             for i in range(batch)]  # fmt: skip
    kva = [None if i % 5 == 0 else 100.0 + i for i in range(batch)]
    many = kwh[None, :] * np.random.default_rng(0).uniform(0.2, 3.0, (batch, 1))
    for label, lean in (("", False), (", all_columns=False", True)):
        seconds = min(timeit.repeat(
            lambda lean=lean: charge_many(index, many, sites, agreed_kva=kva,
                                          all_columns=not lean),
            number=1, repeat=9)) / batch  # fmt: skip
        print(f"charge_many, {batch} sites{label:<20} {seconds * 1e3:8.3f} ms per site")


if __name__ == "__main__":
    main()
