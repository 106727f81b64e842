"""Flexibility speed: plan and first value of one site-year, and many sites at once.

Run: .venv/bin/python benchmarks/bench_flexibility.py [--repeat 40] [--sites 100]

One site: `plan_flexibility` and the first `FlexibilityPlan.value(0.3)` of a synthetic office
year (`generate_profile("office", 180_000, start="2025-04-01", seed=5)`) at DUoS-like band
prices (red 25.3 p weekdays 16:00-19:00, amber 3.1 p weekdays 07:30-21:00, green 0.42 p),
min of N timings. Many sites: `plan_flexibility_many(...).value(0.3)` over N synthetic
site-years of all archetypes (three band tariffs), per site, beside a loop of single-site
plans and values of the same sites. Issue 18's three figures, at DUoS rates (`unit_costs` of
tariff 14 LV on the office year), beside their targets: a portfolio of N demo-like sites on
those rates, `plan_flexibility_many(...).value(0.3)` per site (target <= 0.4 ms), and the
same with each site on the LV rates of one of the 14 distributors (one row of rates per site,
as in a portfolio of many areas); a cold
lookup, `plan_flexibility(office year, its rates).value(0.3)` (target <= 0.5 ms); and a
lookup's plan valued again for a new share (`plan.value(0.2 + i / 1000)`, i = 0..40, the
calls after the first five; target <= 0.15 ms per call). BLAS is held to one thread, and
glibc's allocator is warmed (one large array freed) as in any long-running process, so that
fresh-page faults of a new process do not dominate the figures.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import timeit  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from bess_duos.core.duos import unit_costs  # noqa: E402
from bess_duos.core.flexibility import plan_flexibility, plan_flexibility_many  # noqa: E402
from bess_duos.core.synthetic import ARCHETYPES, generate_profile  # noqa: E402
from bess_duos.core.tariffs import resolve_tariff  # noqa: E402
from timing import best_ms, loadavg  # noqa: E402


def band_prices(index: pd.DatetimeIndex, red: float = 25.3, amber: float = 3.1,
                green: float = 0.42, red_from: int = 16) -> np.ndarray:
    local = index.tz_convert("Europe/London")
    hour = local.hour + local.minute / 60
    weekday = local.day_of_week < 5
    is_red = weekday & (hour >= red_from) & (hour < red_from + 3)
    return np.where(is_red, red, np.where(weekday & (hour >= 7.5) & (hour < 21), amber, green))


def one_site(repeat: int) -> str:
    series = generate_profile("office", 180_000, start="2025-04-01", seed=5)
    prices = pd.Series(band_prices(series.index), index=series.index)
    plan_ms = best_ms(lambda: plan_flexibility(series, prices, published_rates=True), repeat)
    plans = iter([plan_flexibility(series, prices, published_rates=True) for _ in range(repeat)])
    value_ms = best_ms(lambda: next(plans).value(0.3), repeat)
    return (f"one site-year (office, band prices): plan_flexibility {plan_ms:.3f} ms, "
            f"first value(0.3) {value_ms:.3f} ms")


def demo_loads(n_sites: int) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """N synthetic site-years of all archetypes, scaled and jittered (seeded)."""
    bases = [generate_profile(name, 1.0, start="2025-04-01", seed=i)
             for i, name in enumerate(ARCHETYPES)]
    rng = np.random.default_rng(0)
    loads = np.vstack([b.to_numpy() for b in bases])[rng.integers(0, len(bases), n_sites)]
    loads *= rng.lognormal(0.0, 0.05, loads.shape) * rng.uniform(3.0, 300.0, (n_sites, 1))
    return bases[0].index, loads


def targets(n_sites: int, repeat: int) -> str:
    """Issue 18's three flexibility figures at DUoS rates (tariff 14, LV) beside their
    targets."""
    series = generate_profile("office", 180_000, start="2025-04-01", seed=5)
    rates = unit_costs(series.index, series.to_numpy(), resolve_tariff(14, voltage="LV"))[1]
    index, loads = demo_loads(n_sites)
    many_ms = best_ms(lambda: plan_flexibility_many(loads, rates, index, published_rates=True)
                      .value(0.3), repeat) / n_sites
    areas = np.vstack([unit_costs(series.index, series.to_numpy(),
                                  resolve_tariff(area, voltage="LV"))[1] for area in range(10, 24)])
    per_site = areas[np.arange(n_sites) % len(areas)]
    areas_ms = best_ms(lambda: plan_flexibility_many(loads, per_site, index,
                                                     published_rates=True).value(0.3),
                       repeat) / n_sites
    cold_ms = best_ms(lambda: plan_flexibility(series, rates, published_rates=True).value(0.3),
                      repeat * 8)
    again = []
    for _ in range(repeat):
        plan = plan_flexibility(series, rates, published_rates=True)
        for i in range(41):
            start = timeit.default_timer()
            plan.value(0.2 + i / 1000)
            if i >= 5:
                again.append(timeit.default_timer() - start)
    again_ms = min(again) * 1000
    median_ms = float(np.median(again)) * 1000
    return (f"portfolio at DUoS rates (tariff 14 LV, {n_sites} sites): {many_ms:.3f} ms per "
            f"site (target <= 0.4)\nportfolio at the LV rates of 14 distributors (a row per "
            f"site): {areas_ms:.3f} ms per site\ncold lookup, plan + value(0.3) of the office "
            f"year: {cold_ms:.3f} ms (target <= 0.5)\nplan valued again for a new share: "
            f"{again_ms:.3f} ms per call, min (median {median_ms:.3f}; target <= 0.15)")


def many_sites(n_sites: int, repeat: int) -> str:
    index, loads = demo_loads(n_sites)
    tariffs = [band_prices(index), band_prices(index, 9.8, 1.7, 0.2, 17),
               band_prices(index, 14.2, 2.2, 0.15)]
    prices = np.vstack([tariffs[i % 3] for i in range(n_sites)])
    many_ms = best_ms(lambda: plan_flexibility_many(loads, prices, index, published_rates=True)
                      .value(0.3), repeat)
    series = [pd.Series(loads[i], index=index) for i in range(n_sites)]
    single_ms = best_ms(lambda: [plan_flexibility(series[i], prices[i], published_rates=True)
                                 .value(0.3) for i in range(n_sites)], repeat)
    return (f"{n_sites} site-years (all archetypes, 3 band tariffs): plan_flexibility_many + "
            f"value {many_ms / n_sites:.3f} ms per site; single-site plan + value "
            f"{single_ms / n_sites:.3f} ms per site")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--sites", type=int, default=100)
    args = parser.parse_args()
    warm = np.ones(4_000_000)  # 32 MB freed: glibc then keeps freed memory for reuse
    del warm
    print(one_site(args.repeat))
    print(many_sites(args.sites, max(3, args.repeat // 8)))
    print(targets(args.sites, max(3, args.repeat // 8)))
    print(f"/proc/loadavg {loadavg()} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
